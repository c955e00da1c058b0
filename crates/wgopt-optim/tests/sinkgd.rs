//! SinkGD on the GPU (scale-vector trick) vs the reference (explicit normalisation in f64):
//! 50-step trajectories on awkward shapes (tall, wide, 1×n, 3-D batch, 4-D conv), two groups,
//! clipping; NaN skips; zero gradients; bad shapes. Kernels exercised: optim/sinkgd_rows.wgsl,
//! optim/sinkgd_cols.wgsl and optim/sinkgd_apply.wgsl.
//!
//! Tolerance: atol 2e-6 on parameters. Each step moves an entry by lr_s·|X| ≈ 1e-3·O(1); the
//! GPU's X carries f32 error ~1e-6 relative (two passes of f32 sums per iteration), so per step
//! ~1e-9, well under 2e-6 after 50 steps.

mod common;
use common::*;
use wgopt_optim::{Optimizer, SinkGd, SinkGdConfig};
use wgopt_reference::guard;
use wgopt_reference::optim::sinkgd;
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("tall", &[300, 17], "a"),
        ParamSpec::new("wide", &[9, 70], "a"),
        ParamSpec::new("row", &[1, 9], "b"),
        ParamSpec::new("batch", &[3, 8, 12], "b"),
        ParamSpec::new("conv", &[4, 2, 3, 3], "a"),
    ]
}

#[test]
fn sinkgd_trajectory_matches_reference() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &specs()).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(80);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let a = SinkGdConfig {
        weight_decay: 0.1,
        ..Default::default()
    };
    let b = SinkGdConfig {
        lr: 0.05,
        ..Default::default()
    };
    let clip = Some(3.0f32);
    let mut opt = SinkGd::new(
        &params,
        &[("a".into(), a), ("b".into(), b)],
        GuardConfig {
            max_grad_norm: clip,
            skip_non_finite: true,
        },
    )
    .unwrap();
    let before = host.clone();
    for step in 0..50 {
        let mut grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 1.0))
            .collect();
        if step == 7 {
            grads[2][4] = f32::INFINITY;
        }
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let d = guard::decide(refs.iter().copied(), clip.map(f64::from), true);
        assert_eq!(d.skip, step == 7);
        if d.skip {
            continue;
        }
        for (i, s) in layout.slots.iter().enumerate() {
            let cfg = if layout.groups[s.group] == "a" { a } else { b };
            sinkgd::step(
                &cfg,
                cfg.lr,
                &s.shape,
                &mut host[i],
                &guard::clipped(&grads[i], d.clip_coef),
            )
            .unwrap();
        }
    }
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(&s.name, &gpu[i], &host[i], 0.0, 2e-6);
        let moved: f32 = gpu[i]
            .iter()
            .zip(&before[i])
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / s.len as f32;
        assert!(moved > 1e-3, "{} barely moved", s.name);
    }
    let s = opt.stats().unwrap();
    assert_eq!((s.applied_steps, s.skipped_steps), (49, 1));
}

#[test]
fn zero_gradient_and_bad_shapes() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[5, 6], "g")]).unwrap();
    params.write_param("w", &[0.5f32; 30]).unwrap();
    let mut opt = SinkGd::new(
        &params,
        &[("g".into(), SinkGdConfig::default())],
        GuardConfig::default(),
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    assert_eq!(params.read_param("w").unwrap(), vec![0.5f32; 30]);
    let p1 = ParamSet::new(&engine(), &[ParamSpec::new("b", &[5], "g")]).unwrap();
    let e = SinkGd::new(
        &p1,
        &[("g".into(), SinkGdConfig::default())],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "b"),
        "{e}"
    );
}
