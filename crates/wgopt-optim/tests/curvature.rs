//! Sophia (G and H) and AdaHessian on the GPU (shaders/optim/sophia.wgsl, sophia_hessian.wgsl,
//! adahessian.wgsl, adahessian_blocks.wgsl) against the reference: 100-step trajectories with
//! Hessian updates every k steps (Sophia) or Hutchinson samples every step (AdaHessian),
//! first-step identities, win rate, and bad input (out-of-order calls, NaN estimates, bad
//! hyperparameters). Tolerance as in tests/parity.rs (rtol 2e-5, atol 2e-6, and why).

mod common;
use common::*;
use wgopt_optim::{AdaHessian, AdaHessianConfig, Optimizer, Sophia, SophiaConfig};
use wgopt_reference::optim::{adahessian, MultiOptimizer, ReferenceOptimizer, SophiaState, Tensor};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn read_state(opt: &mut dyn Optimizer, params: &ParamSet, key: &str) -> Vec<f32> {
    let bytes = opt.save(params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    bytemuck::pod_collect_to_vec(file.tensor(key).unwrap().data())
}

fn sophia_trajectory(base: SophiaConfig, clip: Option<f32>, seed: u64) {
    let engine = engine();
    let specs = awkward_specs();
    let mut params = ParamSet::new(&engine, &specs).unwrap();
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
    let cfg_of = |g: &str| {
        if g == "no_decay" {
            SophiaConfig {
                weight_decay: 0.0,
                lr: base.lr * 0.5,
                ..base
            }
        } else {
            base
        }
    };
    let groups: Vec<(String, SophiaConfig)> = layout
        .groups
        .iter()
        .map(|g| (g.clone(), cfg_of(g)))
        .collect();
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    let mut opt = Sophia::with_seed(&params, &groups, guard, seed).unwrap();
    let lens: Vec<usize> = layout.slots.iter().map(|s| s.len).collect();
    let tensors = layout
        .slots
        .iter()
        .enumerate()
        .map(|(i, s)| Tensor::boxed(cfg_of(&layout.groups[s.group]), &s.shape, i).unwrap())
        .collect();
    let mut reference = MultiOptimizer::new(tensors);
    reference.max_grad_norm = clip.map(|c| c as f64);
    let mut updates = 0;
    for _ in 0..STEPS {
        let grads: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 0.5)).collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        reference.step(1.0, &mut host, &grads).unwrap();
        if opt.hessian_due() {
            updates += 1;
            let probes = match base.estimator {
                wgopt_optim::SophiaEstimator::Hutchinson => {
                    Some(opt.probes().unwrap().read(&engine).unwrap())
                }
                wgopt_optim::SophiaEstimator::Gnb => None,
            };
            // The estimate: ĝ (G) or Hu (H), here any seeded vector of the right shape.
            let est: Vec<Vec<f32>> = lens.iter().map(|&n| normal_vec(&mut r, n, 0.3)).collect();
            let refs: Vec<&[f32]> = est.iter().map(|g| &g[..]).collect();
            params.write_grads_by_slot(&refs).unwrap();
            opt.update_hessian(&mut params).unwrap();
            reference.update_hessian(&est, probes.as_deref()).unwrap();
        }
    }
    assert_eq!(updates, STEPS / base.update_interval as usize);
    let label = format!("{} {base:?} clip={clip:?}", opt.name());
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(
            &format!("{label} {}", s.name),
            &gpu[i],
            &host[i],
            RTOL,
            ATOL,
        );
        for (field, want) in reference.fields(i) {
            let got = read_state(&mut opt, &params, &format!("{}.{field}", s.name));
            assert_close(
                &format!("{label} {}.{field}", s.name),
                &got,
                want,
                RTOL,
                ATOL,
            );
        }
    }
    // The win rate the GPU optimizer reports is the reference's on the same states.
    let states: Vec<SophiaState> = (0..layout.slots.len())
        .map(|i| {
            let f: std::collections::HashMap<_, _> = reference.fields(i).into_iter().collect();
            SophiaState {
                exp_avg: f["exp_avg"].to_vec(),
                hessian: f["hessian"].to_vec(),
                ..SophiaState::new(0)
            }
        })
        .collect();
    let refs: Vec<&SophiaState> = states.iter().collect();
    let want = wgopt_reference::optim::sophia::win_rate(&cfg_of("decay"), &refs);
    let got = opt.win_rate(&params).unwrap();
    assert!(
        (got - want).abs() < 1e-3,
        "{label}: win rate {got} vs {want}"
    );
    assert!(
        got > 0.0 && got < 1.0,
        "{label}: a degenerate win rate {got} tests nothing"
    );
    let hs = opt.hessian_stats().unwrap();
    assert_eq!(hs.applied_steps as usize, updates);
}

#[test]
fn sophia_g_trajectories() {
    let base = SophiaConfig {
        lr: 1e-2,
        rho: 0.05,
        bs: 20.0,
        ..SophiaConfig::g()
    };
    sophia_trajectory(base, None, 700);
    sophia_trajectory(
        SophiaConfig {
            maximize: true,
            update_interval: 5,
            ..base
        },
        Some(4.0),
        701,
    );
}

#[test]
fn sophia_h_trajectories() {
    let base = SophiaConfig {
        lr: 1e-2,
        rho: 1.0,
        ..SophiaConfig::h()
    };
    sophia_trajectory(base, None, 710);
    sophia_trajectory(
        SophiaConfig {
            update_interval: 4,
            ..base
        },
        Some(4.0),
        711,
    );
}

/// Before the first Hessian update h = 0, so every coordinate moves by exactly lr·sign(m)
/// (spec validation target 5).
#[test]
fn sophia_before_first_hessian_update_moves_lr_sign_m() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[41], "all")]).unwrap();
    let mut r = rng(9);
    let p0 = normal_vec(&mut r, 41, 1.0);
    params.write_param("w", &p0).unwrap();
    let mut opt = Sophia::all(
        &params,
        SophiaConfig {
            lr: 0.01,
            weight_decay: 0.0,
            ..SophiaConfig::g()
        },
    )
    .unwrap();
    let mut p = p0;
    let mut m = [0f32; 41];
    for step in 0..3 {
        let g = normal_vec(&mut r, 41, 1.0);
        params.write_grad("w", &g).unwrap();
        opt.step(&mut params).unwrap();
        let got = params.read_param("w").unwrap();
        for i in 0..41 {
            m[i] = 0.965 * m[i] + 0.035 * g[i];
            let moved = (got[i] - p[i]).abs();
            assert!(
                (moved - 0.01).abs() < 1e-6,
                "step {step} [{i}] moved {moved}"
            );
            assert_eq!((p[i] - got[i]).signum(), m[i].signum());
        }
        p = got;
    }
}

#[test]
fn sophia_bad_input() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[8], "all")]).unwrap();
    let mut h = Sophia::all(&params, SophiaConfig::h()).unwrap();
    // SophiaH before any probes.
    assert!(matches!(
        h.update_hessian(&mut params),
        Err(Error::OutOfOrder(_))
    ));
    let mut g = Sophia::all(&params, SophiaConfig::g()).unwrap();
    assert!(g.probes().is_err(), "SophiaG takes no probes");
    // A wrong-length estimate is refused before it reaches the GPU.
    assert!(matches!(
        params.write_grad("w", &[1.0f32; 7]),
        Err(Error::ShapeMismatch { .. })
    ));
    // A NaN estimate leaves the Hessian untouched.
    params.write_grad("w", &[0.5f32; 8]).unwrap();
    g.update_hessian(&mut params).unwrap();
    let before = read_state(&mut g, &params, "w.hessian");
    assert!(before.iter().all(|&x| x > 0.0));
    let mut bad = [0.5f32; 8];
    bad[3] = f32::NAN;
    params.write_grad("w", &bad).unwrap();
    g.update_hessian(&mut params).unwrap();
    assert_eq!(read_state(&mut g, &params, "w.hessian"), before);
    let s = g.hessian_stats().unwrap();
    assert_eq!((s.applied_steps, s.skipped_steps), (1, 1));
    // Bad hyperparameters.
    for bad in [
        SophiaConfig {
            rho: -1.0,
            ..SophiaConfig::g()
        },
        SophiaConfig {
            bs: 0.0,
            ..SophiaConfig::g()
        },
        SophiaConfig {
            update_interval: 0,
            ..SophiaConfig::g()
        },
        SophiaConfig {
            betas: (0.9, 1.0),
            ..SophiaConfig::g()
        },
    ] {
        assert!(matches!(
            Sophia::all(&params, bad),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
}

/// 100 AdaHessian steps on a conv-shaped weight (kernel-window averaging), a matrix, a vector
/// and, in a second group, a configured block size; Hz is a seeded vector each step.
#[test]
fn adahessian_trajectories() {
    let engine = engine();
    let specs = vec![
        ParamSpec::new("conv", &[4, 3, 3, 3], "a"),
        ParamSpec::new("w", &[17, 33], "a"),
        ParamSpec::new("b", &[7], "a"),
        ParamSpec::new("blocked", &[10, 13], "b"),
        ParamSpec::new("conv5", &[2, 2, 5, 5], "b"),
    ];
    for (seed, power, wd, clip) in [(800, 1.0, 0.0, None), (801, 0.5, 1e-3, Some(3.0))] {
        let mut params = ParamSet::new(&engine, &specs).unwrap();
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
        let cfg_a = AdaHessianConfig {
            lr: 0.05,
            hessian_power: power,
            weight_decay: wd,
            ..AdaHessianConfig::default()
        };
        let cfg_b = AdaHessianConfig {
            block_size: Some(4),
            lr: 0.02,
            ..cfg_a
        };
        let cfg_of = |g: &str| if g == "a" { cfg_a } else { cfg_b };
        let groups = vec![("a".to_string(), cfg_a), ("b".to_string(), cfg_b)];
        let guard = GuardConfig {
            max_grad_norm: clip,
            skip_non_finite: true,
        };
        let mut opt = AdaHessian::with_seed(&params, &groups, guard, seed).unwrap();
        let mut states: Vec<_> = layout
            .slots
            .iter()
            .map(|s| adahessian::AdaHessianState::new(s.len))
            .collect();
        for _ in 0..STEPS {
            let z = opt.probes().unwrap().read(&engine).unwrap();
            assert!(z.iter().flatten().all(|&x| x == 1.0 || x == -1.0));
            let grads: Vec<Vec<f32>> = layout
                .slots
                .iter()
                .map(|s| normal_vec(&mut r, s.len, 0.5))
                .collect();
            let hz: Vec<Vec<f32>> = layout
                .slots
                .iter()
                .map(|s| normal_vec(&mut r, s.len, 2.0))
                .collect();
            let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
            params.write_grads_by_slot(&refs).unwrap();
            for (s, h) in layout.slots.iter().zip(&hz) {
                opt.write_hvp(&params, &s.name, h).unwrap();
            }
            opt.step(&mut params).unwrap();
            let coef = match clip {
                Some(c) => {
                    let norm = grads
                        .iter()
                        .flatten()
                        .map(|&x| (x as f64).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    (c as f64 / (norm + 1e-6)).min(1.0) as f32
                }
                None => 1.0,
            };
            for (i, s) in layout.slots.iter().enumerate() {
                let g: Vec<f32> = grads[i].iter().map(|&x| x * coef).collect();
                let cfg = cfg_of(&layout.groups[s.group]);
                adahessian::step(
                    &cfg,
                    cfg.lr,
                    &s.shape,
                    &mut host[i],
                    &g,
                    &hz[i],
                    &mut states[i],
                )
                .unwrap();
            }
        }
        let gpu = params.read_params_by_slot().unwrap();
        for (i, s) in layout.slots.iter().enumerate() {
            let label = format!("adahessian power={power} {}", s.name);
            assert_close(&label, &gpu[i], &host[i], RTOL, ATOL);
            let v = read_state(
                &mut opt,
                &params,
                &format!("{}.exp_hessian_diag_sq", s.name),
            );
            assert_close(
                &format!("{label}.v"),
                &v,
                &states[i].exp_hessian_diag_sq,
                RTOL,
                1e-6,
            );
        }
    }
}

#[test]
fn adahessian_bad_input() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[3, 2, 2, 2], "all")]).unwrap();
    for bad in [-0.5, 1.5, f64::NAN] {
        let cfg = AdaHessianConfig {
            hessian_power: bad,
            ..AdaHessianConfig::default()
        };
        assert!(matches!(
            AdaHessian::all(&params, cfg),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
    let mut opt = AdaHessian::all(&params, AdaHessianConfig::default()).unwrap();
    params.write_grad("w", &[0.1f32; 24]).unwrap();
    assert!(matches!(opt.step(&mut params), Err(Error::OutOfOrder(_))));
    assert!(matches!(
        opt.write_hvp(&params, "w", &[1.0; 5]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        opt.write_hvp(&params, "nope", &[1.0; 24]),
        Err(Error::UnknownParameter(_))
    ));
    // A NaN in Hz skips the step: parameter and state unchanged.
    let p0 = params.read_param("w").unwrap();
    opt.probes().unwrap();
    let mut hz = [0.3f32; 24];
    hz[11] = f32::INFINITY;
    opt.write_hvp(&params, "w", &hz).unwrap();
    opt.step(&mut params).unwrap();
    assert_eq!(params.read_param("w").unwrap(), p0);
    let s = opt.stats().unwrap();
    assert_eq!((s.applied_steps, s.skipped_steps), (0, 1));
    assert!(read_state(&mut opt, &params, "w.exp_avg")
        .iter()
        .all(|&x| x == 0.0));
}
