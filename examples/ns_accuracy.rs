//! How far Newton–Schulz's f16 and f32 iterates on the GPU land from the f64 oracle
//! (`wgopt::reference::linalg::newton_schulz`) on an n×n Gaussian gradient: the largest and
//! root-mean-square entry error, relative to the oracle's root-mean-square entry. At n = 4096
//! the normalised entries are about 2.4e-4, a few binades above f16's subnormals (6.1e-5), so
//! this is where f16 iterates are expected to hurt most.
//!
//! ```sh
//! cargo run --release --example ns_accuracy -- 1024 [4096 …]
//! ```
//! With `WGOPT_COOPERATIVE_MATRIX=1` on an adapter that has cooperative matrices, the f16 run
//! uses the tensor-core kernel.

use anyhow::{Context, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use wgopt::reference::linalg::newton_schulz;
use wgopt::solvers::{orthogonalize_with, NsSchedule, Precision};
use wgopt::Engine;

fn main() -> Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().context("sizes are whole numbers"))
        .collect::<Result<_>>()?;
    let engine = Engine::new()?;
    println!(
        "Newton–Schulz (Muon's 5 steps) on {}; tensor cores for f16: {}",
        engine.adapter(),
        engine.cooperative_f16()
    );
    println!(
        "| n | iterates | max \\|err\\| ÷ rms | rms err ÷ rms | wall s (upload, GPU, read-back) |"
    );
    println!("|---|---|---|---|---|");
    for n in if sizes.is_empty() { vec![512] } else { sizes } {
        let mut r = ChaCha8Rng::seed_from_u64(n as u64);
        let g = Array2::from_shape_fn((n, n), |_| r.random_range(-1.0f32..1.0) as f64);
        let schedule = NsSchedule::Muon;
        let oracle = newton_schulz(
            g.view(),
            &schedule.coefficients(n, n, 5),
            schedule.norm_factor(),
        );
        let rms = (oracle.iter().map(|x| x * x).sum::<f64>() / (n * n) as f64).sqrt();
        let input: Vec<f32> = g.iter().map(|&x| x as f32).collect();
        for precision in [Precision::F32, Precision::F16] {
            let start = Instant::now();
            let out = orthogonalize_with(&engine, &[(&[n, n], &input)], &schedule, 5, precision)?
                .remove(0);
            let seconds = start.elapsed().as_secs_f64();
            let (mut max, mut sq) = (0f64, 0f64);
            for (o, w) in out.iter().zip(oracle.iter()) {
                let e = (*o as f64 - w).abs();
                max = max.max(e);
                sq += e * e;
            }
            let rms_err = (sq / (n * n) as f64).sqrt();
            println!(
                "| {n} | {precision:?} | {:.2e} | {:.2e} | {seconds:.2} |",
                max / rms,
                rms_err / rms
            );
        }
    }
    Ok(())
}
