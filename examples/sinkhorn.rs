//! Entropic optimal transport, and what Sinkhorn–Newton–Sparse buys.
//!
//! 1. Two 2-D point clouds (a Gaussian mixture and a ring, n points each) are transported
//!    on the GPU by log-domain Sinkhorn with the cost evaluated in the kernels; the L1
//!    marginal error is read every `--check-every` iterations.
//! 2. The spec's SNS experiment (Tang et al., ICLR 2024): a random assignment problem
//!    (C ~ U[0,1], uniform weights, η = 1/ε), solved to 1e-10 by plain Sinkhorn and by SNS
//!    (`--sns-warmup` Sinkhorn steps, then sparse Newton), both on the CPU in f64; then SNS on
//!    the GPU in f32 (to the f32 floor, 1e-5), whose sparsified Hessian, CG and line search
//!    all run on the GPU.
//!
//! Prints progress and a summary, and draws the error against iterations and against time
//! into `--out` (PNG).
//!
//!     cargo run --release --example sinkhorn -- --n 500 --eps 0.05 --sns-n 200 --sns-eta 1000

use anyhow::{Context, Result};
use clap::Parser;
use plotters::prelude::*;
use std::time::Instant;
use wgopt::reference::ot::{self as reference, Cost, SnsOptions};
use wgopt::scheduler::StepRecorder;
use wgopt::solvers::ot::sns::{sinkhorn_newton_sparse as gpu_sns, SnsOptions as GpuSnsOptions};
use wgopt::solvers::ot::{CostInput, OtProblem, SinkhornPlan};
use wgopt::Engine;

#[derive(Parser)]
struct Args {
    /// Points per cloud (GPU problem).
    #[arg(long, default_value_t = 500)]
    n: usize,
    /// ε of the GPU problem (squared distances in [0, 8]).
    #[arg(long, default_value_t = 0.05)]
    eps: f64,
    /// Stop at this L1 marginal error (f32 floors near 1e-6).
    #[arg(long, default_value_t = 1e-5)]
    tol: f64,
    #[arg(long, default_value_t = 10)]
    check_every: usize,
    #[arg(long, default_value_t = 2000)]
    max_iter: usize,
    /// Size of the SNS experiment's assignment problem.
    #[arg(long, default_value_t = 200)]
    sns_n: usize,
    /// η = 1/ε of the SNS experiment (the paper's value is 1200).
    #[arg(long, default_value_t = 1000.0)]
    sns_eta: f64,
    /// Sinkhorn warm-up iterations before the Newton stage (CPU and GPU SNS).
    #[arg(long, default_value_t = 20)]
    sns_warmup: usize,
    /// Iteration cap of the plain-Sinkhorn baseline (it needs >200,000 at η = 1000).
    #[arg(long, default_value_t = 20_000)]
    sinkhorn_max: usize,
    #[arg(long, default_value = "target/sinkhorn.png")]
    out: String,
}

/// A deterministic uniform stream (the example needs no RNG crate).
fn uniform(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// (iterations, seconds, L1 error) per check.
type Trace = Vec<(f64, f64, f64)>;

fn gpu_sinkhorn(args: &Args) -> Result<Trace> {
    let n = args.n;
    let u = uniform(1, 4 * n);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(2 * n);
    for i in 0..n {
        // Source: two Gaussian blobs (Box–Muller); target: a noisy ring of radius 1.5.
        let (r, t) = (
            (-2.0 * u[4 * i].max(1e-12).ln()).sqrt(),
            std::f64::consts::TAU * u[4 * i + 1],
        );
        let c = if i % 2 == 0 { -0.8 } else { 0.8 };
        x.extend([(c + 0.3 * r * t.cos()) as f32, (0.3 * r * t.sin()) as f32]);
        let (a, rr) = (
            std::f64::consts::TAU * u[4 * i + 2],
            1.5 + 0.1 * (u[4 * i + 3] - 0.5),
        );
        y.extend([(rr * a.cos()) as f32, (rr * a.sin()) as f32]);
    }
    let w = vec![1.0 / n as f32; n];
    let engine = Engine::new()?;
    println!(
        "GPU: {} — {n} + {n} points, eps {}",
        engine.adapter(),
        args.eps
    );
    let problem = OtProblem {
        a: &w,
        b: &w,
        cost: CostInput::SqEuclidean { x: &x, y: &y, d: 2 },
    };
    let plan = SinkhornPlan::new(&engine, &[problem], args.eps)?;
    let start = Instant::now();
    let mut trace = Trace::new();
    let mut it = 0;
    while it < args.max_iter {
        let mut rec = StepRecorder::new();
        plan.record_sweeps(&mut rec, args.check_every);
        plan.record_check(&mut rec);
        rec.submit(&engine)?;
        it += args.check_every;
        let s = plan.read_summary()?[0];
        trace.push((it as f64, start.elapsed().as_secs_f64(), s[0] as f64));
        if it % (20 * args.check_every) == 0 || (s[0] as f64) <= args.tol {
            println!(
                "  iteration {it:>6}: L1 marginal error {:.3e}, ⟨P,C⟩ = {:.6}, {:.2} s",
                s[0],
                s[2],
                start.elapsed().as_secs_f64()
            );
        }
        if (s[0] as f64) <= args.tol {
            break;
        }
    }
    Ok(trace)
}

fn sns_experiment(args: &Args) -> Result<(Trace, Trace, Trace)> {
    let n = args.sns_n;
    let cost = Cost::Dense {
        n,
        m: n,
        c: uniform(7, n * n),
    };
    let w = vec![1.0 / n as f64; n];
    let eps = 1.0 / args.sns_eta;
    println!("CPU (f64): random assignment n = {n}, η = {}", args.sns_eta);
    let trace = plain_sinkhorn(args, &w, &cost, eps)?;
    let sns_trace = cpu_sns(args, &w, &cost, eps)?;
    let gpu_trace = gpu_sns_run(args, &w, &cost, eps)?;
    Ok((trace, sns_trace, gpu_trace))
}

/// Plain Sinkhorn in chunks of 10 iterations, warm-started, timing each chunk.
fn plain_sinkhorn(args: &Args, w: &[f64], cost: &Cost, eps: f64) -> Result<Trace> {
    let (mut trace, mut warm) = (Trace::new(), None);
    let start = Instant::now();
    let chunk = 10;
    let mut it = 0;
    loop {
        let opts = reference::SinkhornOptions {
            tol: 1e-10,
            max_iter: chunk,
            check_every: chunk,
            eps_scaling: None,
        };
        let r = reference::sinkhorn_log(w, w, cost, eps, &opts, warm.take())?;
        it += chunk;
        let err = *r.errors.last().context("one check per chunk")?;
        trace.push((it as f64, start.elapsed().as_secs_f64(), err));
        warm = Some((r.f, r.g));
        if err <= 1e-10 || it >= args.sinkhorn_max {
            break;
        }
    }
    let last = trace.last().context("at least one chunk")?.2;
    println!(
        "  Sinkhorn: {it} iterations, {:.2} s, error {last:.1e}{}",
        start.elapsed().as_secs_f64(),
        if last > 1e-10 {
            " (stopped at --sinkhorn-max, not converged)"
        } else {
            ""
        }
    );
    Ok(trace)
}

/// SNS in f64 on the CPU (the reference).
fn cpu_sns(args: &Args, w: &[f64], cost: &Cost, eps: f64) -> Result<Trace> {
    let ref_opts = SnsOptions {
        sinkhorn_iterations: args.sns_warmup,
        ..SnsOptions::default()
    };
    let sns = reference::sinkhorn_newton_sparse(w, w, cost, eps, &ref_opts)?;
    let sns_trace: Trace = sns
        .errors
        .iter()
        .zip(&sns.seconds)
        .enumerate()
        .map(|(k, (e, s))| ((sns.sinkhorn_iterations + k) as f64, *s, *e))
        .collect();
    println!(
        "  SNS: {} Sinkhorn + {} Newton steps (CG iterations {:?}, kept entries per row {:?}), {:.2} s, error {:.1e}",
        sns.sinkhorn_iterations,
        sns.newton_iterations,
        sns.cg_iterations,
        sns.kept_per_row.iter().map(|k| (k * 10.0).round() / 10.0).collect::<Vec<_>>(),
        sns.seconds.last().copied().unwrap_or(0.0),
        sns.errors.last().copied().unwrap_or(f64::NAN)
    );
    Ok(sns_trace)
}

/// The same problem with SNS on the GPU, in f32.
fn gpu_sns_run(args: &Args, w: &[f64], cost: &Cost, eps: f64) -> Result<Trace> {
    let engine = Engine::new()?;
    let (w32, c32): (Vec<f32>, Vec<f32>) = (
        w.iter().map(|&v| v as f32).collect(),
        cost.to_dense().iter().map(|&v| v as f32).collect(),
    );
    let problem = OtProblem {
        a: &w32,
        b: &w32,
        cost: CostInput::Dense(&c32),
    };
    let opts = GpuSnsOptions {
        sinkhorn_iterations: args.sns_warmup,
        ..GpuSnsOptions::default()
    };
    let gpu = gpu_sns(&engine, &problem, eps, &opts)?;
    let gpu_trace: Trace = gpu
        .errors
        .iter()
        .zip(&gpu.seconds)
        .enumerate()
        .map(|(k, (e, s))| ((gpu.sinkhorn_iterations + k) as f64, *s, *e as f64))
        .collect();
    println!(
        "  GPU SNS (f32, {}): {} Sinkhorn + {} Newton steps (CG iterations {:?}, kept per row {:?}), {:.2} s, error {:.1e}{}",
        engine.adapter().name,
        gpu.sinkhorn_iterations,
        gpu.newton_iterations,
        gpu.cg_iterations,
        gpu.kept_per_row.iter().map(|k| (k * 10.0).round() / 10.0).collect::<Vec<_>>(),
        gpu.seconds.last().copied().unwrap_or(0.0),
        gpu.marginal_error,
        if gpu.converged { "" } else { " (not converged)" }
    );
    println!(
        "  GPU SNS errors: {:?}",
        gpu.errors
            .iter()
            .map(|e| format!("{e:.1e}"))
            .collect::<Vec<_>>()
    );
    Ok(gpu_trace)
}

fn plot(path: &str, series: &[(&str, &Trace, RGBColor)]) -> Result<()> {
    let font = std::env::var("WGOPT_FONT")
        .unwrap_or_else(|_| "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf".into());
    let bytes = match std::fs::read(&font) {
        Ok(b) => Box::leak(b.into_boxed_slice()),
        Err(e) => {
            println!("no plot: font {font} unreadable ({e}); set WGOPT_FONT to a .ttf file");
            return Ok(());
        }
    };
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{font} is not a usable font"))?;
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, 2));
    // Time starts below a second, so its log axis shows 1 + milliseconds.
    for (p, (axis, pick)) in panels.iter().zip([
        (
            "iterations",
            (|t: &(f64, f64, f64)| t.0) as fn(&(f64, f64, f64)) -> f64,
        ),
        ("1 + milliseconds", |t: &(f64, f64, f64)| 1.0 + 1000.0 * t.1),
    ]) {
        let xmax = series
            .iter()
            .flat_map(|s| s.1.iter().map(pick))
            .fold(1e-9, f64::max);
        let ymin = series
            .iter()
            .flat_map(|s| s.1.iter().map(|t| t.2))
            .fold(1.0, f64::min)
            .max(1e-16);
        let ymax = series
            .iter()
            .flat_map(|s| s.1.iter().map(|t| t.2))
            .fold(1e-16, f64::max);
        let mut chart = ChartBuilder::on(p)
            .caption(format!("L1 marginal error vs {axis}"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (1.0..xmax * 1.2).log_scale(),
                (ymin * 0.5..ymax * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc(axis)
            .y_desc("‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()?;
        for (name, trace, color) in series {
            let pts: Vec<(f64, f64)> = trace.iter().map(|t| (pick(t), t.2.max(1e-16))).collect();
            let c = *color;
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("wrote {path}");
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let gpu = gpu_sinkhorn(&args)?;
    let (sinkhorn, sns, gpu_sns) = sns_experiment(&args)?;
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    plot(
        &args.out,
        &[
            ("GPU Sinkhorn, point clouds (f32)", &gpu, BLUE),
            ("CPU Sinkhorn, assignment (f64)", &sinkhorn, RED),
            ("CPU SNS, assignment (f64)", &sns, GREEN),
            ("GPU SNS, assignment (f32)", &gpu_sns, MAGENTA),
        ],
    )
}
