//! AdaBelief, Adan, diffGrad and AdaGrad on the GPU (shaders/optim/adabelief.wgsl, adan.wgsl,
//! diffgrad.wgsl, adagrad.wgsl): 100-step trajectories against the
//! reference over every flag (awkward sizes, two groups, warmup+cosine schedule, clipping in
//! half the runs; tolerance and why in tests/parity.rs), and the spec's first-step identities
//! checked against closed forms rather than the reference.

mod common;
use common::*;
use wgopt_optim::{
    AdaBelief, AdaBeliefConfig, AdaGrad, AdaGradConfig, Adan, AdanConfig, DiffGrad, DiffGradConfig,
    Optimizer,
};
use wgopt_scheduler::{ParamSet, ParamSpec};

#[test]
fn adabelief_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 300;
    for (amsgrad, weight_decouple, fixed_decay, rectify, degenerated_to_sgd) in [
        (false, true, false, true, true),
        (true, true, false, true, true),
        (false, false, false, true, true),
        (false, true, true, false, true),
        (true, false, false, false, true),
        (false, true, false, true, false),
    ] {
        seed += 1;
        let base = AdaBeliefConfig {
            lr: 1e-2,
            betas: (0.9, 0.999),
            eps: 1e-16,
            weight_decay: 0.05,
            amsgrad,
            weight_decouple,
            fixed_decay,
            rectify,
            degenerated_to_sgd,
        };
        let cfg_of = move |g: &str| {
            if g == "no_decay" {
                AdaBeliefConfig {
                    weight_decay: 0.0,
                    lr: 5e-3,
                    ..base
                }
            } else {
                base
            }
        };
        let clip = (seed % 2 == 0).then_some(4.0);
        run_trajectory(
            &engine,
            &format!("adabelief {base:?} clip={clip:?}"),
            |p, guard| Box::new(AdaBelief::new(p, &groups_of(p, cfg_of), guard).unwrap()),
            cfg_of,
            clip,
            seed,
        );
    }
}

#[test]
fn adan_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 400;
    for no_prox in [false, true] {
        for weight_decay in [0.0, 0.02] {
            for clip in [None, Some(3.0)] {
                seed += 1;
                let base = AdanConfig {
                    lr: 5e-3,
                    weight_decay,
                    no_prox,
                    ..AdanConfig::default()
                };
                let cfg_of = move |g: &str| {
                    if g == "no_decay" {
                        AdanConfig {
                            weight_decay: 0.0,
                            betas: (0.9, 0.9, 0.999),
                            ..base
                        }
                    } else {
                        base
                    }
                };
                run_trajectory(
                    &engine,
                    &format!("adan {base:?} clip={clip:?}"),
                    |p, guard| Box::new(Adan::new(p, &groups_of(p, cfg_of), guard).unwrap()),
                    cfg_of,
                    clip,
                    seed,
                );
            }
        }
    }
}

#[test]
fn diffgrad_trajectories() {
    let engine = engine();
    for (seed, weight_decay) in [(501, 0.0), (502, 1e-2)] {
        let base = DiffGradConfig {
            lr: 1e-2,
            weight_decay,
            ..DiffGradConfig::default()
        };
        let cfg_of = move |g: &str| {
            if g == "no_decay" {
                DiffGradConfig {
                    weight_decay: 0.0,
                    betas: (0.8, 0.99),
                    ..base
                }
            } else {
                base
            }
        };
        let clip = (seed % 2 == 0).then_some(4.0);
        run_trajectory(
            &engine,
            &format!("diffgrad {base:?}"),
            |p, guard| Box::new(DiffGrad::new(p, &groups_of(p, cfg_of), guard).unwrap()),
            cfg_of,
            clip,
            seed,
        );
    }
}

#[test]
fn adagrad_trajectories_every_flag() {
    let engine = engine();
    let mut seed = 600;
    for (lr_decay, weight_decay, initial_accumulator_value, maximize) in [
        (0.0, 0.0, 0.0, false),
        (1e-2, 1e-2, 0.1, false),
        (0.0, 0.0, 0.5, true),
    ] {
        seed += 1;
        let base = AdaGradConfig {
            lr: 5e-2,
            lr_decay,
            weight_decay,
            initial_accumulator_value,
            eps: 1e-10,
            maximize,
        };
        let cfg_of = move |g: &str| {
            if g == "no_decay" {
                AdaGradConfig {
                    weight_decay: 0.0,
                    lr: 2e-2,
                    ..base
                }
            } else {
                base
            }
        };
        let clip = (seed % 2 == 0).then_some(4.0);
        run_trajectory(
            &engine,
            &format!("adagrad {base:?}"),
            |p, guard| Box::new(AdaGrad::new(p, &groups_of(p, cfg_of), guard).unwrap()),
            cfg_of,
            clip,
            seed,
        );
    }
}

/// One parameter, steps of the given gradients; returns the parameter after each step.
fn path(opt: &mut dyn Optimizer, params: &mut ParamSet, grads: &[Vec<f32>]) -> Vec<Vec<f32>> {
    grads
        .iter()
        .map(|g| {
            params.write_grad("w", g).unwrap();
            opt.step(params).unwrap();
            params.read_param("w").unwrap()
        })
        .collect()
}

fn single(seed: u64) -> (ParamSet, Vec<f32>, Vec<Vec<f32>>) {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[37], "all")]).unwrap();
    let mut r = rng(seed);
    let p0 = normal_vec(&mut r, 37, 1.0);
    params.write_param("w", &p0).unwrap();
    let grads = (0..6).map(|_| normal_vec(&mut r, 37, 0.5)).collect();
    (params, p0, grads)
}

/// AdaBelief with rectification and β2 = 0.999: ρ_t < 5 for t ≤ 5, so the first five steps
/// are exactly p −= lr·m/(1 − β1^t) (spec §8); step 6 is adaptive and differs.
#[test]
fn adabelief_first_five_steps_are_momentum() {
    let (mut params, p0, grads) = single(1);
    let cfg = AdaBeliefConfig::default();
    let mut opt = AdaBelief::all(&params, cfg).unwrap();
    let got = path(&mut opt, &mut params, &grads);
    let (mut p, mut m) = (p0.clone(), vec![0f64; 37]);
    for (t, g) in grads.iter().enumerate().take(5) {
        let bc1 = 1.0 - 0.9f64.powi(t as i32 + 1);
        for i in 0..37 {
            m[i] = 0.9 * m[i] + 0.1 * g[i] as f64;
            p[i] -= (1e-3 * m[i] / bc1) as f32;
        }
        assert_close(&format!("step {}", t + 1), &got[t], &p, 1e-6, 1e-7);
    }
    let momentum6: Vec<f32> = (0..37)
        .map(|i| {
            p[i] - (1e-3 * (0.9 * m[i] + 0.1 * grads[5][i] as f64) / (1.0 - 0.9f64.powi(6))) as f32
        })
        .collect();
    assert!(got[5]
        .iter()
        .zip(&momentum6)
        .any(|(a, b)| (a - b).abs() > 1e-5));
}

/// Adan's first gradient difference is zero, and its first step is −lr·g/(|g| + eps), then the
/// proximal division by 1 + lr·wd (spec validation target 5).
#[test]
fn adan_first_step_identity() {
    let (mut params, p0, grads) = single(2);
    let cfg = AdanConfig {
        lr: 1e-2,
        weight_decay: 0.1,
        ..AdanConfig::default()
    };
    let mut opt = Adan::all(&params, cfg).unwrap();
    let got = path(&mut opt, &mut params, &grads[..1]);
    let want: Vec<f32> = p0
        .iter()
        .zip(&grads[0])
        .map(|(&p, &g)| ((p as f64 - 1e-2 * g as f64 / (g.abs() as f64 + 1e-8)) / 1.001) as f32)
        .collect();
    assert_close("adan step 1", &got[0], &want, 2e-6, 1e-7);
    let bytes = opt.save(&params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let diff: Vec<f32> =
        bytemuck::pod_collect_to_vec(file.tensor("w.exp_avg_diff").unwrap().data());
    assert!(
        diff.iter().all(|&d| d == 0.0),
        "first difference must be 0: {diff:?}"
    );
    let neg: Vec<f32> = bytemuck::pod_collect_to_vec(file.tensor("w.neg_pre_grad").unwrap().data());
    assert_eq!(neg, grads[0].iter().map(|g| -g).collect::<Vec<_>>());
}

/// diffGrad's first friction is sigmoid(|g|) (previous gradient 0): step 1 moves by
/// lr·σ(|g|)·g/(|g| + eps/sqrt(1−β2)).
#[test]
fn diffgrad_first_friction_is_sigmoid_of_gradient() {
    let (mut params, p0, grads) = single(3);
    let mut opt = DiffGrad::all(
        &params,
        DiffGradConfig {
            lr: 1e-2,
            ..DiffGradConfig::default()
        },
    )
    .unwrap();
    let got = path(&mut opt, &mut params, &grads[..1]);
    let want: Vec<f32> = p0
        .iter()
        .zip(&grads[0])
        .map(|(&p, &g)| {
            let (g, sig) = (g as f64, 1.0 / (1.0 + (-(g.abs() as f64)).exp()));
            (p as f64 - 1e-2 * sig * g / (g.abs() + 1e-8 / 0.001f64.sqrt())) as f32
        })
        .collect();
    assert_close("diffgrad step 1", &got[0], &want, 2e-6, 1e-7);
}

/// AdaGrad with an initial accumulator a: step 1 is −lr·g/(sqrt(a + g²) + eps).
#[test]
fn adagrad_initial_accumulator() {
    let (mut params, p0, grads) = single(4);
    let cfg = AdaGradConfig {
        lr: 0.1,
        initial_accumulator_value: 0.25,
        ..AdaGradConfig::default()
    };
    let mut opt = AdaGrad::all(&params, cfg).unwrap();
    let got = path(&mut opt, &mut params, &grads[..1]);
    let want: Vec<f32> = p0
        .iter()
        .zip(&grads[0])
        .map(|(&p, &g)| {
            (p as f64 - 0.1 * g as f64 / ((0.25 + (g as f64).powi(2)).sqrt() + 1e-10)) as f32
        })
        .collect();
    assert_close("adagrad step 1", &got[0], &want, 2e-6, 1e-7);
}

/// A NaN gradient skips the step for every new optimizer and changes no state; the next step
/// continues with the right step count.
#[test]
fn non_finite_gradient_changes_nothing() {
    let engine = engine();
    type Make = Box<dyn Fn(&ParamSet) -> Box<dyn Optimizer>>;
    let make: Vec<(&str, Make)> = vec![
        (
            "adabelief",
            Box::new(|p| Box::new(AdaBelief::all(p, AdaBeliefConfig::default()).unwrap())),
        ),
        (
            "adan",
            Box::new(|p| Box::new(Adan::all(p, AdanConfig::default()).unwrap())),
        ),
        (
            "diffgrad",
            Box::new(|p| Box::new(DiffGrad::all(p, DiffGradConfig::default()).unwrap())),
        ),
        (
            "adagrad",
            Box::new(|p| Box::new(AdaGrad::all(p, AdaGradConfig::default()).unwrap())),
        ),
    ];
    for (name, make) in make {
        let mut params = ParamSet::new(&engine, &[ParamSpec::new("w", &[9], "all")]).unwrap();
        params.write_param("w", &[0.5f32; 9]).unwrap();
        let mut opt = make(&params);
        params.write_grad("w", &[0.1f32; 9]).unwrap();
        opt.step(&mut params).unwrap();
        let before_p = params.read_param("w").unwrap();
        let before_state = opt.save(&params).unwrap();
        let mut bad = [0.2f32; 9];
        bad[4] = f32::NAN;
        params.write_grad("w", &bad).unwrap();
        opt.step(&mut params).unwrap();
        assert_eq!(
            params.read_param("w").unwrap(),
            before_p,
            "{name}: parameter moved"
        );
        let stats = opt.stats().unwrap();
        assert_eq!((stats.applied_steps, stats.skipped_steps), (1, 1), "{name}");
        let after = safetensors::SafeTensors::deserialize(&opt.save(&params).unwrap())
            .unwrap()
            .tensors()
            .into_iter()
            .filter(|(n, _)| n.starts_with("w."))
            .map(|(n, t)| (n, t.data().to_vec()))
            .collect::<Vec<_>>();
        let before = safetensors::SafeTensors::deserialize(&before_state)
            .unwrap()
            .tensors()
            .into_iter()
            .filter(|(n, _)| n.starts_with("w."))
            .map(|(n, t)| (n, t.data().to_vec()))
            .collect::<Vec<_>>();
        assert_eq!(after.len(), before.len());
        for a in &after {
            assert!(before.contains(a), "{name}: state {} changed", a.0);
        }
    }
}
