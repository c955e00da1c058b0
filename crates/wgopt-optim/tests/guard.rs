//! The step guard on the GPU vs `wgopt_reference::guard`: global and per-parameter norms,
//! clipping, skip-on-non-finite with nothing changed, and more than 65535 reduction tiles.
//!
//! Tolerances: norms rtol 1e-5 — the GPU sums squares (and absolute values, for the ℓ1 norm
//! from the same pass, `shaders/reduce/tile_sumsq.wgsl` and `guard_finalize.wgsl`) in f32
//! within tiles (fixed order) and Kahan-compensated across them; the reference sums in f64.

mod common;
use common::*;
use wgopt_optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use wgopt_reference::guard;
use wgopt_reference::optim::MultiOptimizer;
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec};

fn snapshot(params: &ParamSet, opt: &mut dyn Optimizer) -> (Vec<Vec<f32>>, Vec<u8>) {
    (
        params.read_params_by_slot().unwrap(),
        opt.save(params).unwrap(),
    )
}

#[test]
fn norms_and_clip_match_reference() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &awkward_specs()).unwrap();
    let mut r = rng(7);
    let grads: Vec<Vec<f32>> = params
        .layout()
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 3.0))
        .collect();
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    params.write_grads_by_slot(&refs).unwrap();
    let mut opt = Adam::all(&params, AdamConfig::adamw()).unwrap();
    opt.set_guard(GuardConfig {
        max_grad_norm: Some(1.0),
        skip_non_finite: true,
    })
    .unwrap();
    opt.step(&mut params).unwrap();
    let stats = opt.stats().unwrap();
    let want = guard::decide(refs.iter().copied(), Some(1.0), true);
    assert!((stats.grad_norm as f64 - want.grad_norm).abs() <= 1e-5 * want.grad_norm);
    assert!(
        (stats.grad_norm_l1 as f64 - want.grad_norm_l1).abs() <= 1e-5 * want.grad_norm_l1,
        "ℓ1 {} vs {}",
        stats.grad_norm_l1,
        want.grad_norm_l1
    );
    assert!((stats.clip_coef - want.clip_coef).abs() <= 1e-5 * want.clip_coef);
    assert_eq!(stats.found_inf, 0);
    let per_param = opt.param_grad_norms().unwrap();
    for (g, n) in refs.iter().zip(&per_param) {
        let want = guard::sum_of_squares(g).sqrt();
        assert!((*n as f64 - want).abs() <= 1e-5 * want, "{n} vs {want}");
    }
}

#[test]
fn nan_and_inf_skip_the_step_and_change_nothing() {
    let engine = engine();
    let specs = awkward_specs();
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(9);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let cfg = AdamConfig {
        lr: 1e-2,
        amsgrad: true,
        ..AdamConfig::adamw()
    };
    let mut opt = Adam::all(&params, cfg).unwrap();
    let lens: Vec<usize> = layout.slots.iter().map(|s| s.len).collect();
    let mut reference =
        MultiOptimizer::uniform(cfg, &lens.iter().map(|&l| vec![l]).collect::<Vec<_>>()).unwrap();
    let mut step =
        |params: &mut ParamSet, opt: &mut Adam, grads: &[Vec<f32>], host: &mut Vec<Vec<f32>>| {
            let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
            params.write_grads_by_slot(&refs).unwrap();
            opt.step(params).unwrap();
            reference.step(1.0, host, grads).unwrap()
        };
    // Two good steps, so the state is not trivially zero.
    for _ in 0..2 {
        let g: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 1.0)).collect();
        step(&mut params, &mut opt, &g, &mut host);
    }
    let before = snapshot(&params, &mut opt);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut g: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 1.0)).collect();
        let last = g.len() - 1;
        let k = g[last].len() / 2;
        g[last][k] = bad;
        let decision = step(&mut params, &mut opt, &g, &mut host);
        assert!(decision.skip);
    }
    // The host has not read the stats: it still expects step 6, the GPU applied 2. The next
    // good step must use t = 3 (kernel-side fallback), like the reference.
    let g: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 1.0)).collect();
    let after_skips = {
        let s = opt.stats().unwrap();
        assert_eq!((s.applied_steps, s.skipped_steps, s.found_inf), (2, 3, 1));
        // Reading stats resynchronises; take a snapshot of params only (save would also read).
        params.read_params_by_slot().unwrap()
    };
    for (a, b) in after_skips.iter().zip(&before.0) {
        assert_eq!(a, b, "parameters changed by a skipped step");
    }
    assert_eq!(opt.save(&params).unwrap().len(), before.1.len());
    let state_now = opt.save(&params).unwrap();
    let t_before = safetensors::SafeTensors::deserialize(&before.1).unwrap();
    let t_now = safetensors::SafeTensors::deserialize(&state_now).unwrap();
    for (name, view) in t_before.tensors() {
        assert_eq!(
            view.data(),
            t_now.tensor(&name).unwrap().data(),
            "{name} changed"
        );
    }
    step(&mut params, &mut opt, &g, &mut host);
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(&s.name, &gpu[i], &host[i], 2e-5, 2e-6);
    }
}

/// A skip the host never reads: bias corrections fall back to the GPU's own step count.
#[test]
fn unread_skip_uses_gpu_step_count() {
    let engine = engine();
    let specs = vec![ParamSpec::new("w", &[37], "all")];
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let mut r = rng(11);
    let mut host = vec![normal_vec(&mut r, 37, 1.0)];
    params.write_param("w", &host[0]).unwrap();
    let cfg = AdamConfig {
        lr: 1e-2,
        ..AdamConfig::adamw()
    };
    let mut opt = Adam::all(&params, cfg).unwrap();
    let mut reference = MultiOptimizer::uniform(cfg, &[vec![37]]).unwrap();
    for i in 0..6 {
        let mut g = vec![normal_vec(&mut r, 37, 1.0)];
        if i == 1 {
            g[0][5] = f32::NAN;
        }
        params.write_grad("w", &g[0]).unwrap();
        opt.step(&mut params).unwrap();
        reference.step(1.0, &mut host, &g).unwrap();
    }
    // rtol 1e-5: after the skip the kernel uses f32 pow for the bias corrections.
    assert_close("w", &params.read_param("w").unwrap(), &host[0], 1e-5, 2e-6);
}

/// 70 000 one-element parameters: more than 65535 reduction tiles (2-D dispatch grid) and
/// many tiny segments in one elementwise dispatch.
#[test]
fn many_tiny_parameters_over_65535_workgroups() {
    let engine = engine();
    let n = 70_000;
    let specs: Vec<ParamSpec> = (0..n)
        .map(|i| ParamSpec::new(format!("p{i}"), &[1], "g"))
        .collect();
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let mut r = rng(13);
    let grads: Vec<Vec<f32>> = (0..n).map(|_| normal_vec(&mut r, 1, 1.0)).collect();
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    params.write_grads_by_slot(&refs).unwrap();
    let cfg = SgdConfig {
        lr: 0.5,
        momentum: 0.9,
        ..Default::default()
    };
    let mut opt = Sgd::all(&params, cfg).unwrap();
    opt.set_guard(GuardConfig {
        max_grad_norm: Some(10.0),
        skip_non_finite: true,
    })
    .unwrap();
    opt.step(&mut params).unwrap();
    let stats = opt.stats().unwrap();
    let want = guard::decide(refs.iter().copied(), Some(10.0), true);
    assert!((stats.grad_norm as f64 - want.grad_norm).abs() <= 1e-5 * want.grad_norm);
    let got = params.read_params_by_slot().unwrap();
    for i in (0..n).step_by(997).chain([n - 1]) {
        let expect = -0.5f32 * (grads[i][0] * want.clip_coef);
        assert!(
            (got[i][0] - expect).abs() <= 1e-5 * expect.abs() + 1e-7,
            "p{i}: {} vs {expect}",
            got[i][0]
        );
    }
}
