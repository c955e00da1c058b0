//! bench-gpu's `burn` section: the optimizer step of a GPT-2-small-shaped burn model (148
//! tensors, 124M parameters; `--quick` the same tensors at width 64), burn's AdamW against
//! wgopt's AdamW and Muon + AdamW on the same adapter in the same run, plus wgopt's GPU copies
//! between burn's buffers and its arenas timed alone. Gradients are fixed random tensors (no
//! forward or backward: the step is what is measured); every step is followed by a device
//! sync, and the median of `--repeats` steps is reported.
//!
//! `cargo run --release -p wgopt-burn --example bench_burn -- [--quick] [--out FILE.md]`
//! (`cargo xtask bench-gpu --sections burn` runs it and appends its table to the report).

#[path = "gpt_burn/model.rs"]
#[allow(dead_code)]
mod model;

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use clap::Parser;
use model::{Gpt, GptShape};
use std::time::Instant;
use wgopt_burn::{SharedDevice, WgoptConfig};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Also write the table here (markdown).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// Random gradients for every parameter, kept to be handed over again each step.
struct Grads {
    template: GradientsParams,
    device: Device,
}

impl ModuleVisitor for Grads {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let g = Tensor::<D>::random(
            p.lazy_shape(),
            Distribution::Normal(0.0, 1e-2),
            &self.device,
        );
        self.template.register(p.id, g);
    }
}

/// A fresh `GradientsParams` holding the template's tensors (handles, not copies).
struct Fresh<'a>(&'a GradientsParams, GradientsParams);

impl ModuleVisitor for Fresh<'_> {
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if let Some(g) = self.0.get::<D>(p.id) {
            self.1.register(p.id, g);
        }
    }
}

fn grads_for(model: &Gpt, template: &GradientsParams) -> GradientsParams {
    let mut f = Fresh(template, GradientsParams::new());
    model.visit(&mut f);
    f.1
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of one step of `step` (after two warm-up steps).
fn time_steps(
    repeats: usize,
    device: &Device,
    mut step: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let mut times = Vec::with_capacity(repeats);
    for i in 0..repeats + 2 {
        let t = Instant::now();
        step()?;
        device.sync()?;
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(median(times))
}

/// Median seconds of a GPU copy of `bytes` (one submit, waited for).
fn copy_alone(shared: &SharedDevice, bytes: u64, repeats: usize) -> Result<f64> {
    let engine = shared.engine();
    let usage = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let half = (bytes / 2).max(4) / 4 * 4;
    let (a, b) = (
        engine.create_buffer("bench src", half, usage),
        engine.create_buffer("bench dst", half, usage),
    );
    let mut times = Vec::new();
    for i in 0..repeats + 2 {
        let t = Instant::now();
        // Two copies of half the bytes each way: the step's copies in and out.
        let mut enc = engine.device().create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&a, 0, &b, 0, half);
        enc.copy_buffer_to_buffer(&b, 0, &a, 0, half);
        engine.queue().submit([enc.finish()]);
        engine.wait()?;
        if i >= 2 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    Ok(median(times))
}

/// GPT-2 small's shapes, or the same 148 tensors at width 64 for --quick.
fn shape(quick: bool) -> GptShape {
    match quick {
        true => GptShape {
            vocab: 1024,
            context: 128,
            layers: 12,
            heads: 4,
            width: 64,
        },
        false => GptShape {
            vocab: 50257,
            context: 1024,
            layers: 12,
            heads: 12,
            width: 768,
        },
    }
}

/// One row: name, seconds per step, GPU bytes copied per step, seconds of those copies alone.
type Row = (String, f64, u64, f64);

/// burn's AdamW, then wgopt's AdamW and Muon + AdamW, on clones of `model`.
fn measure(
    shared: &SharedDevice,
    model: &Gpt,
    grads: &GradientsParams,
    repeats: usize,
) -> Result<Vec<Row>> {
    let device = shared.autodiff_device();
    let mut burn_opt = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init();
    let mut m = Some(model.clone());
    let burn_s = time_steps(repeats, &device, || {
        let model = m.take().expect("model");
        let g = grads_for(&model, grads);
        m = Some(burn_opt.step(1e-4, model, g));
        Ok(())
    })?;
    let mut rows = vec![("burn AdamW".to_string(), burn_s, 0u64, 0.0)];
    for name in ["adamw", "muon+adamw"] {
        let mut opt = WgoptConfig::new(name).init(shared)?;
        let mut m = Some(model.clone());
        let s = time_steps(repeats, &device, || {
            let model = m.take().expect("model");
            let g = grads_for(&model, grads);
            m = Some(opt.step(opt.base_lr(), model, g).map_err(|r| r.error)?);
            Ok(())
        })?;
        let bytes = opt.last_copies().total();
        let copy = copy_alone(shared, bytes, repeats)?;
        rows.push((format!("wgopt {name}"), s, bytes, copy));
    }
    Ok(rows)
}

/// The section's markdown.
fn render(rows: &[Row], (tensors, params): (usize, usize), args: &Args, adapter: &str) -> String {
    let mut md = format!(
        "\n## burn: the optimizer step of a burn model ({tensors} tensors, {params} parameters{})\n\n\
         Adapter: {adapter}. Median of {} steps, each followed by a device sync. \
         `cargo run --release -p wgopt-burn --example bench_burn --{}`\n\n\
         | optimizer | ms/step | ÷ burn AdamW | GPU bytes copied per step | those copies alone, ms | share of the step |\n|---|---|---|---|---|---|\n",
        if args.quick { ", --quick shapes" } else { ", GPT-2 small" },
        args.repeats,
        if args.quick { " --quick" } else { "" },
    );
    let burn_s = rows[0].1;
    for (name, s, bytes, copy) in rows {
        let (copy, share) = match *bytes > 0 {
            true => (
                format!("{:.2}", 1e3 * copy),
                format!("{:.0} %", 100.0 * copy / s),
            ),
            false => ("—".into(), "—".into()),
        };
        md += &format!(
            "| {name} | {:.2} | {:.2} | {bytes} | {copy} | {share} |\n",
            1e3 * s,
            s / burn_s
        );
    }
    md
}

fn main() -> Result<()> {
    let args = Args::parse();
    let shared = SharedDevice::init()?;
    let model = Gpt::new(&shape(args.quick), &shared.autodiff_device());
    let mut g = Grads {
        template: GradientsParams::new(),
        device: shared.device().clone(),
    };
    model.visit(&mut g);
    let counts = (g.template.len(), model.num_params());
    let adapter = shared.engine().adapter().to_string();
    println!(
        "burn step bench on {adapter}: {} tensors, {} parameters",
        counts.0, counts.1
    );
    let rows = measure(&shared, &model, &g.template, args.repeats)?;
    let md = render(&rows, counts, &args, &adapter);
    println!("{md}");
    if let Some(path) = &args.out {
        std::fs::write(path, &md)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
