//! Sketch-and-precondition least squares on the GPU against dense Householder QR (faer, f64,
//! on the CPU): for a few tall problems, time and accuracy of each sketch (SRHT, CountSketch,
//! Gaussian) next to QR's.
//!
//! Run: `cargo run --release --example lstsq [-- --m 16384 --n 256 --kappa 1e3]`.

use anyhow::Result;
use clap::Parser;
use std::time::Instant;
use wgopt::reference::sketch::dense::qr_lstsq;
use wgopt::reference::sketch::SketchKind;
use wgopt::solvers::lstsq::{sketch_precondition_lstsq, LstsqOptions};
use wgopt::Engine;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 8192)]
    m: usize,
    #[arg(long, default_value_t = 256)]
    n: usize,
    /// Condition number of A (singular values log-spaced from 1 to 1/κ, approximately).
    #[arg(long, default_value_t = 1e3)]
    kappa: f64,
    /// Target of ‖Aᵀr‖/(‖A‖_F‖r‖) (or ‖r‖/‖b‖): the goal is 1e-8.
    #[arg(long, default_value_t = 1e-8)]
    tol: f64,
}

/// A = (random signs) with columns scaled geometrically: κ(A) ≈ kappa, cheap to build.
fn matrix(m: usize, n: usize, kappa: f64) -> Vec<f32> {
    let mut s = 12345u64;
    (0..m * n)
        .map(|e| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            v * kappa.powf(-((e % n) as f64) / (n - 1).max(1) as f64) as f32
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (m, n) = (args.m, args.n);
    let engine = Engine::new()?;
    println!(
        "least squares {m}×{n}, κ ≈ {:e}, on {}",
        args.kappa,
        engine.adapter()
    );
    let a = matrix(m, n, args.kappa);
    let b: Vec<f32> = (0..m)
        .map(|i| ((i * 31 % 97) as f32 / 97.0) - 0.5)
        .collect();
    let a64 = ndarray::Array2::from_shape_fn((m, n), |(i, j)| a[i * n + j] as f64);
    let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    let t = Instant::now();
    let x_qr = qr_lstsq(a64.view(), &b64)?;
    let qr_s = t.elapsed().as_secs_f64();
    let xn = x_qr.iter().map(|v| v * v).sum::<f64>().sqrt();
    println!("\n| method | seconds | ÷ dense QR | LSQR iterations | ‖Aᵀr‖/(‖A‖‖r‖) | ‖x − x_QR‖/‖x_QR‖ |\n|---|---|---|---|---|---|");
    println!("| dense QR (faer, f64, CPU) | {qr_s:.3} | 1.00 | – | – | 0 |");
    for kind in [
        SketchKind::Srht,
        SketchKind::CountSketch,
        SketchKind::Gaussian,
    ] {
        let t = Instant::now();
        let r = sketch_precondition_lstsq(
            &engine,
            &a,
            &b,
            m,
            n,
            &LstsqOptions {
                kind,
                seed: 1,
                tol: args.tol,
                ..Default::default()
            },
        )?;
        let s = t.elapsed().as_secs_f64();
        let err =
            r.x.iter()
                .zip(&x_qr)
                .map(|(p, q)| (p - q).powi(2))
                .sum::<f64>()
                .sqrt()
                / xn;
        println!(
            "| {kind:?} sketch + GPU LSQR (sketch {:.3} s, {:?} of S·A {:.3} s, LSQR {:.3} s) | {s:.3} | {:.2} | {} | {:.1e} | {err:.1e} |",
            r.sketch_seconds, r.factor, r.factor_seconds, r.solve_seconds, s / qr_s, r.iterations, r.normal_residual
        );
    }
    Ok(())
}
