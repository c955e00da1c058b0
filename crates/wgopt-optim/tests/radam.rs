//! RAdam on the GPU (shaders/optim/radam.wgsl) against its reference twin
//! (wgopt_reference::optim::radam, torch.optim.RAdam's operation order): 100-step trajectories
//! over every flag, through both regimes (SGD on m̂ while ρ_t ≤ 5, then the rectified adaptive
//! step), with two groups, a warmup+cosine schedule and clipping in half the runs; a skipped
//! step in each regime that the host does not read (the kernel recomputes its scalars from the
//! GPU's count); and the first-step identity p − lr·g. Tolerances as tests/parity.rs says why.

mod common;
use common::*;
use wgopt_optim::{Optimizer, RAdam, RAdamConfig};
use wgopt_reference::guard;
use wgopt_reference::optim::radam::{self, RAdamState};
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec};

#[test]
fn radam_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 900;
    for decoupled in [false, true] {
        for maximize in [false, true] {
            // β2 = 0.99 leaves the SGD regime at t = 6 of 100, β2 = 0.9 almost at once.
            for (beta2, clip) in [(0.99, None), (0.9, Some(5.0))] {
                seed += 1;
                let base = RAdamConfig {
                    lr: 1e-2,
                    betas: (0.9, beta2),
                    eps: 1e-8,
                    weight_decay: 0.1,
                    decoupled_weight_decay: decoupled,
                    maximize,
                };
                let cfg_of = move |g: &str| {
                    if g == "no_decay" {
                        RAdamConfig {
                            weight_decay: 0.0,
                            lr: 5e-3,
                            ..base
                        }
                    } else {
                        base
                    }
                };
                let label = format!(
                    "radam decoupled={decoupled} maximize={maximize} beta2={beta2} clip={clip:?}"
                );
                run_trajectory(
                    &engine,
                    &label,
                    |p, guard| Box::new(RAdam::new(p, &groups_of(p, cfg_of), guard).unwrap()),
                    cfg_of,
                    clip,
                    seed,
                );
            }
        }
    }
}

/// A NaN gradient at step 3 (SGD regime) and at step 20 (rectified regime), never read by the
/// host: the GPU skips both and the next steps' scalars follow the GPU's applied count.
#[test]
fn unread_skips_in_both_regimes_match_the_reference() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[37], "g")]).unwrap();
    let mut r = rng(7);
    let mut host = normal_vec(&mut r, 37, 1.0);
    params.write_param("w", &host).unwrap();
    let cfg = RAdamConfig {
        lr: 1e-2,
        betas: (0.9, 0.99),
        weight_decay: 0.01,
        decoupled_weight_decay: true,
        ..RAdamConfig::default()
    };
    let mut opt = RAdam::new(&params, &[("g".into(), cfg)], GuardConfig::default()).unwrap();
    let mut st = RAdamState::new(37);
    for step in 0..30 {
        let mut g = normal_vec(&mut r, 37, 1.0);
        if step == 3 || step == 20 {
            g[5] = f32::NAN;
        }
        params.write_grad("w", &g).unwrap();
        opt.step(&mut params).unwrap();
        if guard::decide([&g[..]], None, true).skip {
            continue;
        }
        radam::step(&cfg, cfg.lr, &mut host, &g, &mut st).unwrap();
    }
    assert_close("w", &params.read_param("w").unwrap(), &host, RTOL, ATOL);
    let s = opt.stats().unwrap();
    assert_eq!((s.applied_steps, s.skipped_steps), (28, 2));
}

/// torch's first RAdam step (ρ_1 = 1 ≤ 5) is p − lr·m̂ with m̂ = g: checked against that closed
/// form, not the reference.
#[test]
fn first_step_is_lr_times_gradient() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[9], "g")]).unwrap();
    let p0: Vec<f32> = (0..9).map(|i| i as f32 * 0.3 - 1.0).collect();
    let g: Vec<f32> = (0..9).map(|i| (i as f32 * 0.7).sin()).collect();
    params.write_param("w", &p0).unwrap();
    params.write_grad("w", &g).unwrap();
    let mut opt = RAdam::all(
        &params,
        RAdamConfig {
            lr: 0.1,
            ..Default::default()
        },
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    let want: Vec<f32> = p0.iter().zip(&g).map(|(p, g)| p - 0.1 * g).collect();
    assert_close("w", &params.read_param("w").unwrap(), &want, 1e-6, 1e-7);
    assert_eq!(opt.name(), "radam");
}
