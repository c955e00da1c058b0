//! ROOT on the GPU vs the reference: the exact radix-select quantile
//! (reduce/quantile_histogram.wgsl, reduce/quantile_select.wgsl, reduce/quantile_common.wgsl)
//! against a sorted reference on awkward sizes and duplicates; the clamp fused into
//! linalg/frobenius_normalize.wgsl; sum-form momentum (optim/muon_momentum.wgsl with SUM_FORM);
//! 50-step trajectories; the ROOT + AdamW-fallback hybrid (optim/adam.wgsl with ROOT_FALLBACK)
//! with routing, global clipping and a NaN skip; zero gradients.
//!
//! Tolerances: order statistics are selected exactly, so quantiles at integral ranks compare
//! bit for bit; interpolated ones within 2 ulp (the GPU may contract torch.lerp's
//! multiply-add). Trajectories as Muon's (tests/muon.rs): momentum rtol 2e-5, parameters atol
//! 3e-4 (f32 vs f64 Newton–Schulz). Thresholds after one step: rtol 1e-6 (U differs from the
//! oracle's by the rounding of one multiply-add).

mod common;
use common::*;
use wgopt_optim::{AdamConfig, Muon, MuonAdamW, MuonConfig, Optimizer};
use wgopt_reference::guard;
use wgopt_reference::linalg::abs_quantile;
use wgopt_reference::optim::{adam, muon, AdamState, MuonState};
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec, StepRecorder};
use wgopt_solvers::quantile::{AbsQuantile, QuantileSource};

fn upload(engine: &wgopt_scheduler::Engine, data: &[f32]) -> wgopt_scheduler::wgpu::Buffer {
    use wgopt_scheduler::wgpu::BufferUsages as U;
    let b = engine.create_buffer(
        "test values",
        data.len() as u64 * 4,
        U::STORAGE | U::COPY_DST,
    );
    engine
        .queue()
        .write_buffer(&b, 0, bytemuck::cast_slice(data));
    b
}

#[test]
fn gpu_quantile_selects_exactly_what_a_sort_gives() {
    let engine = engine();
    let mut r = rng(70);
    // Buffer A: sizes around the 8192-element tile, a single element, heavy ties, signed zeros.
    let mut ties: Vec<f32> = (0..5000).map(|i| ((i % 7) as f32 - 3.0) * 0.5).collect();
    ties[17] = -0.0;
    let pieces_a: Vec<Vec<f32>> = vec![
        normal_vec(&mut r, 8193, 1.0),
        vec![-2.5],
        ties,
        normal_vec(&mut r, 20_000, 1e-3),
        vec![0.0; 33],
    ];
    // Buffer B: another source in the same selection.
    let pieces_b: Vec<Vec<f32>> = vec![normal_vec(&mut r, 7, 4.0), normal_vec(&mut r, 8191, 1.0)];
    let qs = [0.9, 0.0, 0.5, 0.9, 0.9, 1.0, 0.37];
    let layout = |pieces: &[Vec<f32>], q0: usize| {
        let mut data = vec![1e30f32; 5]; // padding that belongs to no matrix
        let mut m = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            m.push((data.len() as u32, p.len() as u32, qs[q0 + i]));
            data.extend(p);
        }
        (data, m)
    };
    let (data_a, mats_a) = layout(&pieces_a, 0);
    let (data_b, mats_b) = layout(&pieces_b, pieces_a.len());
    let (buf_a, buf_b) = (upload(&engine, &data_a), upload(&engine, &data_b));
    let q = AbsQuantile::new(
        &engine,
        &[
            QuantileSource {
                buffer: &buf_a,
                matrices: mats_a,
            },
            QuantileSource {
                buffer: &buf_b,
                matrices: mats_b,
            },
        ],
        0.0,
    )
    .unwrap();
    // Twice through the same plan: the histograms must come back cleared.
    for _ in 0..2 {
        let mut rec = StepRecorder::new();
        q.record(&mut rec);
        rec.submit(&engine).unwrap();
        let got = q.read(&engine).unwrap();
        for (i, p) in pieces_a.iter().chain(&pieces_b).enumerate() {
            let want = abs_quantile(p, qs[i]).unwrap();
            let ulp = f32::EPSILON * want.abs();
            assert!(
                (got[i] - want).abs() <= 2.0 * ulp,
                "matrix {i} (n={}, q={}): gpu {} vs sorted {}",
                p.len(),
                qs[i],
                got[i],
                want
            );
        }
        // Integral ranks (q = 0, 1, a single element, all-equal) are exact order statistics.
        assert_eq!(got[1], 2.5);
        assert_eq!(got[4], 0.0);
        assert_eq!(got[5], abs_quantile(&pieces_b[0], 1.0).unwrap());
        assert_eq!(got[5], pieces_b[0].iter().fold(0f32, |a, x| a.max(x.abs())));
    }
}

fn root_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("tall", &[33, 17], "a"),
        ParamSpec::new("wide", &[9, 70], "a"),
        ParamSpec::new("row", &[1, 9], "b"),
        ParamSpec::new("batch", &[3, 8, 12], "b"),
    ]
}

#[test]
fn root_trajectories_match_reference() {
    let engine = engine();
    let mut params = ParamSet::new(&engine, &root_specs()).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(71);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let a = MuonConfig {
        lr: 5e-3,
        ..MuonConfig::root()
    };
    let b = MuonConfig {
        lr: 2e-3,
        clamp_quantile: Some(0.75),
        weight_decay: 0.0,
        ..MuonConfig::root()
    };
    let cfg_of = |g: &str| if g == "a" { a.clone() } else { b.clone() };
    let mut opt = Muon::new(
        &params,
        &[("a".into(), a.clone()), ("b".into(), b.clone())],
        GuardConfig::default(),
    )
    .unwrap();
    assert_eq!(opt.name(), "root");
    let mut states: Vec<MuonState> = layout.slots.iter().map(|s| MuonState::new(s.len)).collect();
    for step in 0..50 {
        let grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 1.0))
            .collect();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        // The oracle's U (sum-form Nesterov) per matrix, for the first step's thresholds.
        let mut expected_thresholds = Vec::new();
        for (i, s) in layout.slots.iter().enumerate() {
            let cfg = cfg_of(&layout.groups[s.group]);
            if step == 0 {
                let (rows, cols) = muon::matrix_dims(&s.shape);
                let beta = cfg.momentum as f32;
                let u: Vec<f32> = grads[i]
                    .iter()
                    .zip(&states[i].momentum_buffer)
                    .map(|(g, m)| g + beta * (beta * m + g))
                    .collect();
                for m in u.chunks(rows * cols) {
                    let q = cfg.clamp_quantile.unwrap();
                    expected_thresholds.push(abs_quantile(m, q).unwrap() + 1e-9);
                }
            }
            muon::step(
                &cfg,
                cfg.lr,
                &s.shape,
                &mut host[i],
                &grads[i],
                &mut states[i],
            )
            .unwrap();
        }
        if step == 0 {
            let got = opt.read_thresholds().unwrap().unwrap();
            assert_close("thresholds", &got, &expected_thresholds, 1e-6, 0.0);
            assert_eq!(got.len(), 1 + 1 + 1 + 3);
        }
    }
    let gpu = params.read_params_by_slot().unwrap();
    let momentum = opt.momentum_arena().read_all(&engine, &layout).unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(
            &format!("{} momentum_buffer", s.name),
            &momentum[i],
            &states[i].momentum_buffer,
            2e-5,
            2e-6,
        );
        assert_close(&s.name, &gpu[i], &host[i], 0.0, 3e-4);
    }
    // The clamp matters: without it the trajectory is measurably different.
    let mut st: Vec<MuonState> = layout.slots.iter().map(|s| MuonState::new(s.len)).collect();
    let mut r2 = rng(71);
    let start: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r2, s.len, 0.5))
        .collect();
    let mut unclamped = start;
    for _ in 0..50 {
        for (i, s) in layout.slots.iter().enumerate() {
            let g = normal_vec(&mut r2, s.len, 1.0);
            let cfg = MuonConfig {
                clamp_quantile: None,
                ..cfg_of(&layout.groups[s.group])
            };
            muon::step(&cfg, cfg.lr, &s.shape, &mut unclamped[i], &g, &mut st[i]).unwrap();
        }
    }
    let diff: f32 = unclamped[0]
        .iter()
        .zip(&host[0])
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff > 1e-2, "clamping changed nothing: {diff}");
}

#[test]
fn root_hybrid_routes_like_the_reference_and_matches_it() {
    let engine = engine();
    let shapes: Vec<(&str, Vec<usize>)> = vec![
        ("embed_tokens", vec![40, 16]),
        ("layers.0.q", vec![16, 16]),
        ("layers.0.up", vec![16, 44]),
        ("layers.0.experts", vec![2, 16, 8]),
        ("layers.0.norm", vec![16]),
        ("lm_head", vec![40, 16]),
    ];
    let specs = MuonAdamW::root_router().specs(shapes.iter().map(|(n, s)| (*n, s.as_slice())));
    let groups: Vec<&str> = specs.iter().map(|s| s.group.as_str()).collect();
    assert_eq!(groups, ["adamw", "muon", "muon", "adamw", "adamw", "adamw"]);
    let mut params = ParamSet::new(&engine, &specs).unwrap();
    let layout = params.layout().clone();
    let mut r = rng(72);
    let mut host: Vec<Vec<f32>> = layout
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, 0.5))
        .collect();
    for (s, p) in layout.slots.iter().zip(&host) {
        params.write_param(&s.name, p).unwrap();
    }
    let lr = 3e-3;
    let clip = 2.0f32;
    let mut opt = MuonAdamW::root(
        &params,
        lr,
        GuardConfig {
            max_grad_norm: Some(clip),
            skip_non_finite: true,
        },
    )
    .unwrap();
    assert_eq!(opt.name(), "root+adamw");
    let m = MuonConfig {
        lr,
        ..MuonConfig::root()
    };
    let ad = AdamConfig {
        lr,
        ..AdamConfig::root_fallback()
    };
    let mut ms: Vec<MuonState> = layout.slots.iter().map(|s| MuonState::new(s.len)).collect();
    let mut ads: Vec<AdamState> = layout
        .slots
        .iter()
        .map(|s| AdamState::new(s.len, false))
        .collect();
    for step in 0..25 {
        let mut grads: Vec<Vec<f32>> = layout
            .slots
            .iter()
            .map(|s| normal_vec(&mut r, s.len, 1.0))
            .collect();
        let poisoned = step == 7;
        if poisoned {
            grads[2][5] = f32::INFINITY;
        }
        let before = params.read_params_by_slot().unwrap();
        let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
        params.write_grads_by_slot(&refs).unwrap();
        opt.step(&mut params).unwrap();
        let d = guard::decide(refs.iter().copied(), Some(clip as f64), true);
        assert_eq!(d.skip, poisoned);
        if d.skip {
            assert_eq!(
                params.read_params_by_slot().unwrap(),
                before,
                "skipped step moved"
            );
            continue;
        }
        for (i, s) in layout.slots.iter().enumerate() {
            let g = guard::clipped(&grads[i], d.clip_coef);
            if layout.groups[s.group] == "muon" {
                muon::step(&m, lr, &s.shape, &mut host[i], &g, &mut ms[i]).unwrap();
            } else {
                adam::step(&ad, lr, &mut host[i], &g, &mut ads[i]).unwrap();
            }
        }
    }
    let s = opt.stats().unwrap();
    assert_eq!((s.applied_steps, s.skipped_steps), (24, 1));
    let gpu = params.read_params_by_slot().unwrap();
    for (i, s) in layout.slots.iter().enumerate() {
        assert_close(&s.name, &gpu[i], &host[i], 2e-5, 3e-4);
    }
}

#[test]
fn zero_gradient_only_decays() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[6, 10], "muon")]).unwrap();
    params.write_param("w", &[0.25f32; 60]).unwrap();
    let cfg = MuonConfig::root();
    let mut opt = Muon::new(
        &params,
        &[("muon".into(), cfg.clone())],
        GuardConfig::default(),
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    let decayed = 0.25f32 * (1.0 - cfg.lr * cfg.weight_decay) as f32;
    assert_eq!(params.read_param("w").unwrap(), vec![decayed; 60]);
    assert_eq!(opt.read_thresholds().unwrap().unwrap(), vec![1e-9f32]);
}

#[test]
fn bad_quantile_is_a_typed_error() {
    let params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[4, 4], "muon")]).unwrap();
    let cfg = MuonConfig {
        clamp_quantile: Some(1.5),
        ..MuonConfig::root()
    };
    let e = Muon::new(&params, &[("muon".into(), cfg)], GuardConfig::default()).unwrap_err();
    assert!(
        matches!(e, wgopt_scheduler::Error::InvalidHyperparameter(_)),
        "{e}"
    );
}
