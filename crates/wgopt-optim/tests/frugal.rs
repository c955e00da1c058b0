//! FRUGAL on the GPU (shaders/optim/frugal_columns.wgsl, frugal.wgsl, both including
//! frugal_common.wgsl) against the reference:
//! 100-step trajectories with refreshes every 7 steps over every inactive rule and every
//! projection (columns, rows, randk, blocks), both a projected (2-D) and a plain group,
//! clipping in half the runs; the subsets have exactly ⌊n·ρ⌋ units (round(ρ·#tensors) for
//! blocks) and the inactive columns move by exactly lr·sign(g); a checkpoint taken mid-period
//! resumes the same trajectory for every projection. Tolerance as tests/parity.rs (rtol 2e-5, atol 2e-6); the GPU
//! computes the bias corrections in f32 (pow), the reference in f64.

mod common;
use common::*;
use wgopt_optim::{Frugal, FrugalConfig, InactiveRule, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::optim::frugal::{self, FrugalState, Projection};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w", &[17, 33], "a"),
        ParamSpec::new("u", &[40, 9], "a"),
        ParamSpec::new("b", &[7], "b"),
        ParamSpec::new("conv", &[2, 3, 2, 2], "b"),
    ]
}

fn cfg_of(base: FrugalConfig, group: &str) -> FrugalConfig {
    if group == "a" {
        base
    } else {
        FrugalConfig {
            lr: base.lr * 0.5,
            weight_decay: 0.0,
            ..base
        }
    }
}

/// Runs `steps` steps on GPU and reference from the given state; returns the GPU optimizer.
#[allow(clippy::too_many_arguments)]
fn drive(
    opt: &mut Frugal,
    params: &mut ParamSet,
    host: &mut [Vec<f32>],
    states: &mut [FrugalState],
    base: FrugalConfig,
    clip: Option<f32>,
    r: &mut rand_chacha::ChaCha8Rng,
    steps: usize,
) {
    let layout = params.layout().clone();
    for _ in 0..steps {
        let grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(r, s.len, 0.5))
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|x| &x[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(params).unwrap();
        let d = guard::decide(grads.iter().map(|x| &x[..]), clip.map(|c| c as f64), true);
        for (i, s) in layout.slots.iter().enumerate() {
            let g = guard::clipped(&grads[i], d.clip_coef);
            let cfg = cfg_of(base, &layout.groups[s.group]);
            frugal::step(
                &cfg,
                cfg.lr,
                i as u32,
                &s.shape,
                &mut host[i],
                &g,
                &mut states[i],
            )
            .unwrap();
        }
    }
}

fn setup(
    seed: u64,
) -> (
    ParamSet,
    Vec<Vec<f32>>,
    Vec<FrugalState>,
    rand_chacha::ChaCha8Rng,
) {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &specs()).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(seed);
    let host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    // Every state knows its group's 2-D tensors (only the blocks variant reads them).
    let states = layout
        .slots
        .iter()
        .map(|s| {
            let mut st = FrugalState::new(s.len);
            let peers: Vec<(usize, &[usize])> = layout
                .slots
                .iter()
                .enumerate()
                .filter(|(_, t)| t.group == s.group)
                .map(|(j, t)| (j, &t.shape[..]))
                .collect();
            st.peers = frugal::block_peers(&peers);
            st
        })
        .collect();
    (params, host, states, r)
}

fn build(params: &ParamSet, base: FrugalConfig, clip: Option<f32>) -> Frugal {
    let groups: Vec<_> = params
        .layout()
        .groups
        .iter()
        .map(|g| (g.clone(), cfg_of(base, g)))
        .collect();
    let guard = GuardConfig {
        max_grad_norm: clip,
        skip_non_finite: true,
    };
    Frugal::new(params, &groups, guard).unwrap()
}

fn compare(
    label: &str,
    params: &ParamSet,
    opt: &mut Frugal,
    host: &[Vec<f32>],
    states: &[FrugalState],
) {
    let layout = params.layout().clone();
    let gpu = params.read_params_by_slot().unwrap();
    let bytes = opt.save(params).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(
            &format!("{label} {}", s.name),
            &gpu[i],
            &host[i],
            RTOL,
            ATOL,
        );
        for (f, want) in [
            ("exp_avg", &states[i].exp_avg),
            ("exp_avg_sq", &states[i].exp_avg_sq),
        ] {
            let got: Vec<f32> = bytemuck::pod_collect_to_vec(
                file.tensor(&format!("{}.{f}", s.name)).unwrap().data(),
            );
            assert_close(&format!("{label} {}.{f}", s.name), &got, want, RTOL, ATOL);
        }
    }
}

/// STEPS steps on GPU and reference from `setup(base.seed)`, compared; the reference states.
fn trajectory(base: FrugalConfig, clip: Option<f32>, label: &str) -> Vec<FrugalState> {
    let (mut params, mut host, mut states, mut r) = setup(base.seed);
    let mut opt = build(&params, base, clip);
    drive(
        &mut opt,
        &mut params,
        &mut host,
        &mut states,
        base,
        clip,
        &mut r,
        STEPS,
    );
    compare(label, &params, &mut opt, &host, &states);
    states
}

#[test]
fn frugal_trajectories_every_rule() {
    let mut seed = 1000;
    for rule in [InactiveRule::SignSgd, InactiveRule::Sgd, InactiveRule::No] {
        for (density, wd, clip) in [(0.25, 0.0, None), (0.5, 1e-2, Some(5.0))] {
            seed += 1;
            let base = FrugalConfig {
                lr: 1e-2,
                density,
                weight_decay: wd,
                update_gap: 7,
                inactive_update_rule: rule,
                inactive_lr_scale: 0.5,
                proj_params_lr_scale: 0.8,
                seed,
                ..FrugalConfig::default()
            };
            let label = format!("frugal {rule:?} ρ={density} wd={wd} clip={clip:?}");
            let states = trajectory(base, clip, &label);
            // The subset is exact: ⌊33·ρ⌋ state-full columns of w in the last period.
            let k = states[0].mask.iter().filter(|&&x| x).count();
            assert_eq!(k, (33.0 * density) as usize);
        }
    }
}

#[test]
fn frugal_trajectories_every_projection() {
    for (k, projection) in [Projection::Rows, Projection::Randk, Projection::Blocks]
        .into_iter()
        .enumerate()
    {
        for (density, clip) in [(0.25, None), (0.5, Some(5.0))] {
            let seed = 2000 + k as u64 * 10 + (density * 4.0) as u64;
            let base = FrugalConfig {
                lr: 1e-2,
                density,
                weight_decay: 1e-2,
                update_gap: 7,
                inactive_lr_scale: 0.5,
                proj_params_lr_scale: 0.8,
                seed,
                projection,
                ..FrugalConfig::default()
            };
            let label = format!("frugal {projection:?} ρ={density} clip={clip:?}");
            let states = trajectory(base, clip, &label);
            // Exact subset sizes in the last period: w is 17×33 and u 40×9, both in group a.
            let active = |i: usize| states[i].mask.iter().filter(|&&x| x).count();
            match projection {
                Projection::Rows => assert_eq!(active(0), (17.0 * density) as usize),
                Projection::Randk => assert_eq!(active(0), (561.0 * density) as usize),
                _ => {
                    let want = (2.0 * density).round_ties_even() as usize;
                    assert_eq!(active(0) + active(1), want, "{label}");
                }
            }
        }
    }
}

/// With wd = 0 and the sign rule, an inactive column moves by exactly lr·scale·sign(g).
#[test]
fn inactive_columns_take_sign_steps() {
    let base = FrugalConfig {
        lr: 0.01,
        update_gap: 100,
        inactive_lr_scale: 1.0,
        seed: 5,
        ..FrugalConfig::default()
    };
    let (mut params, host, mut states, mut r) = setup(5);
    let mut opt = build(&params, base, None);
    let mut after = host.clone();
    drive(
        &mut opt,
        &mut params,
        &mut after,
        &mut states,
        base,
        None,
        &mut r,
        1,
    );
    let gpu = params.read_param("w").unwrap();
    let mask = &states[0].mask;
    let mut checked = 0;
    for (e, (&p1, &p0)) in gpu.iter().zip(&host[0]).enumerate() {
        if !mask[e % 33] {
            assert!(
                ((p0 - p1).abs() - 0.01).abs() < 1e-6,
                "w[{e}] moved {}",
                p0 - p1
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 17 * (33 - 8));
}

/// Save after 10 steps (inside the second period), load into a fresh optimizer, continue:
/// the same parameters as 20 uninterrupted steps.
fn resume_mid_period(base: FrugalConfig, label: &str) {
    let (mut params, mut host, mut states, mut r) = setup(base.seed);
    let mut opt = build(&params, base, None);
    drive(
        &mut opt,
        &mut params,
        &mut host,
        &mut states,
        base,
        None,
        &mut r,
        10,
    );
    let bytes = opt.save(&params).unwrap();
    let mut resumed = build(&params, base, None);
    resumed.load(&params, &bytes).unwrap();
    drive(
        &mut resumed,
        &mut params,
        &mut host,
        &mut states,
        base,
        None,
        &mut r,
        10,
    );
    compare(label, &params, &mut resumed, &host, &states);
}

#[test]
fn checkpoint_resume_mid_period() {
    let base = FrugalConfig {
        lr: 1e-2,
        update_gap: 7,
        seed: 9,
        ..FrugalConfig::default()
    };
    resume_mid_period(base, "frugal resumed");
}

/// The same for the variants whose subsets are rebuilt after a load.
#[test]
fn checkpoint_resume_every_projection() {
    for projection in [Projection::Rows, Projection::Randk, Projection::Blocks] {
        let base = FrugalConfig {
            lr: 1e-2,
            update_gap: 7,
            density: 0.5,
            seed: 19,
            projection,
            ..FrugalConfig::default()
        };
        resume_mid_period(base, &format!("frugal {projection:?} resumed"));
    }
}

#[test]
fn frugal_bad_input() {
    let (params, _, _, _) = setup(1);
    for bad in [
        FrugalConfig {
            density: 1.5,
            ..FrugalConfig::default()
        },
        FrugalConfig {
            update_gap: 0,
            ..FrugalConfig::default()
        },
        FrugalConfig {
            betas: (0.9, 1.0),
            ..FrugalConfig::default()
        },
    ] {
        assert!(matches!(
            Frugal::all(&params, bad),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
    let groups = vec![
        ("a".to_string(), FrugalConfig::default()),
        (
            "b".to_string(),
            FrugalConfig {
                inactive_update_rule: InactiveRule::No,
                ..FrugalConfig::default()
            },
        ),
    ];
    assert!(Frugal::new(&params, &groups, GuardConfig::default()).is_err());
}
