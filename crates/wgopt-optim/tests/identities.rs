//! First-step identities from the spec, checked on the GPU output directly (not through the
//! reference), and the hot-path invariants: one submit, no GPU objects created per step.

mod common;
use common::*;
use wgopt_optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer, Schedule, Sgd, SgdConfig};
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec};

fn one_param(n: usize) -> (ParamSet, Vec<f32>, Vec<f32>) {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[n], "all")]).unwrap();
    let mut r = rng(21);
    let p = normal_vec(&mut r, n, 1.0);
    let mut g = normal_vec(&mut r, n, 1.0);
    g[0] = 0.0;
    params.write_param("w", &p).unwrap();
    params.write_grad("w", &g).unwrap();
    (params, p, g)
}

#[test]
fn adamw_first_step_is_lr_times_sign_plus_decay() {
    let (mut params, p, g) = one_param(33);
    let (lr, wd) = (1e-2, 0.1);
    let mut opt = Adam::all(
        &params,
        AdamConfig {
            lr,
            weight_decay: wd,
            ..AdamConfig::adamw()
        },
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    let got = params.read_param("w").unwrap();
    for i in 0..p.len() {
        let want = p[i] as f64 * (1.0 - lr * wd) - lr * g[i] as f64 / (g[i].abs() as f64 + 1e-8);
        assert!(
            (got[i] as f64 - want).abs() < 1e-6,
            "{i}: {} vs {want}",
            got[i]
        );
    }
}

#[test]
fn sgd_first_momentum_buffer_equals_gradient() {
    let (mut params, _, g) = one_param(9);
    let mut opt = Sgd::all(
        &params,
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..Default::default()
        },
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    let buf = opt.program().state_arenas()[0]
        .1
        .read(&engine(), params.layout().slot("w").unwrap())
        .unwrap();
    assert_eq!(opt.program().state_arenas()[0].0, "momentum_buffer");
    assert_eq!(buf, g);
}

#[test]
fn lion_moves_every_nonzero_coordinate_by_lr() {
    let (mut params, p, g) = one_param(21);
    let lr = 0.125; // a power of two, so p ± lr is exact for |p| < 2
    let mut opt = Lion::all(
        &params,
        LionConfig {
            lr,
            ..Default::default()
        },
    )
    .unwrap();
    opt.step(&mut params).unwrap();
    let got = params.read_param("w").unwrap();
    for i in 0..p.len() {
        let moved = (got[i] - p[i]).abs();
        if g[i] == 0.0 {
            assert_eq!(got[i], p[i]);
        } else {
            assert!(
                (moved - lr as f32).abs() <= f32::EPSILON * 4.0,
                "{i}: moved {moved}"
            );
        }
    }
}

#[test]
fn steps_create_no_gpu_objects_and_submit_once() {
    // Its own engine: the shared one counts objects other tests create in parallel.
    let engine = wgopt_scheduler::Engine::new().unwrap();
    let mut params = ParamSet::new(&engine, &awkward_specs()).unwrap();
    let mut opt = Adam::new(
        &params,
        &[
            ("decay".into(), AdamConfig::adamw()),
            (
                "no_decay".into(),
                AdamConfig {
                    weight_decay: 0.0,
                    ..AdamConfig::adamw()
                },
            ),
        ],
        GuardConfig {
            max_grad_norm: Some(1.0),
            skip_non_finite: true,
        },
    )
    .unwrap();
    opt.set_schedule(Schedule::warmup(
        3,
        Schedule::LinearDecay {
            total: 10,
            floor: 0.0,
        },
    ))
    .unwrap();
    opt.step(&mut params).unwrap();
    let before = engine.object_counts();
    // The same gradients step after step, on purpose.
    params.set_stale_grad_check(false);
    for _ in 0..10 {
        opt.step(&mut params).unwrap();
        // Changing the schedule mid-run must not compile anything either.
        opt.set_schedule(Schedule::Constant).unwrap();
    }
    assert_eq!(engine.object_counts().objects(), before.objects());
    assert_eq!(engine.object_counts().submits, before.submits + 10);
    // tile_sumsq + guard_finalize + adam: one chunk, three dispatches, one submit.
    assert_eq!(opt.dispatches_per_step(), 3);
}

/// One optimizer of the table built on a small GPT-like set (matrices only where it refuses
/// vectors), with the parameters it steps.
struct TableCase {
    name: &'static str,
    params: ParamSet,
    driver: wgopt_optim::registry::Driver,
}

fn table_cases(engine: &wgopt_scheduler::Engine) -> Vec<TableCase> {
    use wgopt_optim::registry::{find, names, Request};
    let shapes: Vec<(&str, &[usize])> = vec![
        ("wte", &[13, 8]),
        ("h.0.w", &[8, 24]),
        ("h.0.b", &[24]),
        ("h.1.w", &[2, 8, 8]),
        ("ln.weight", &[8]),
    ];
    let req = Request {
        hparams: &[("lr", "1e-3")],
        guard: GuardConfig {
            max_grad_norm: Some(1.0),
            skip_non_finite: true,
        },
        ..Request::default()
    };
    names()
        .into_iter()
        .map(|name| {
            let entry = find(name).unwrap();
            let build = |shapes: &[(&str, &[usize])]| {
                let params =
                    ParamSet::new(engine, &(entry.router)().specs(shapes.iter().copied())).unwrap();
                entry.recipe.build(&params, &req).map(|d| (params, d))
            };
            let matrices: Vec<_> = shapes.iter().copied().filter(|s| s.1.len() >= 2).collect();
            let (params, driver) = build(&shapes)
                .or_else(|_| build(&matrices))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            TableCase {
                name,
                params,
                driver,
            }
        })
        .collect()
}

/// Writes gradients, steps once (with the curvature calls Sophia and AdaHessian need around
/// it) and returns the submits `step` itself made.
fn step_case(engine: &wgopt_scheduler::Engine, case: &mut TableCase) -> u64 {
    use wgopt_optim::registry::Driver;
    let (params, driver) = (&mut case.params, &mut case.driver);
    let grads: Vec<Vec<f32>> = params
        .layout()
        .slots
        .iter()
        .map(|s| vec![0.01; s.len])
        .collect();
    let refs: Vec<&[f32]> = grads.iter().map(|g| &g[..]).collect();
    params.write_grads_by_slot(&refs).unwrap();
    if let Driver::AdaHessian(a) = driver {
        a.probes().unwrap();
    }
    if let Driver::Mkor(m) = driver {
        if m.statistics_due() {
            let layers: Vec<(String, usize, usize)> = m
                .program()
                .layers()
                .map(|(n, l)| (n.to_string(), l.a_dim(), l.d_out))
                .collect();
            for (name, a, g) in layers {
                let stats = wgopt_reference::optim::mkor::LayerStatistics {
                    a: vec![0.1; a],
                    g: vec![0.2; g],
                };
                m.write_statistics(&name, &stats).unwrap();
            }
        }
    }
    let submits = engine.object_counts().submits;
    driver.optimizer().step(params).unwrap();
    let one_step = engine.object_counts().submits - submits;
    if let Driver::Sophia(s) = driver {
        if s.hessian_due() {
            if s.is_hutchinson() {
                s.probes().unwrap();
            }
            s.update_hessian(params).unwrap();
        }
    }
    one_step
}

/// Every optimizer of the table, after its first step, creates no buffer, pipeline or bind group
/// per step and submits exactly once per `step` (Sophia's Hessian update and AdaHessian's probe
/// draw are their own calls, also object-free). Matrix-only optimizers get the matrices only.
#[test]
fn every_optimizer_steps_without_new_gpu_objects_in_one_submit() {
    // Its own engine: the shared one counts objects other tests create in parallel.
    let engine = wgopt_scheduler::Engine::new().unwrap();
    for mut case in table_cases(&engine) {
        let name = case.name;
        step_case(&engine, &mut case);
        let before = engine.object_counts().objects();
        for _ in 0..12 {
            assert_eq!(step_case(&engine, &mut case), 1, "{name}: submits per step");
        }
        assert_eq!(
            engine.object_counts().objects(),
            before,
            "{name}: objects created per step"
        );
    }
}

/// Every optimizer of the table can time its steps (what bench-gpu relies on): one finite,
/// non-negative duration per dispatch of the step. Without TIMESTAMP_QUERY the refusal is typed.
#[test]
fn every_optimizer_times_its_dispatches() {
    let engine = engine();
    let timestamps = engine.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    for mut case in table_cases(&engine) {
        let name = case.name;
        match case.driver.optimizer().enable_timing() {
            Ok(()) => assert!(timestamps, "{name}: timing without TIMESTAMP_QUERY"),
            Err(wgopt_scheduler::Error::MissingFeature { .. }) if !timestamps => continue,
            Err(e) => panic!("{name}: enable_timing: {e}"),
        }
        for _ in 0..2 {
            step_case(&engine, &mut case);
        }
        let optimizer = case.driver.optimizer();
        let timings = optimizer.timings().unwrap();
        assert_eq!(timings.len(), optimizer.dispatches_per_step(), "{name}");
        assert!(!timings.is_empty(), "{name}: no dispatch timed");
        for (label, ns) in timings {
            assert!(ns.is_finite() && ns >= 0.0, "{name}: {label} took {ns} ns");
        }
    }
}
