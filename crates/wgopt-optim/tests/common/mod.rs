//! Shared helpers of the GPU tests: one engine per test binary, seeded data, comparisons.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;
use wgopt_scheduler::{Engine, EngineOptions, ParamSpec};

/// The default engine. GPU tests never skip: without an adapter they fail with the setup hint.
pub fn engine() -> Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::new().unwrap_or_else(|e| panic!("{e}")))
        .clone()
}

/// An engine with tiny arena chunks (13 KiB) and at most 3 workgroups per elementwise dispatch,
/// so small tests cross chunk boundaries and run the grid-stride loop many times.
pub fn cramped_engine() -> Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        Engine::with_options(EngineOptions {
            max_chunk_bytes: Some(13312),
            max_workgroups: Some(3),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"))
    })
    .clone()
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal_vec(r: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            // Box–Muller from two uniforms.
            let u1: f32 = r.random_range(1e-7f32..1.0);
            let u2: f32 = r.random();
            scale * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect()
}

/// Awkward sizes: 1, 3, 4k+1, a 2-D matrix that is not a multiple of anything, a vector
/// longer than one workgroup's stride, and one larger than a cramped engine's chunk (split into
/// pieces there); over two groups.
pub fn awkward_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w0", &[17, 33], "decay"),
        ParamSpec::new("s", &[1], "no_decay"),
        ParamSpec::new("b0", &[3], "no_decay"),
        ParamSpec::new("w1", &[5, 4 * 64 + 1], "decay"),
        ParamSpec::new("long", &[4 * 256 * 3 + 1], "decay"),
        ParamSpec::new("g", &[13], "no_decay"),
        ParamSpec::new("big", &[5001], "decay"),
    ]
}

/// Asserts |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst element.
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f32], rtol: f32, atol: f32) {
    assert_eq!(gpu.len(), reference.len(), "{what}: length");
    let mut worst = (0usize, 0f32);
    for (i, (a, b)) in gpu.iter().zip(reference).enumerate() {
        assert!(a.is_finite() == b.is_finite(), "{what}[{i}]: {a} vs {b}");
        let excess = (a - b).abs() - (atol + rtol * b.abs());
        if excess > worst.1 {
            worst = (i, excess);
        }
    }
    let i = worst.0;
    assert!(
        worst.1 <= 0.0,
        "{what}[{i}]: gpu {} vs reference {} (rtol {rtol}, atol {atol})",
        gpu[i],
        reference[i]
    );
}
