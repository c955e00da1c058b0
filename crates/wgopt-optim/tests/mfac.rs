//! M-FAC on the GPU (shaders/optim/mfac_common.wgsl, mfac_insert.wgsl, mfac_dots.wgsl,
//! mfac_setup.wgsl, mfac_apply.wgsl) against the f64
//! reference: a 100-step trajectory with a window of 8 (so the ring wraps twelve times), two
//! groups with different lr, decay and momentum, and global clipping; the first step's closed
//! form; bad input.
//!
//! Tolerance: rtol 2e-4, atol 2e-6. The GPU runs the m×m Sherman–Morrison recursion in f32 (as
//! the authors' CUDA code does) while the oracle is f64; the error grows with the window's
//! conditioning (λ = 0.1 against ‖g‖²/m ≈ 60 here, κ ≈ 600). Measured after 40 steps (the first version of this test): worst
//! element 2.5e-8 absolute on a value of 2.8e-4 (9e-5 relative).

mod common;
use common::*;
use wgopt_optim::{Mfac, MfacConfig, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::optim::mfac::{self, MfacState};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w", &[17, 33], "a"),
        ParamSpec::new("b", &[7], "b"),
        ParamSpec::new("v", &[1001], "a"),
    ]
}

#[test]
fn mfac_trajectory_matches_reference() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &specs()).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(77);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let cfg_a = MfacConfig {
        lr: 1e-2,
        ngrads: 8,
        damp: 0.1,
        weight_decay: 1e-2,
        momentum: 0.5,
    };
    let cfg_b = MfacConfig {
        lr: 5e-3,
        weight_decay: 0.0,
        momentum: 0.0,
        ..cfg_a
    };
    let groups = vec![("a".to_string(), cfg_a), ("b".to_string(), cfg_b)];
    let clip = 20.0;
    let g = GuardConfig {
        max_grad_norm: Some(clip),
        skip_non_finite: true,
    };
    let mut opt = Mfac::new(&params, &groups, g).unwrap();
    // The oracle flattens the optimizer's parameters in layout order; per-group lr, decay and
    // momentum are applied per element through one reference step per group over its slice of
    // the shared preconditioned direction, which `mfac::ihvp` gives for the whole vector.
    let d: usize = layout.slots.iter().map(|s| s.len).sum();
    let mut st = MfacState::new(d, &cfg_a);
    let mut v = vec![0f32; d];
    for _ in 0..STEPS {
        let grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 0.5))
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|x| &x[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let decision = guard::decide(grads.iter().map(|x| &x[..]), Some(clip as f64), true);
        st.step += 1;
        let row = ((st.step - 1) % 8) as usize;
        let mut ge = Vec::with_capacity(d);
        let mut cfgs = Vec::with_capacity(d);
        for (i, s) in layout.slots.iter().enumerate() {
            let cfg = if layout.groups[s.group] == "a" {
                cfg_a
            } else {
                cfg_b
            };
            for j in 0..s.len {
                let gj = grads[i][j] * decision.clip_coef;
                ge.push((gj + cfg.weight_decay as f32 * host[i][j]) as f64);
                cfgs.push(cfg);
            }
        }
        st.grads[row] = ge.clone();
        let u = mfac::ihvp(&st.grads, cfg_a.damp, &ge);
        let mut e = 0;
        for hp in host.iter_mut() {
            for x in hp.iter_mut() {
                let cfg = cfgs[e];
                let mut ue = u[e] as f32;
                if cfg.momentum > 0.0 {
                    v[e] = cfg.momentum as f32 * v[e] + (1.0 - cfg.momentum) as f32 * ue;
                    ue = v[e];
                }
                *x += (-cfg.lr) as f32 * ue;
                e += 1;
            }
        }
    }
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(&format!("mfac {}", s.name), &gpu[i], &host[i], 2e-4, 2e-6);
    }
    assert_eq!(opt.stats().unwrap().applied_steps as usize, STEPS);
}

/// Step 1: the window holds only g, so F = λI + ggᵀ/m and F⁻¹g = g/(λ + ‖g‖²/m).
#[test]
fn mfac_first_step_closed_form() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[300], "all")]).unwrap();
    let mut r = rng(3);
    let p0 = normal_vec(&mut r, 300, 1.0);
    params.write_param("w", &p0).unwrap();
    let cfg = MfacConfig {
        lr: 0.1,
        ngrads: 16,
        damp: 1e-3,
        ..MfacConfig::default()
    };
    let mut opt = Mfac::all(&params, cfg).unwrap();
    let g = normal_vec(&mut r, 300, 0.1);
    params.write_grad("w", &g).unwrap();
    opt.step(&mut params).unwrap();
    let norm2: f64 = g.iter().map(|x| (*x as f64).powi(2)).sum();
    let scale = 0.1 / (1e-3 + norm2 / 16.0);
    let want: Vec<f32> = p0
        .iter()
        .zip(&g)
        .map(|(p, g)| (*p as f64 - scale * *g as f64) as f32)
        .collect();
    assert_close(
        "mfac step 1",
        &params.read_param("w").unwrap(),
        &want,
        1e-4,
        1e-6,
    );
}

#[test]
fn mfac_bad_input() {
    let engine = engine();
    let params = ParamSet::new(&engine, &specs()).unwrap();
    for bad in [
        MfacConfig {
            ngrads: 0,
            ..MfacConfig::default()
        },
        MfacConfig {
            damp: 0.0,
            ..MfacConfig::default()
        },
        MfacConfig {
            momentum: 1.0,
            ..MfacConfig::default()
        },
    ] {
        assert!(matches!(
            Mfac::all(&params, bad),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
    // Groups must share the window.
    let groups = vec![
        (
            "a".to_string(),
            MfacConfig {
                ngrads: 8,
                ..MfacConfig::default()
            },
        ),
        (
            "b".to_string(),
            MfacConfig {
                ngrads: 16,
                ..MfacConfig::default()
            },
        ),
    ];
    assert!(Mfac::new(&params, &groups, GuardConfig::default()).is_err());
    // A window larger than a storage binding is refused before anything is allocated.
    let huge = MfacConfig {
        ngrads: 1 << 20,
        ..MfacConfig::default()
    };
    assert!(matches!(
        Mfac::all(&params, huge),
        Err(Error::OverLimit { .. })
    ));
    // Parameters over several chunks are refused.
    let cramped = cramped_engine();
    let split = ParamSet::new(&cramped, &[ParamSpec::new("x", &[5000], "a")]).unwrap();
    assert!(matches!(
        Mfac::all(
            &split,
            MfacConfig {
                ngrads: 2,
                ..MfacConfig::default()
            }
        ),
        Err(Error::OverLimit { .. })
    ));
    // A NaN gradient changes nothing.
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[9], "all")]).unwrap();
    params.write_param("w", &[0.5f32; 9]).unwrap();
    let mut opt = Mfac::all(
        &params,
        MfacConfig {
            ngrads: 4,
            damp: 0.1,
            ..MfacConfig::default()
        },
    )
    .unwrap();
    let mut bad = [0.1f32; 9];
    bad[2] = f32::NAN;
    params.write_grad("w", &bad).unwrap();
    opt.step(&mut params).unwrap();
    assert_eq!(params.read_param("w").unwrap(), vec![0.5f32; 9]);
    assert!(opt.read_window().unwrap().iter().all(|&x| x == 0.0));
}

/// Save after 11 steps, load into a fresh optimizer, continue: bit-identical to 22
/// uninterrupted steps (same device, same kernels), and a checkpoint for another window size
/// is refused.
#[test]
fn mfac_checkpoint_resume() {
    let engine = engine();
    let cfg = MfacConfig {
        lr: 1e-2,
        ngrads: 4,
        damp: 0.1,
        momentum: 0.5,
        ..MfacConfig::default()
    };
    let run = |split: bool| {
        let mut params = ParamSet::new(&engine, &specs()).unwrap();
        let layout = params.layout().clone();
        let mut r = rng(8);
        for s in &layout.slots {
            params
                .write_param(&s.name, &normal_vec(&mut r, s.len, 1.0))
                .unwrap();
        }
        let mut opt = Mfac::all(&params, cfg).unwrap();
        for step in 0..22 {
            if split && step == 11 {
                let bytes = opt.save(&params).unwrap();
                opt = Mfac::all(&params, cfg).unwrap();
                opt.load(&params, &bytes).unwrap();
                let other = MfacConfig { ngrads: 8, ..cfg };
                let mut wrong = Mfac::all(&params, other).unwrap();
                assert!(matches!(
                    wrong.load(&params, &bytes),
                    Err(Error::Checkpoint(_))
                ));
            }
            let grads: Vec<Vec<f32>> = layout
                .slots
                .iter()
                .map(|s| normal_vec(&mut r, s.len, 0.5))
                .collect();
            let refs: Vec<&[f32]> = grads.iter().map(|x| &x[..]).collect();
            params.write_grads_by_slot(&refs).unwrap();
            opt.step(&mut params).unwrap();
        }
        params.read_params_by_slot().unwrap()
    };
    assert_eq!(run(true), run(false));
}
