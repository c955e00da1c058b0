//! Muon and the Muon + AdamW hybrid on the GPU vs the reference: 50-step trajectories on
//! awkward shapes (tall, wide, 1×n, 3-D batches, 4-D conv filters), both scale rules, Muon and
//! Polar Express schedules, Nesterov on and off, global clipping; routing, NaN skips, zero
//! gradients and bad shapes. Kernels exercised: optim/muon_momentum.wgsl, the Newton–Schulz
//! chain (linalg/frobenius_normalize, gram, gemm) in place on the update arena, and
//! optim/muon_apply.wgsl.
//!
//! Tolerances: momentum buffers rtol 2e-5 (elementwise f32, as the other optimizers).
//! Parameters atol 3e-4: the GPU orthogonalises in f32, the oracle in f64; each step's
//! orthogonal factor differs by up to ~3e-4 per entry (Newton–Schulz amplifies rounding of small
//! singular values, see wgopt-solvers' parity test), times lr ≤ 0.02, accumulated without
//! contraction over 50 steps (the update does not depend on the parameters).

mod common;
use common::*;
use wgopt_optim::{AdamConfig, Muon, MuonAdamW, MuonConfig, MuonScale, NsSchedule, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::optim::{adam, muon, AdamState, MuonState};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn muon_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("tall", &[33, 17], "a"),
        ParamSpec::new("wide", &[9, 70], "a"),
        ParamSpec::new("row", &[1, 9], "b"),
        ParamSpec::new("batch", &[3, 8, 12], "b"),
        ParamSpec::new("conv", &[4, 2, 3, 3], "a"),
    ]
}

fn run(nesterov: bool, clip: Option<f32>, seed: u64) {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &muon_specs()).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(seed);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let initial = host.clone();
    let a = MuonConfig {
        lr: 0.02,
        weight_decay: 0.1,
        nesterov,
        ..Default::default()
    };
    let b = MuonConfig {
        lr: 0.01,
        nesterov,
        scale: MuonScale::MatchRmsAdamW,
        schedule: NsSchedule::polar_express(),
        ..Default::default()
    };
    let cfg_of = |g: &str| if g == "a" { a.clone() } else { b.clone() };
    let mut opt = Muon::new(
        &params,
        &[("a".into(), a.clone()), ("b".into(), b.clone())],
        GuardConfig {
            max_grad_norm: clip,
            skip_non_finite: true,
        },
    )
    .unwrap();
    let mut states: Vec<MuonState> = layout.slots.iter().map(|s| MuonState::new(s.len)).collect();
    for _ in 0..50 {
        let grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 1.0))
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let d = guard::decide(refs.iter().copied(), clip.map(f64::from), true);
        for (i, s) in layout.slots.iter().enumerate() {
            let cfg = cfg_of(&layout.groups[s.group]);
            let g = guard::clipped(&grads[i], d.clip_coef);
            muon::step(&cfg, cfg.lr, &s.shape, &mut host[i], &g, &mut states[i]).unwrap();
        }
    }
    let gpu = params.read_params_by_slot().unwrap();
    let momentum = opt.momentum_arena().read_all(&engine, &layout).unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        let label = format!("nesterov={nesterov} clip={clip:?} {}", s.name);
        assert_close(
            &format!("{label} momentum_buffer"),
            &momentum[i],
            &states[i].momentum_buffer,
            2e-5,
            2e-6,
        );
        assert_close(&label, &gpu[i], &host[i], 0.0, 3e-4);
    }
    // Every parameter moved, per entry on average, at least ten times the tolerance above (so
    // the comparison is not between two barely changed copies of the start).
    for (i, s) in layout.slots.iter().enumerate() {
        let moved: f32 = gpu[i]
            .iter()
            .zip(&initial[i])
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>()
            / s.len as f32;
        assert!(moved > 10.0 * 3e-4, "{}: moved {moved} per entry", s.name);
    }
}

#[test]
fn muon_trajectories_match_reference() {
    run(true, None, 40);
    run(false, Some(2.0), 41);
}

#[test]
fn hybrid_routes_and_matches_reference_with_global_clip() {
    let engine = engine();
    let shapes: Vec<(&str, Vec<usize>)> = vec![
        ("wte", vec![50, 16]),
        ("h.0.attn.w", vec![16, 48]),
        ("h.0.attn.b", vec![48]),
        ("h.0.mlp.w", vec![64, 16]),
        ("ln_f.weight", vec![16]),
        ("lm_head", vec![50, 16]),
    ];
    let specs = MuonAdamW::router().specs(shapes.iter().map(|(n, s)| (*n, s.as_slice())));
    let groups: Vec<&str> = specs.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(groups, ["adamw", "muon", "adamw", "muon", "adamw", "adamw"]);
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(50);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let m = MuonConfig {
        lr: 0.02,
        weight_decay: 0.01,
        ..Default::default()
    };
    let ad = AdamConfig {
        lr: 3e-3,
        betas: (0.9, 0.95),
        eps: 1e-10,
        weight_decay: 0.01,
        ..AdamConfig::adamw()
    };
    let clip = 1.5f32;
    let mut opt = MuonAdamW::new(
        &params,
        &[("muon".into(), m.clone())],
        &[("adamw".into(), ad)],
        GuardConfig {
            max_grad_norm: Some(clip),
            skip_non_finite: true,
        },
    )
    .unwrap();
    let mut mstates: Vec<MuonState> = layout.slots.iter().map(|s| MuonState::new(s.len)).collect();
    let mut astates: Vec<AdamState> = layout
        .slots
        .iter()
        .map(|s| AdamState::new(s.len, false))
        .collect();
    let mut before_nan = None;
    let mut step = 0;
    loop {
        let mut grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 1.0))
            .collect();
        let poisoned = step == 10;
        if poisoned {
            grads[0][3] = f32::NAN;
        }
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let d = guard::decide(refs.iter().copied(), Some(clip as f64), true);
        assert_eq!(d.skip, poisoned);
        if !d.skip {
            for (i, s) in layout.slots.iter().enumerate() {
                let g = guard::clipped(&grads[i], d.clip_coef);
                if layout.groups[s.group] == "muon" {
                    muon::step(&m, m.lr, &s.shape, &mut host[i], &g, &mut mstates[i]).unwrap();
                } else {
                    adam::step(&ad, ad.lr, &mut host[i], &g, &mut astates[i]).unwrap();
                }
            }
        }
        step += 1;
        if step == 10 {
            // The next step is poisoned and must change nothing.
            before_nan = Some(params.read_params_by_slot().unwrap());
        }
        if step == 11 {
            let now = params.read_params_by_slot().unwrap();
            assert!(
                before_nan.as_ref() == Some(&now),
                "a NaN step changed parameters"
            );
            let s = opt.stats().unwrap();
            assert_eq!((s.applied_steps, s.skipped_steps), (10, 1));
        }
        if step == 30 {
            break;
        }
    }
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(&s.name, &gpu[i], &host[i], 2e-5, 3e-4);
    }
    // guard + adam update + muon momentum + 2 shapes × (normalize's two passes + 5×3) + muon
    // apply
    assert_eq!(opt.dispatches_per_step(), 2 + 1 + 1 + 2 * 17 + 1);
}

#[test]
fn one_dimensional_parameter_in_muon_is_a_typed_error() {
    let params = ParamSet::new(&engine(), &[ParamSpec::new("bias", &[8], "muon")]).unwrap();
    let e = Muon::new(
        &params,
        &[("muon".into(), MuonConfig::default())],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "bias"),
        "{e}"
    );
}

#[test]
fn zero_gradient_gives_finite_zero_update() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[6, 10], "muon")]).unwrap();
    params.write_param("w", &[0.25f32; 60]).unwrap();
    let mut opt = Muon::new(
        &params,
        &[("muon".into(), MuonConfig::default())],
        GuardConfig::default(),
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    assert_eq!(params.read_param("w").unwrap(), vec![0.25f32; 60]);
}

fn hybrid_fixture(seed: u64, ns_steps: usize) -> (ParamSet, MuonAdamW) {
    let shapes: Vec<(&str, Vec<usize>)> = vec![
        ("wte", vec![20, 8]),
        ("h.0.w", vec![8, 24]),
        ("h.0.b", vec![24]),
        ("h.1.w", vec![3, 8, 8]),
    ];
    let specs = MuonAdamW::router().specs(shapes.iter().map(|(n, s)| (*n, s.as_slice())));
    let mut params = ParamSet::new(&engine(), &specs).unwrap();
    let mut r = rng(seed);
    for s in params.layout().slots.clone() {
        params
            .write_param(&s.name, &normal_vec(&mut r, s.len, 0.5))
            .unwrap();
    }
    let opt = MuonAdamW::new(
        &params,
        &[(
            "muon".into(),
            MuonConfig {
                ns_steps,
                ..Default::default()
            },
        )],
        &[("adamw".into(), AdamConfig::adamw())],
        GuardConfig::default(),
    )
    .unwrap();
    (params, opt)
}

fn feed(params: &mut ParamSet, seed: u64) {
    let mut r = rng(seed);
    let grads: Vec<Vec<f32>> = params
        .layout()
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 1.0))
        .collect();
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    params.write_grads_by_slot(&refs).unwrap();
}

#[test]
fn hybrid_checkpoint_round_trip_continues_identically() {
    let (mut a, mut opt_a) = hybrid_fixture(60, 5);
    for s in 0..5 {
        feed(&mut a, 600 + s);
        opt_a.step(&mut a).unwrap();
    }
    let bytes = opt_a.save(&a).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for name in [
        "h.0.w.momentum_buffer",
        "h.1.w.momentum_buffer",
        "wte.exp_avg",
        "h.0.b.exp_avg_sq",
    ] {
        assert!(file.tensor(name).is_ok(), "missing {name}");
    }
    let meta = safetensors::SafeTensors::read_metadata(&bytes).unwrap().1;
    let meta = meta.metadata().as_ref().unwrap();
    assert_eq!(
        (meta["muon.step"].as_str(), meta["adam.step"].as_str()),
        ("5", "5")
    );
    let (mut b, mut opt_b) = hybrid_fixture(61, 5);
    for (s, p) in a
        .layout()
        .slots
        .iter()
        .zip(a.read_params_by_slot().unwrap())
    {
        b.write_param(&s.name, &p).unwrap();
    }
    opt_b.load(&b, &bytes).unwrap();
    for s in 5..10 {
        feed(&mut a, 600 + s);
        feed(&mut b, 600 + s);
        opt_a.step(&mut a).unwrap();
        opt_b.step(&mut b).unwrap();
    }
    assert!(
        a.read_params_by_slot().unwrap() == b.read_params_by_slot().unwrap(),
        "continued runs diverge"
    );
    // A Muon built with other Newton–Schulz settings refuses the file, naming what differs.
    let (c, mut opt_c) = hybrid_fixture(62, 4);
    let e = opt_c.load(&c, &bytes).unwrap_err();
    assert!(
        matches!(&e, Error::Checkpoint(m) if m.contains("ns_steps")),
        "{e}"
    );
    // So does a plain AdamW.
    let mut plain = wgopt_optim::Adam::all(&c, AdamConfig::adamw()).unwrap();
    assert!(matches!(plain.load(&c, &bytes), Err(Error::Checkpoint(_))));
}

#[test]
fn muon_alone_checkpoint_round_trip() {
    let specs = vec![
        ParamSpec::new("w", &[6, 10], "m"),
        ParamSpec::new("v", &[2, 5, 3], "m"),
    ];
    let make = |seed: u64| {
        let mut p = ParamSet::new(&engine(), &specs).unwrap();
        let mut r = rng(seed);
        for s in p.layout().slots.clone() {
            p.write_param(&s.name, &normal_vec(&mut r, s.len, 0.5))
                .unwrap();
        }
        let o = Muon::new(
            &p,
            &[("m".into(), MuonConfig::default())],
            GuardConfig::default(),
        )
        .unwrap();
        (p, o)
    };
    let (mut a, mut oa) = make(70);
    for s in 0..3 {
        feed(&mut a, 700 + s);
        oa.step(&mut a).unwrap();
    }
    let bytes = oa.save(&a).unwrap();
    let (mut b, mut ob) = make(70);
    for (s, p) in a
        .layout()
        .slots
        .iter()
        .zip(a.read_params_by_slot().unwrap())
    {
        b.write_param(&s.name, &p).unwrap();
    }
    ob.load(&b, &bytes).unwrap();
    for s in 3..6 {
        feed(&mut a, 700 + s);
        feed(&mut b, 700 + s);
        oa.step(&mut a).unwrap();
        ob.step(&mut b).unwrap();
    }
    assert!(
        a.read_params_by_slot().unwrap() == b.read_params_by_slot().unwrap(),
        "continued runs diverge"
    );
}
