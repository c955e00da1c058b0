//! GPU vs reference: 100-step trajectories of every optimizer over every flag combination, on
//! awkward sizes, with two groups of different hyperparameters, a warmup+cosine schedule and
//! (in half the runs) global-norm clipping.
//!
//! Tolerance: rtol 2e-5, atol 2e-6 on parameters and states after 100 steps. The reference
//! runs the same f32 operations in the same order as torch; the GPU may contract a·b+c into an
//! FMA and its division and sqrt are not correctly rounded (Vulkan allows 2.5 ulp for division),
//! so each step may differ by a few ulp (≈1e-7 relative). Adam and SGD contract such errors, so
//! after 100 steps they stay well inside 2e-5 of the values (lr ≤ 1e-2, |p| ≈ 1).

mod common;
use common::*;
use wgopt_optim::{Adam, AdamConfig, Lion, LionConfig, Sgd, SgdConfig};
use wgopt_scheduler::ParamSet;

fn no_decay<T: Copy>(group: &str, cfg: T, zero: impl Fn(T) -> T) -> T {
    if group == "no_decay" {
        zero(cfg)
    } else {
        cfg
    }
}

#[test]
fn adam_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 0;
    // ROOT's fallback (an AdamW variant) is its own flag, crossed with every other one.
    for (decoupled, root_fallback) in [(false, false), (true, false), (true, true)] {
        for amsgrad in [false, true] {
            for maximize in [false, true] {
                for clip in [None, Some(5.0)] {
                    seed += 1;
                    let base = AdamConfig {
                        lr: 1e-2,
                        betas: (0.9, 0.99),
                        eps: 1e-8,
                        weight_decay: 0.1,
                        decoupled_weight_decay: decoupled,
                        amsgrad,
                        maximize,
                        root_fallback,
                    };
                    let cfg_of = move |g: &str| {
                        no_decay(g, base, |c| AdamConfig {
                            weight_decay: 0.0,
                            lr: c.lr * 0.5,
                            ..c
                        })
                    };
                    let label = format!("adam decoupled={decoupled} amsgrad={amsgrad} maximize={maximize} clip={clip:?} root_fallback={}", base.root_fallback);
                    run_trajectory(
                        &engine,
                        &label,
                        |p, guard| Box::new(Adam::new(p, &groups_of(p, cfg_of), guard).unwrap()),
                        cfg_of,
                        clip,
                        seed,
                    );
                }
            }
        }
    }
}

#[test]
fn sgd_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 100;
    for (momentum, dampening, nesterov) in [
        (0.0, 0.0, false),
        (0.9, 0.0, false),
        (0.9, 0.3, false),
        (0.9, 0.0, true),
    ] {
        for weight_decay in [0.0, 1e-2] {
            for maximize in [false, true] {
                seed += 1;
                let base = SgdConfig {
                    lr: 1e-2,
                    momentum,
                    dampening,
                    weight_decay,
                    nesterov,
                    maximize,
                };
                let cfg_of = move |g: &str| {
                    no_decay(g, base, |c| SgdConfig {
                        weight_decay: 0.0,
                        lr: c.lr * 2.0,
                        ..c
                    })
                };
                let clip = (seed % 2 == 0).then_some(3.0);
                let label = format!("sgd {base:?} clip={clip:?}");
                run_trajectory(
                    &engine,
                    &label,
                    |p, guard| Box::new(Sgd::new(p, &groups_of(p, cfg_of), guard).unwrap()),
                    cfg_of,
                    clip,
                    seed,
                );
            }
        }
    }
}

#[test]
fn lion_trajectories() {
    let engine = engine();
    for (seed, weight_decay) in [(200u64, 0.0), (201, 0.5)] {
        for clip in [None, Some(2.0)] {
            let base = LionConfig {
                lr: 1e-3,
                betas: (0.9, 0.99),
                weight_decay,
            };
            let cfg_of = move |g: &str| {
                no_decay(g, base, |c| LionConfig {
                    weight_decay: 0.0,
                    ..c
                })
            };
            run_trajectory(
                &engine,
                &format!("lion wd={weight_decay} clip={clip:?}"),
                |p, guard| Box::new(Lion::new(p, &groups_of(p, cfg_of), guard).unwrap()),
                cfg_of,
                clip,
                seed,
            );
        }
    }
}

/// The same trajectories on a layout split over 13 KiB chunks, with dispatches capped at 3
/// workgroups so every invocation loops (the grid-stride path a > 65535-workgroup size takes).
#[test]
fn trajectories_across_chunks_and_grid_stride() {
    let engine = cramped_engine();
    let specs = awkward_specs();
    let p = ParamSet::new(&engine, &specs).unwrap();
    assert!(
        p.layout().chunk_lens.len() >= 2,
        "layout should span several chunks"
    );
    let base = AdamConfig {
        lr: 1e-2,
        amsgrad: true,
        ..AdamConfig::adamw()
    };
    run_trajectory(
        &engine,
        "adamw cramped",
        |p, guard| {
            Box::new(
                Adam::new(
                    p,
                    &[("decay".into(), base), ("no_decay".into(), base)],
                    guard,
                )
                .unwrap(),
            )
        },
        |_| base,
        Some(4.0),
        300,
    );
    let sgd = SgdConfig {
        lr: 1e-2,
        momentum: 0.9,
        nesterov: true,
        ..Default::default()
    };
    run_trajectory(
        &engine,
        "sgd cramped",
        |p, guard| {
            Box::new(
                Sgd::new(p, &[("decay".into(), sgd), ("no_decay".into(), sgd)], guard).unwrap(),
            )
        },
        |_| sgd,
        None,
        301,
    );
}
