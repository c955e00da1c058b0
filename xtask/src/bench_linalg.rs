//! bench-gpu rows for linear algebra: GEMM, Gram and Newton–Schulz (5 Muon steps) on square
//! matrices, NS5 over a GPT-2-small Muon parameter set (f32, f16, and ROOT's quantile + clamp),
//! each as a ratio to the same run's FMA kernel.

use crate::bench::{fresh_engine, time_dispatches, time_recorder};
use anyhow::Result;
use serde::Serialize;
use wgopt::reference::linalg::{NsSchedule, Precision};
use wgopt::scheduler::StepRecorder;
use wgopt::solvers::linalg::{GemmOffsets, Matmul, MatmulSpec};
use wgopt::solvers::newton_schulz::{Clamp, NewtonSchulzPlan, NewtonSchulzSpec};
use wgopt::solvers::quantile::{AbsQuantile, QuantileSource};
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
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    engine.upload("bench matrix", bytemuck::cast_slice(&data), usage)
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

/// Muon's quintic, five steps.
fn muon_coefficients() -> Vec<(f32, f32, f32)> {
    NsSchedule::Muon
        .coefficients(1, 1, 5)
        .into_iter()
        .map(|(a, b, c)| (a as f32, b as f32, c as f32))
        .collect()
}

/// GEMM, Gram and Newton–Schulz (5 Muon steps) on square matrices, and NS5 over a GPT-2-small
/// Muon parameter set (every hidden matrix, batched by shape).
pub fn run(
    engine: &Engine,
    quick: bool,
    repeats: usize,
    fma_gflops: f64,
) -> Result<Vec<LinalgRow>> {
    // A software adapter runs these at ~1 GFLOP/s: keep its full run to minutes.
    let software = engine.adapter().is_software;
    let sizes: Vec<u32> = if quick {
        vec![256]
    } else if software {
        vec![256, 512]
    } else {
        vec![1024, 2048, 4096]
    };
    let repeats = if software { repeats.min(3) } else { repeats };
    let mut rows = Vec::new();
    for &n in &sizes {
        rows.extend(square(n, repeats, fma_gflops)?);
    }
    let d_model: u32 = if quick {
        64
    } else if software {
        128
    } else {
        768
    };
    rows.extend(gpt2_set(
        d_model,
        if quick { repeats } else { 3 },
        fma_gflops,
    )?);
    Ok(rows)
}

/// GEMM, Gram, NS5 (and NS5 over f16 iterates) on one n×n matrix, on a fresh device.
fn square(n: u32, repeats: usize, fma_gflops: f64) -> Result<Vec<LinalgRow>> {
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
    let mut rows = Vec::new();
    let gemm = Matmul::gemm(engine, &spec(false))?;
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
    let muon = muon_coefficients();
    let mut precisions = vec![("ns5", Precision::F32)];
    if engine.features().contains(wgpu::Features::SHADER_F16) {
        precisions.push(("ns5-f16", Precision::F16));
    }
    for (label, precision) in precisions {
        let spec = NewtonSchulzSpec {
            precision,
            ..NewtonSchulzSpec::new(n, n, &muon, (&x, &[0]), (&d, &[0]))
        };
        let plan = NewtonSchulzPlan::new(engine, &spec)?;
        let parts = time_dispatches(engine, &mut rec, repeats.min(3), |r| plan.record(r))?;
        rows.push(linalg_row(
            label,
            format!("{n}x{n}"),
            plan.flops(),
            parts.iter().sum(),
            fma_gflops,
        ));
        rows.extend(ns_parts(label, n, &parts, fma_gflops));
    }
    Ok(rows)
}

/// Where an NS5 run's time goes (per-dispatch timestamps inside the plan): the normalisation,
/// then per step the Gram, the polynomial (symmetric) and the update; each part's FLOPs on the
/// same accounting as `NewtonSchulzPlan::flops` (n³, n³, 2n³ per step for n×n).
fn ns_parts(label: &str, n: u32, parts: &[f64], fma_gflops: f64) -> Vec<LinalgRow> {
    let cube = (n as f64).powi(3);
    let steps = parts.len().saturating_sub(1) / 3;
    let sum = |k: usize| (0..steps).map(|s| parts[1 + 3 * s + k]).sum::<f64>();
    let s = steps as f64;
    vec![
        linalg_row(
            &format!("{label} · normalize"),
            format!("{n}x{n}"),
            2.0 * (n as f64).powi(2),
            parts.first().copied().unwrap_or(0.0),
            fma_gflops,
        ),
        linalg_row(
            &format!("{label} · {steps} Gram"),
            format!("{n}x{n}"),
            s * cube,
            sum(0),
            fma_gflops,
        ),
        linalg_row(
            &format!("{label} · {steps} polynomial (symmetric)"),
            format!("{n}x{n}"),
            s * cube,
            sum(1),
            fma_gflops,
        ),
        linalg_row(
            &format!("{label} · {steps} update GEMM"),
            format!("{n}x{n}"),
            2.0 * s * cube,
            sum(2),
            fma_gflops,
        ),
    ]
}

/// One shape of the GPT-2 set: (rows, cols, input, output, offsets of its 12 matrices).
type ShapeSet = (u32, u32, wgpu::Buffer, wgpu::Buffer, Vec<u32>);

/// NS5 over GPT-2's hidden matrices (12 of each of four shapes, batched by shape): f32, ROOT
/// (the exact 0.9-quantile of every matrix, its clamp fused into the normalisation) and f16.
fn gpt2_set(d_model: u32, repeats: usize, fma_gflops: f64) -> Result<Vec<LinalgRow>> {
    let shapes = [
        (d_model, 3 * d_model),
        (d_model, d_model),
        (d_model, 4 * d_model),
        (4 * d_model, d_model),
    ];
    let engine = &fresh_engine()?;
    let mut rec = StepRecorder::new();
    rec.enable_timing(engine, 256)?;
    let sets: Vec<ShapeSet> = shapes
        .iter()
        .map(|&(r, c)| {
            let len = r as usize * c as usize;
            let offs: Vec<u32> = (0..12).map(|i| i * len as u32).collect();
            let (input, output) = (
                upload_random(engine, 12 * len, 3),
                upload_random(engine, 12 * len, 4),
            );
            (r, c, input, output, offs)
        })
        .collect();
    let sources: Vec<QuantileSource<'_>> = sets
        .iter()
        .map(|(r, c, input, _, offs)| QuantileSource {
            buffer: input,
            matrices: offs.iter().map(|&o| (o, r * c, 0.9)).collect(),
        })
        .collect();
    let quantile = AbsQuantile::new(engine, &sources, 1e-9)?;
    let mut variants = vec![
        ("ns5", Precision::F32, false),
        ("root5", Precision::F32, true),
    ];
    if engine.features().contains(wgpu::Features::SHADER_F16) {
        variants.push(("ns5-f16", Precision::F16, false));
    }
    let muon = muon_coefficients();
    let (mut rows, mut muon_ns) = (Vec::new(), f64::NAN);
    for (label, precision, root) in variants {
        let mut base = 0;
        let mut plans = Vec::new();
        for (r, c, input, output, offs) in &sets {
            let clamp = root.then(|| Clamp {
                thresholds: quantile.thresholds(),
                base,
            });
            base += offs.len() as u32;
            let spec = NewtonSchulzSpec {
                clamp,
                precision,
                ..NewtonSchulzSpec::new(*r, *c, &muon, (input, offs), (output, offs))
            };
            plans.push(NewtonSchulzPlan::new(engine, &spec)?);
        }
        let flops: f64 = plans.iter().map(|p| p.flops()).sum();
        let ns = time_recorder(engine, &mut rec, repeats, |r| {
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
            format!(" ({:+.0}% over Muon)", 100.0 * (ns / muon_ns - 1.0))
        } else {
            String::new()
        };
        let shape = format!("GPT-2 d={d_model}: 48 matrices{extra}");
        rows.push(linalg_row(label, shape, flops, ns, fma_gflops));
    }
    Ok(rows)
}
