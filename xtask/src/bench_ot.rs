//! bench-gpu rows for entropic OT: one log-domain Sinkhorn iteration (a g and an f update) on a
//! dense cost, as bandwidth against the copy kernel (each half-iteration reads C or Cᵀ once:
//! 8·n·m bytes per iteration), and iterations per second with the cost evaluated from 2-D point
//! clouds in the kernels; the f64 CPU reference beside each where it finishes in seconds.

use crate::bench::{fresh_engine, median, time_recorder};
use anyhow::Result;
use serde::Serialize;
use std::time::Instant;
use wgopt::reference::ot::{self as reference, Cost};
use wgopt::scheduler::StepRecorder;
use wgopt::solvers::ot::{CostInput, OtProblem, SinkhornPlan};
use wgopt::Engine;

#[derive(Serialize)]
pub struct OtRow {
    case: String,
    n: usize,
    us_per_iteration: f64,
    /// Dense: achieved GB/s and its ratio to the copy kernel.
    gbps: Option<f64>,
    ratio_to_copy: Option<f64>,
    iterations_per_s: f64,
    cpu_reference_us_per_iteration: Option<f64>,
}

fn lcg(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn time_plan(problem: OtProblem, repeats: usize) -> Result<f64> {
    let engine = fresh_engine()?;
    let plan = SinkhornPlan::new(&engine, &[problem], 0.05)?;
    let sweeps = 4;
    let mut rec = StepRecorder::new();
    rec.enable_timing(&engine, 2 * sweeps as u32)?;
    let ns = time_recorder(&engine, &mut rec, repeats, |r| {
        plan.record_sweeps(r, sweeps)
    })?;
    Ok(ns / sweeps as f64 / 1e3)
}

fn cpu_iteration_us(a: &[f32], b: &[f32], cost: &Cost) -> Result<f64> {
    let f64s = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let opts = reference::SinkhornOptions {
        tol: 0.0,
        max_iter: 1,
        check_every: 1000,
        eps_scaling: None,
    };
    let t = Instant::now();
    reference::sinkhorn_log(&f64s(a), &f64s(b), cost, 0.05, &opts, None)?;
    Ok(t.elapsed().as_secs_f64() * 1e6)
}

pub fn run(quick: bool, software: bool, repeats: usize, copy_gbps: f64) -> Result<Vec<OtRow>> {
    let mut rows = Vec::new();
    let dense_n = if quick {
        256
    } else if software {
        1024
    } else {
        4096
    };
    let w = vec![1.0 / dense_n as f32; dense_n];
    let c = lcg(1, dense_n * dense_n);
    let us = time_plan(
        OtProblem {
            a: &w,
            b: &w,
            cost: CostInput::Dense(&c),
        },
        repeats,
    )?;
    let gbps = 8.0 * (dense_n * dense_n) as f64 / (us * 1e3);
    let cost = Cost::Dense {
        n: dense_n,
        m: dense_n,
        c: c.iter().map(|&v| v as f64).collect(),
    };
    let cpu = median(vec![cpu_iteration_us(&w, &w, &cost)?]);
    println!(
        "sinkhorn dense {dense_n}²: {us:.1} us/iteration, {gbps:.1} GB/s, {:.2}x copy (CPU reference {cpu:.0} us)",
        gbps / copy_gbps
    );
    rows.push(OtRow {
        case: format!("dense {dense_n}x{dense_n}"),
        n: dense_n,
        us_per_iteration: us,
        gbps: Some(gbps),
        ratio_to_copy: Some(gbps / copy_gbps),
        iterations_per_s: 1e6 / us,
        cpu_reference_us_per_iteration: Some(cpu),
    });
    let clouds: &[usize] = if quick {
        &[1000]
    } else if software {
        &[1000, 10_000]
    } else {
        &[10_000, 100_000]
    };
    for &n in clouds {
        let (x, y) = (lcg(2, 2 * n), lcg(3, 2 * n));
        let w = vec![1.0 / n as f32; n];
        let us = time_plan(
            OtProblem {
                a: &w,
                b: &w,
                cost: CostInput::SqEuclidean { x: &x, y: &y, d: 2 },
            },
            repeats.min(3),
        )?;
        let cpu = if n <= 10_000 {
            let cost = Cost::SqEuclidean {
                d: 2,
                x: x.iter().map(|&v| v as f64).collect(),
                y: y.iter().map(|&v| v as f64).collect(),
            };
            Some(cpu_iteration_us(&w, &w, &cost)?)
        } else {
            None
        };
        println!(
            "sinkhorn online ‖x−y‖², {n} points (d = 2): {us:.1} us/iteration, {:.1} iterations/s (CPU reference {})",
            1e6 / us,
            cpu.map_or("not run".into(), |c| format!("{c:.0} us"))
        );
        rows.push(OtRow {
            case: format!("online sqeuclidean {n} points, d = 2"),
            n,
            us_per_iteration: us,
            gbps: None,
            ratio_to_copy: None,
            iterations_per_s: 1e6 / us,
            cpu_reference_us_per_iteration: cpu,
        });
    }
    Ok(rows)
}

/// Time to an L1 marginal error of 1e-6 on the random assignment problem (C ~ U[0,1],
/// uniform weights, η = 1/ε = 1000): GPU Sinkhorn and SNS (f32), and the CPU references of
/// Sinkhorn and SNS (f64). Returns (label, iterations, seconds, reached).
/// One racer's result: (label, iterations, seconds, reached the target).
type Lap = (String, usize, f64, bool);

/// GPU Sinkhorn in chunks of 50 iterations until the L1 error is ≤ 1e-6 or `cap`.
fn gpu_sinkhorn(engine: &Engine, c32: &[f32], w: &[f32], eps: f64, cap: usize) -> Result<Lap> {
    let problem = OtProblem {
        a: w,
        b: w,
        cost: CostInput::Dense(c32),
    };
    let plan = SinkhornPlan::new(engine, &[problem], eps)?;
    let (start, mut it) = (Instant::now(), 0);
    let mut reached = false;
    while it < cap && !reached {
        let mut rec = StepRecorder::new();
        plan.record_sweeps(&mut rec, 50);
        plan.record_check(&mut rec);
        rec.submit(engine)?;
        it += 50;
        reached = plan.read_summary()?[0][0] <= 1e-6;
    }
    Ok((
        "GPU Sinkhorn (f32)".into(),
        it,
        start.elapsed().as_secs_f64(),
        reached,
    ))
}

fn gpu_sns(engine: &Engine, c32: &[f32], w: &[f32], eps: f64) -> Result<Lap> {
    let t = Instant::now();
    let problem = OtProblem {
        a: w,
        b: w,
        cost: CostInput::Dense(c32),
    };
    let opts = wgopt::solvers::ot::sns::SnsOptions {
        tol: 1e-6,
        ..Default::default()
    };
    let sns = wgopt::solvers::ot::sns::sinkhorn_newton_sparse(engine, &problem, eps, &opts)?;
    Ok((
        format!(
            "GPU SNS (f32; {} Sinkhorn + {} Newton, {} CG iterations)",
            sns.sinkhorn_iterations,
            sns.newton_iterations,
            sns.cg_iterations.iter().sum::<usize>()
        ),
        sns.sinkhorn_iterations + sns.newton_iterations,
        t.elapsed().as_secs_f64(),
        sns.converged,
    ))
}

/// The f64 reference's Sinkhorn and SNS on the same problem.
fn cpu_racers(c64: Vec<f64>, n: usize, eps: f64, cap: usize) -> Result<[Lap; 2]> {
    let w64 = vec![1.0 / n as f64; n];
    let cost = Cost::Dense { n, m: n, c: c64 };
    let t = Instant::now();
    let opts = reference::SinkhornOptions {
        tol: 1e-6,
        max_iter: cap,
        check_every: 10,
        eps_scaling: None,
    };
    let r = reference::sinkhorn_log(&w64, &w64, &cost, eps, &opts, None)?;
    let sinkhorn = (
        "CPU Sinkhorn (f64)".into(),
        r.iterations,
        t.elapsed().as_secs_f64(),
        r.converged,
    );
    let t = Instant::now();
    let opts = reference::SnsOptions {
        tol: 1e-6,
        ..Default::default()
    };
    let s = reference::sinkhorn_newton_sparse(&w64, &w64, &cost, eps, &opts)?;
    let sns = (
        format!(
            "CPU SNS (f64; {} Sinkhorn + {} Newton)",
            s.sinkhorn_iterations, s.newton_iterations
        ),
        s.sinkhorn_iterations + s.newton_iterations,
        t.elapsed().as_secs_f64(),
        s.converged,
    );
    Ok([sinkhorn, sns])
}

/// Sinkhorn against SNS, GPU and CPU, to an L1 error of 1e-6 on an assignment-like problem
/// (n × n, ε = 1e-3).
pub fn race(quick: bool, software: bool) -> Result<Vec<Lap>> {
    let n = if quick { 64 } else { 200 };
    let eps = 1e-3;
    let c64: Vec<f64> = lcg(7, n * n).into_iter().map(|v| v as f64).collect();
    let c32: Vec<f32> = c64.iter().map(|&v| v as f32).collect();
    let w = vec![1.0 / n as f32; n];
    let engine = fresh_engine()?;
    // Iteration caps: a CPU adapter runs ~10² iterations per second here.
    let cap = if quick {
        500
    } else if software {
        2_000
    } else {
        20_000
    };
    let mut out = vec![
        gpu_sinkhorn(&engine, &c32, &w, eps, cap)?,
        gpu_sns(&engine, &c32, &w, eps)?,
    ];
    out.extend(cpu_racers(c64, n, eps, cap)?);
    for (label, its, secs, ok) in &out {
        println!(
            "to 1e-6, assignment n = {n}, η = 1000: {label}: {its} iterations, {secs:.3} s{}",
            if *ok { "" } else { " (not reached)" }
        );
    }
    Ok(out)
}

pub fn markdown(rows: &[OtRow]) -> String {
    let mut md = String::from(
        "\n## Entropic OT: log-domain Sinkhorn (one iteration = a g and an f update, f32)\n\n\
         | case | µs/iteration | iterations/s | GB/s | ÷ copy | CPU reference (f64) µs/iteration |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        let opt = |v: Option<f64>, p: usize| v.map_or("–".into(), |x| format!("{x:.p$}"));
        md += &format!(
            "| {} | {:.1} | {:.1} | {} | {} | {} |\n",
            r.case,
            r.us_per_iteration,
            r.iterations_per_s,
            opt(r.gbps, 1),
            opt(r.ratio_to_copy, 2),
            opt(r.cpu_reference_us_per_iteration, 0)
        );
    }
    md
}
