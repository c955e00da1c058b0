//! Shared helpers of the GPU tests: one engine per test binary, seeded data, comparisons.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::OnceLock;
use wgopt_optim::{Optimizer, Schedule};
use wgopt_reference::optim::{MultiOptimizer, PerTensor, ReferenceOptimizer, Tensor};
use wgopt_scheduler::{Engine, EngineOptions, GuardConfig, ParamSet, ParamSpec};

/// Steps of every trajectory test.
pub const STEPS: usize = 100;
/// Tolerances of trajectory tests (why: see tests/parity.rs).
pub const RTOL: f32 = 2e-5;
pub const ATOL: f32 = 2e-6;

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

/// Asserts |a − b| ≤ atol + rtol·|b| elementwise, reporting the worst element. Every value must
/// be finite: a run that goes NaN or Inf on both sides fails (use [`assert_close_expecting`]
/// where a non-finite value is the expected result).
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f32], rtol: f32, atol: f32) {
    assert_close_expecting(what, gpu, reference, rtol, atol, &[]);
}

/// [`assert_close`], where the reference's non-finite values at `non_finite` (indices) are
/// expected: the GPU must hold the very same value there (NaN for NaN, +Inf for +Inf).
pub fn assert_close_expecting(
    what: &str,
    gpu: &[f32],
    reference: &[f32],
    rtol: f32,
    atol: f32,
    non_finite: &[usize],
) {
    assert_eq!(gpu.len(), reference.len(), "{what}: length");
    let mut worst = (0usize, 0f32);
    for (i, (a, b)) in gpu.iter().zip(reference).enumerate() {
        if non_finite.contains(&i) && !b.is_finite() {
            let same = (a.is_nan() && b.is_nan()) || a == b;
            assert!(same, "{what}[{i}]: gpu {a}, expected {b}");
            continue;
        }
        assert!(
            a.is_finite() && b.is_finite(),
            "{what}[{i}]: gpu {a}, reference {b}: a finite value is expected here"
        );
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

/// Every group of `p` with its config.
pub fn groups_of<C: Clone>(p: &ParamSet, cfg_of: impl Fn(&str) -> C) -> Vec<(String, C)> {
    p.layout()
        .groups
        .iter()
        .map(|g| (g.clone(), cfg_of(g)))
        .collect()
}

/// Runs `opt` and the reference side by side and compares parameters and every state field.
pub fn run_trajectory<C: PerTensor>(
    engine: &Engine,
    label: &str,
    make: impl Fn(&ParamSet, GuardConfig) -> Box<dyn Optimizer>,
    config_of_group: impl Fn(&str) -> C,
    clip: Option<f32>,
    seed: u64,
) {
    let specs = awkward_specs();
    let mut params = ParamSet::new(engine, &specs).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(seed);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    let mut opt = make(&params, guard);
    let schedule = Schedule::warmup(
        10,
        Schedule::Cosine {
            total: 90,
            floor: 0.1,
        },
    );
    opt.set_schedule(schedule.clone()).unwrap();
    let tensors = layout
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| Tensor::boxed(config_of_group(&layout.groups[s.group]), &s.shape, i).unwrap())
        .collect();
    let lens: Vec<usize> = layout.slots.iter().map(|s| s.len).collect();
    let mut reference = MultiOptimizer::new(tensors);
    reference.max_grad_norm = clip.map(|c| c as f64);
    for step in 0..STEPS {
        let grads: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 0.5)).collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        reference
            .step(schedule.multiplier(step as u64), &mut host, &grads)
            .unwrap();
    }
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(
            &format!("{label} {}", s.name),
            &gpu[i],
            &host[i],
            RTOL,
            ATOL,
        );
    }
    // States: compare every field the reference has through a checkpoint round trip of the
    // GPU state (which also proves the field names are torch's).
    let bytes = opt.save(&params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        for (field, want) in reference.fields(i) {
            let t = file.tensor(&format!("{}.{field}", s.name)).unwrap();
            let got: Vec<f32> = bytemuck::pod_collect_to_vec(t.data());
            assert_close(
                &format!("{label} {}.{field}", s.name),
                &got,
                want,
                RTOL,
                ATOL,
            );
        }
    }
    let stats = opt.stats().unwrap();
    assert_eq!(stats.applied_steps as usize, STEPS);
    assert_eq!(stats.skipped_steps, 0);
}

/// The named tensors of two checkpoints are bit-identical (a skipped step changed nothing).
#[allow(dead_code)]
pub fn assert_same_tensors(before: &[u8], after: &[u8], names: &[&str]) {
    let a = safetensors::SafeTensors::deserialize(before).unwrap();
    let b = safetensors::SafeTensors::deserialize(after).unwrap();
    for name in names {
        assert_eq!(
            a.tensor(name).unwrap().data(),
            b.tensor(name).unwrap().data(),
            "{name}"
        );
    }
}
