//! The `wgopt` binary: `info` lists adapters, features and limits; `replay` runs an optimizer
//! over a recorded sequence of gradients (e.g. dumped from a PyTorch run) and writes the
//! parameters after every step or the last; `ot` solves an entropic optimal transport problem
//! from a file (see `ot.rs`). The file formats are documented in the README.

mod ot;
mod solve;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt::optim::registry;
use wgopt::reference::optim::{Hparams, MultiOptimizer};
use wgopt::{Engine, GuardConfig, ParamSet, ParamSpec, Schedule};

#[derive(Parser)]
#[command(
    name = "wgopt",
    version,
    about = "Fused, verified optimizer updates on any GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Adapters wgpu can see, and what wgopt would pick, with features and limits.
    Info,
    /// Replays gradients from a safetensors file through an optimizer.
    Replay(ReplayArgs),
    /// Entropic optimal transport (log-domain Sinkhorn) from a safetensors file.
    Ot(ot::OtArgs),
    /// A least-squares problem or linear system from a safetensors file (`A`, `b`).
    Solve(solve::SolveArgs),
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Input: tensors `param.<name>` (initial values) and `grad.<step>.<name>` (step from 0).
    input: PathBuf,
    /// Optimizer name (sgd, adam, adamw, lion).
    #[arg(long, default_value = "adamw")]
    optimizer: String,
    /// Hyperparameter as key=value (PyTorch names; beta1/beta2 for betas). Repeatable.
    #[arg(long = "hp", value_name = "KEY=VALUE")]
    hparams: Vec<String>,
    /// Learning-rate schedule, e.g. `warmup:10+cosine:90:0.1` (default constant).
    #[arg(long, default_value = "constant")]
    schedule: String,
    /// Clip the global gradient norm to this value.
    #[arg(long)]
    max_grad_norm: Option<f32>,
    /// Write `step.<k>.<name>` after every step instead of only `param.<name>` at the end.
    #[arg(long)]
    every_step: bool,
    /// Run the CPU reference instead of the GPU (to compare the two).
    #[arg(long)]
    reference: bool,
    /// Output safetensors file.
    #[arg(long, short)]
    output: PathBuf,
}

fn main() -> Result<()> {
    env_logger::init();
    match Cli::parse().command {
        Command::Info => info(),
        Command::Replay(a) => replay(a),
        Command::Ot(a) => ot::run(a),
        Command::Solve(a) => solve::run(a),
    }
}

fn info() -> Result<()> {
    let adapters = wgopt::scheduler::list_adapters(wgopt::scheduler::wgpu::Backends::all());
    if adapters.is_empty() {
        println!(
            "no adapters found. {}",
            wgopt::scheduler::engine::SETUP_HINT
        );
    }
    for (summary, features, limits) in &adapters {
        println!("adapter: {summary}");
        println!("  software: {}", summary.is_software);
        let wanted = *features & wgopt::scheduler::engine::WANTED_FEATURES;
        println!("  features wgopt uses: {wanted:?}");
        println!(
            "  max_storage_buffer_binding_size: {}",
            limits.max_storage_buffer_binding_size
        );
        println!("  max_buffer_size: {}", limits.max_buffer_size);
        println!(
            "  max_compute_workgroups_per_dimension: {}",
            limits.max_compute_workgroups_per_dimension
        );
        println!(
            "  max_compute_workgroup_storage_size: {}",
            limits.max_compute_workgroup_storage_size
        );
        println!(
            "  max_compute_invocations_per_workgroup: {}",
            limits.max_compute_invocations_per_workgroup
        );
    }
    match Engine::new() {
        Ok(e) => println!(
            "wgopt picks: {} (arena chunk {} bytes)",
            e.adapter(),
            e.chunk_bytes()
        ),
        Err(e) => println!("wgopt cannot open a device: {e}"),
    }
    Ok(())
}

pub(crate) fn to_f32(view: &TensorView<'_>, name: &str) -> Result<Vec<f32>> {
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => bytemuck::pod_collect_to_vec(d),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => bail!("{name}: dtype {other:?} is not supported (F32, F16, BF16)"),
    })
}

/// Parameters (name, shape, values) and per-step gradients read from a replay file.
struct Recording {
    params: Vec<(String, Vec<usize>, Vec<f32>)>,
    grads: Vec<Vec<Vec<f32>>>,
}

fn read_recording(bytes: &[u8]) -> Result<Recording> {
    let file = SafeTensors::deserialize(bytes).context("input is not a safetensors file")?;
    let mut names: Vec<&str> = file.names();
    names.sort();
    let mut params = Vec::new();
    for n in names.iter().filter_map(|n| n.strip_prefix("param.")) {
        let v = file.tensor(&format!("param.{n}"))?;
        params.push((n.to_string(), v.shape().to_vec(), to_f32(&v, n)?));
    }
    if params.is_empty() {
        bail!("no `param.<name>` tensors in the input");
    }
    let mut steps: HashMap<usize, HashMap<String, Vec<f32>>> = HashMap::new();
    for full in names.iter().filter(|n| n.starts_with("grad.")) {
        let rest = &full["grad.".len()..];
        let (k, n) = rest
            .split_once('.')
            .with_context(|| format!("{full}: expected grad.<step>.<name>"))?;
        let k: usize = k
            .parse()
            .with_context(|| format!("{full}: step is not a number"))?;
        let v = file.tensor(full)?;
        steps
            .entry(k)
            .or_default()
            .insert(n.to_string(), to_f32(&v, full)?);
    }
    let mut grads = Vec::new();
    for k in 0..steps.len() {
        let mut step = steps
            .remove(&k)
            .with_context(|| format!("gradients for step {k} are missing"))?;
        let mut g = Vec::new();
        for (n, shape, _) in &params {
            let v = step
                .remove(n)
                .with_context(|| format!("grad.{k}.{n} is missing"))?;
            if v.len() != shape.iter().product::<usize>() {
                bail!(
                    "grad.{k}.{n} has {} elements, param.{n} has shape {shape:?}",
                    v.len()
                );
            }
            g.push(v);
        }
        if let Some(extra) = step.keys().next() {
            bail!("grad.{k}.{extra} has no matching param.{extra}");
        }
        grads.push(g);
    }
    Ok(Recording { params, grads })
}

fn hparams_of(name: &str, kv: &[(&str, &str)]) -> Result<Hparams> {
    Ok(registry::hparams(name, kv)?)
}

fn replay(a: ReplayArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    let rec = read_recording(&bytes)?;
    let kv: Vec<(&str, &str)> = a
        .hparams
        .iter()
        .map(|s| {
            s.split_once('=')
                .with_context(|| format!("--hp {s:?}: expected KEY=VALUE"))
        })
        .collect::<Result<_>>()?;
    let schedule = Schedule::parse(&a.schedule)?;
    let mut out: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut record =
        |k: Option<usize>, names: &[(String, Vec<usize>, Vec<f32>)], values: Vec<Vec<f32>>| {
            for ((n, shape, _), v) in names.iter().zip(values) {
                let key = match k {
                    Some(k) => format!("step.{k}.{n}"),
                    None => format!("param.{n}"),
                };
                out.push((key, shape.clone(), v));
            }
        };
    let steps = rec.grads.len();
    if a.reference {
        let lens: Vec<usize> = rec.params.iter().map(|p| p.2.len()).collect();
        let h = hparams_of(&a.optimizer, &kv)?;
        let mut opt = MultiOptimizer::new(vec![h; lens.len()], &lens)?;
        opt.max_grad_norm = a.max_grad_norm.map(f64::from);
        let mut values: Vec<Vec<f32>> = rec.params.iter().map(|p| p.2.clone()).collect();
        for (k, g) in rec.grads.iter().enumerate() {
            opt.step(schedule.multiplier(k as u64), &mut values, g)?;
            if a.every_step {
                record(Some(k), &rec.params, values.clone());
            }
        }
        if !a.every_step {
            record(None, &rec.params, values);
        }
    } else {
        let engine = Engine::new()?;
        let specs: Vec<ParamSpec> = rec
            .params
            .iter()
            .map(|(n, s, _)| ParamSpec::new(n, s, "all"))
            .collect();
        let mut params = ParamSet::new(&engine, &specs)?;
        for (n, _, v) in &rec.params {
            params.write_param(n, v)?;
        }
        let guard = GuardConfig {
            max_grad_norm: a.max_grad_norm,
            skip_non_finite: true,
        };
        let mut opt = registry::create(&a.optimizer, &params, &kv, &[], guard)?;
        opt.set_schedule(schedule);
        // Layout order is the order of `specs` here (one group).
        for (k, g) in rec.grads.iter().enumerate() {
            for ((n, _, _), v) in rec.params.iter().zip(g) {
                params.write_grad(n, v)?;
            }
            opt.step(&mut params)?;
            if a.every_step {
                record(Some(k), &rec.params, params.read_params()?);
            }
        }
        if !a.every_step {
            record(None, &rec.params, params.read_params()?);
        }
        let stats = opt.stats()?;
        eprintln!(
            "{} on {}: {} steps applied, {} skipped",
            a.optimizer,
            engine.adapter(),
            stats.applied_steps,
            stats.skipped_steps
        );
    }
    let views: Vec<(String, TensorView<'_>)> = out
        .iter()
        .map(|(n, s, v)| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(v))?,
            ))
        })
        .collect::<Result<_>>()?;
    let meta = HashMap::from([
        ("optimizer".to_string(), a.optimizer.clone()),
        ("hparams".to_string(), a.hparams.join(",")),
        ("schedule".to_string(), a.schedule.clone()),
        ("steps".to_string(), steps.to_string()),
        (
            "backend".to_string(),
            if a.reference { "reference" } else { "gpu" }.to_string(),
        ),
    ]);
    let bytes = safetensors::serialize(views, Some(meta))?;
    std::fs::write(&a.output, bytes).with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!("wrote {} ({steps} steps)", a.output.display());
    Ok(())
}
