//! bench-gpu rows for linear algebra: GEMM, Gram and Newton–Schulz (5 Muon steps) on square
//! matrices, NS5 over a GPT-2-small Muon parameter set (f32, f16, and ROOT's quantile + clamp),
//! each as a ratio to the same run's FMA kernel.

use crate::bench::{fresh_engine, time_recorder};
use anyhow::Result;
use serde::Serialize;
use wgopt::scheduler::StepRecorder;
use wgopt::Engine;

#[derive(Serialize)]
pub struct LinalgRow {
    pub kernel: String,
    pub shape: String,
    pub us: f64,
    pub gflops: f64,
    pub ratio_to_fma: f64,
}

fn upload_random(engine: &Engine, n: usize, seed: u32) -> wgpu::Buffer {
    let data: Vec<f32> = (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32
                / (1u32 << 24) as f32)
                - 0.5
        })
        .collect();
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let b = engine.create_buffer("bench matrix", n as u64 * 4, usage);
    engine
        .queue()
        .write_buffer(&b, 0, bytemuck::cast_slice(&data));
    b
}

fn linalg_row(kernel: &str, shape: String, flops: f64, ns: f64, fma_gflops: f64) -> LinalgRow {
    let gflops = flops / ns;
    println!(
        "{kernel:>10} {shape:>28}: {:10.1} us  {gflops:8.1} GFLOP/s  {:.2}x fma",
        ns / 1e3,
        gflops / fma_gflops
    );
    LinalgRow {
        kernel: kernel.into(),
        shape,
        us: ns / 1e3,
        gflops,
        ratio_to_fma: gflops / fma_gflops,
    }
}

/// GEMM, Gram and Newton–Schulz (5 Muon steps) on square matrices, and NS5 over a GPT-2-small
/// Muon parameter set (every hidden matrix, batched by shape).
pub fn run(
    engine: &Engine,
    quick: bool,
    repeats: usize,
    fma_gflops: f64,
) -> Result<Vec<LinalgRow>> {
    use wgopt::reference::linalg::NsSchedule;
    use wgopt::reference::linalg::Precision;
    use wgopt::scheduler::linalg::{Clamp, GemmOffsets, Matmul, MatmulSpec, NewtonSchulzPlan};
    use wgopt::scheduler::quantile::{AbsQuantile, QuantileSource};
    let f16 = engine.features().contains(wgpu::Features::SHADER_F16);
    // A software adapter runs these at ~1 GFLOP/s: keep its full run to minutes.
    let software = engine.adapter().is_software;
    let sizes: Vec<u32> = if quick {
        vec![256]
    } else if software {
        vec![256, 512]
    } else {
        vec![1024, 2048, 4096]
    };
    let mut rows = Vec::new();
    let muon: Vec<(f32, f32, f32)> = NsSchedule::Muon
        .coefficients(1, 1, 5)
        .into_iter()
        .map(|(a, b, c)| (a as f32, b as f32, c as f32))
        .collect();
    for &n in &sizes {
        let engine = &fresh_engine()?;
        let mut rec = StepRecorder::new();
        rec.enable_timing(engine, 256)?;
        let len = n as usize * n as usize;
        let x = upload_random(engine, len, 1);
        let d = upload_random(engine, len, 2);
        let offsets = [GemmOffsets::default()];
        let spec = |trans_b| MatmulSpec {
            m: n,
            n,
            k: n,
            trans_a: false,
            trans_b,
            alpha: 1.0,
            beta: 0.0,
            a: &x,
            b: &x,
            c: None,
            d: &d,
            offsets: &offsets,
        };
        let gemm = Matmul::gemm(engine, &spec(false))?;
        let repeats = if software { repeats.min(3) } else { repeats };
        let ns = time_recorder(engine, &mut rec, repeats, |r| gemm.record(r))?;
        rows.push(linalg_row(
            "gemm",
            format!("{n}x{n}x{n}"),
            gemm.flops(),
            ns,
            fma_gflops,
        ));
        let gram = Matmul::gram(engine, &spec(true))?;
        let ns = time_recorder(engine, &mut rec, repeats, |r| gram.record(r))?;
        // Useful work of X·Xᵀ counted as a full GEMM, so the ratio shows the symmetric saving.
        rows.push(linalg_row(
            "gram",
            format!("{n}x{n} (X·Xᵀ)"),
            gram.flops(),
            ns,
            fma_gflops,
        ));
        let plan = NewtonSchulzPlan::new(engine, n, n, &muon, 1.0, &x, &[0], &d, &[0])?;
        let ns = time_recorder(engine, &mut rec, repeats.min(3), |r| plan.record(r))?;
        rows.push(linalg_row(
            "ns5",
            format!("{n}x{n}"),
            plan.flops(),
            ns,
            fma_gflops,
        ));
        if f16 {
            let plan = NewtonSchulzPlan::new_clamped(
                engine,
                n,
                n,
                &muon,
                1.0,
                (&x, &[0]),
                (&d, &[0]),
                None,
                Precision::F16,
            )?;
            let ns = time_recorder(engine, &mut rec, repeats.min(3), |r| plan.record(r))?;
            rows.push(linalg_row(
                "ns5-f16",
                format!("{n}x{n}"),
                plan.flops(),
                ns,
                fma_gflops,
            ));
        }
    }
    // GPT-2-small hidden matrices: 12 of each shape.
    let d_model: u32 = if quick {
        64
    } else if software {
        128
    } else {
        768
    };
    let shapes = [
        (d_model, 3 * d_model),
        (d_model, d_model),
        (d_model, 4 * d_model),
        (4 * d_model, d_model),
    ];
    let engine = &fresh_engine()?;
    let mut rec = StepRecorder::new();
    rec.enable_timing(engine, 256)?;
    let buffers: Vec<(u32, u32, wgpu::Buffer, wgpu::Buffer, Vec<u32>)> = shapes
        .iter()
        .map(|&(r, c)| {
            let len = r as usize * c as usize;
            let offs: Vec<u32> = (0..12).map(|i| i * len as u32).collect();
            (
                r,
                c,
                upload_random(engine, 12 * len, 3),
                upload_random(engine, 12 * len, 4),
                offs,
            )
        })
        .collect();
    // ROOT's extra work: the exact 0.9-quantile of every matrix, its clamp fused into the
    // normalisation.
    let quantile = AbsQuantile::new(
        engine,
        &buffers
            .iter()
            .map(|(r, c, input, _, offs)| QuantileSource {
                buffer: input,
                matrices: offs.iter().map(|&o| (o, r * c, 0.9)).collect(),
            })
            .collect::<Vec<_>>(),
        1e-9,
    )?;
    let mut variants = vec![
        ("ns5", Precision::F32, false),
        ("root5", Precision::F32, true),
    ];
    if f16 {
        variants.push(("ns5-f16", Precision::F16, false));
    }
    let mut muon_ns = f64::NAN;
    for (label, precision, root) in variants {
        let mut base = 0;
        let mut plans = Vec::new();
        for (r, c, input, output, offs) in &buffers {
            let clamp = root.then(|| Clamp {
                thresholds: quantile.thresholds(),
                base,
            });
            base += offs.len() as u32;
            plans.push(NewtonSchulzPlan::new_clamped(
                engine,
                *r,
                *c,
                &muon,
                1.0,
                (input, offs),
                (output, offs),
                clamp,
                precision,
            )?);
        }
        let flops: f64 = plans.iter().map(|p| p.flops()).sum();
        let ns = time_recorder(engine, &mut rec, if quick { repeats } else { 3 }, |r| {
            if root {
                quantile.record(r);
            }
            for p in &plans {
                p.record(r);
            }
        })?;
        if label == "ns5" {
            muon_ns = ns;
        }
        let extra = if root {
            format!(" (+{:.0}% over Muon)", 100.0 * (ns / muon_ns - 1.0))
        } else {
            String::new()
        };
        rows.push(linalg_row(
            label,
            format!("GPT-2 d={d_model}: 48 matrices{extra}"),
            flops,
            ns,
            fma_gflops,
        ));
    }
    Ok(rows)
}
