//! The step's contract: GPU-to-GPU only, one submit, a skipped non-finite step that leaves
//! burn's parameters bit-identical, bit-identical resume, and typed errors that hand the module
//! back unchanged.

mod common;

use burn::module::Module;
use burn::tensor::{DType, Tensor};
use common::{grads_of, shared, values, Mlp};
use wgopt_burn::{Error, WgoptConfig, WgoptOptimizer};

fn adamw() -> WgoptOptimizer {
    WgoptConfig::new("adamw")
        .with("lr", 1e-2)
        .init(shared())
        .unwrap()
}

/// `steps` steps of `optim` on `model` from batch `first` on.
fn train(mut model: Mlp, optim: &mut WgoptOptimizer, first: usize, steps: usize) -> Mlp {
    let device = shared().autodiff_device();
    for s in first..first + steps {
        let g = grads_of(&model, &device, s);
        model = optim.step(1e-2, model, g).unwrap();
    }
    model
}

#[test]
fn a_nan_gradient_skips_the_step_and_leaves_burns_parameters_bit_identical() {
    let device = shared().autodiff_device();
    let start = Mlp::new(&device, true);
    let mut control = adamw();
    let expected = values(&train(start.clone(), &mut control, 0, 2));

    let mut optim = adamw();
    let model = train(start, &mut optim, 0, 1);
    let before = values(&model);
    let mut g = grads_of(&model, &device, 1);
    let id = model.out.bias.as_ref().unwrap().id;
    g.register(
        id,
        Tensor::<1>::full([5], f32::NAN, &shared().device().clone()),
    );
    let model = optim.step(1e-2, model, g).unwrap();
    assert_eq!(
        values(&model),
        before,
        "a skipped step changed burn's parameters"
    );
    let stats = optim.stats().unwrap();
    assert_eq!((stats.applied_steps, stats.skipped_steps), (1, 1));
    let model = train(model, &mut optim, 1, 1);
    assert_eq!(
        values(&model),
        expected,
        "the skipped step changed the optimizer state"
    );
}

#[test]
fn resume_from_burn_record_and_wgopt_state_is_bit_identical() {
    let device = shared().autodiff_device();
    let start = Mlp::new(&device, true);
    let mut straight = WgoptConfig::new("muon+adamw").init(shared()).unwrap();
    let expected = values(&train(start.clone(), &mut straight, 0, 6));

    let mut first = WgoptConfig::new("muon+adamw").init(shared()).unwrap();
    let half = train(start.clone(), &mut first, 0, 3);
    let dir = std::env::temp_dir().join(format!("wgopt-burn-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("optimizer.safetensors");
    first.save_file(&state).unwrap();
    let record = half.into_record();

    let resumed = start.load_record(record);
    let mut second = WgoptConfig::new("muon+adamw").init(shared()).unwrap();
    second.load_file(&state).unwrap();
    let names = {
        let end = train(resumed, &mut second, 3, 3);
        assert_eq!(values(&end), expected, "resume is not bit-identical");
        second.parameter_names()
    };
    assert!(names.contains(&"hidden.weight".to_string()), "{names:?}");
    let bytes = std::fs::read(&state).unwrap();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_string();
    assert!(
        text.contains("hidden.bias.exp_avg"),
        "state keyed by burn paths"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The error of a refused step, after checking the module came back unchanged.
fn refused(
    optim: &mut WgoptOptimizer,
    lr: f64,
    model: Mlp,
    g: burn::optim::GradientsParams,
) -> Error {
    let before = values(&model);
    let r = optim
        .step(lr, model, g)
        .expect_err("the step should be refused");
    assert_eq!(
        values(&r.module),
        before,
        "a refused step changed the module"
    );
    r.error
}

#[test]
fn bad_steps_are_typed_errors_that_lose_nothing() {
    let device = shared().autodiff_device();
    let mut optim = adamw();
    let model = train(Mlp::new(&device, true), &mut optim, 0, 1);

    let g = grads_of(&model, &device, 1);
    let e = refused(&mut optim, f64::NAN, model.clone(), g);
    assert!(matches!(e, Error::BadLearningRate(_)), "{e}");

    let mut g = grads_of(&model, &device, 1);
    g.remove::<1>(model.out.bias.as_ref().unwrap().id);
    let e = refused(&mut optim, 1e-2, model.clone(), g);
    assert!(
        matches!(&e, Error::MissingGradient { names } if names == &["out.bias"]),
        "{e}"
    );

    let other = Mlp::new(&device, false);
    let g = grads_of(&other, &device, 1);
    let e = refused(&mut optim, 1e-2, other, g);
    assert!(
        matches!(&e, Error::ParametersChanged { removed, .. } if removed.len() == 2),
        "{e}"
    );

    let mut g = grads_of(&model, &device, 1);
    let id = model.hidden.weight.id;
    let strided = Tensor::<2>::ones([13, 7], &shared().device().clone()).transpose();
    g.register(id, strided);
    let e = refused(&mut optim, 1e-2, model.clone(), g);
    assert!(matches!(e, Error::NotContiguous { .. }), "{e}");

    let mut g = grads_of(&model, &device, 1);
    let half = Tensor::<2>::ones([7, 13], &shared().device().clone()).cast(DType::F16);
    g.register(id, half);
    let e = refused(&mut optim, 1e-2, model.clone(), g);
    assert!(matches!(e, Error::UnsupportedDType { .. }), "{e}");

    // The optimizer is intact after every refusal: a good step still applies.
    let model = train(model, &mut optim, 1, 1);
    assert_eq!(optim.stats().unwrap().applied_steps, 2);
    let _ = model;
}

#[test]
fn bad_configs_and_checkpoints_are_typed_errors() {
    let e = WgoptConfig::new("adamz").init(shared()).unwrap_err();
    assert!(
        e.to_string().contains("adamw"),
        "the error lists known names: {e}"
    );
    let e = WgoptConfig::new("adamw")
        .with("lr_typo", 1)
        .init(shared())
        .unwrap_err();
    assert!(e.to_string().contains("lr_typo"), "{e}");

    let device = shared().autodiff_device();
    let mut optim = adamw();
    optim.load_bytes(b"not a checkpoint").unwrap();
    let model = Mlp::new(&device, true);
    let g = grads_of(&model, &device, 0);
    let e = refused(&mut optim, 1e-2, model.clone(), g);
    assert!(
        matches!(e, Error::Wgopt(wgopt_scheduler::Error::Checkpoint(_))),
        "{e}"
    );

    let mut optim = adamw();
    let model = train(model, &mut optim, 0, 1);
    let good = optim.to_bytes().unwrap();
    let mut bad = good.clone();
    bad.truncate(good.len() / 2);
    assert!(optim.load_bytes(&bad).is_err());
    let now = optim.to_bytes().unwrap();
    assert!(
        common::checkpoint_contents(&now) == common::checkpoint_contents(&good),
        "a refused checkpoint changed the state"
    );
    let _ = model;
}

#[test]
fn curvature_the_adapter_cannot_supply_is_refused() {
    let device = shared().autodiff_device();
    let model = Mlp::new(&device, true);
    for name in ["adahessian", "sophia-h"] {
        let mut optim = WgoptConfig::new(name).init(shared()).unwrap();
        let g = grads_of(&model, &device, 0);
        let e = refused(&mut optim, 1e-3, model.clone(), g);
        assert!(
            matches!(e, Error::NeedsHessianVectorProducts { .. }),
            "{name}: {e}"
        );
    }
    let mut optim = adamw();
    let model = train(model, &mut optim, 0, 1);
    assert!(!optim.curvature_due());
    let g = grads_of(&model, &device, 1);
    let e = optim.update_curvature(&model, &g).unwrap_err();
    assert!(matches!(e, Error::NoCurvature { .. }), "{e}");
}

#[test]
fn sophia_g_takes_its_estimate_when_due() {
    let device = shared().autodiff_device();
    let mut optim = WgoptConfig::new("sophia-g")
        .with("update_interval", 2)
        .init(shared())
        .unwrap();
    let mut model = Mlp::new(&device, true);
    let mut estimates = 0;
    for s in 0..6 {
        let g = grads_of(&model, &device, s);
        model = optim.step(1e-3, model, g).unwrap();
        if optim.curvature_due() {
            let g = grads_of(&model, &device, 100 + s);
            optim.update_curvature(&model, &g).unwrap();
            estimates += 1;
        }
    }
    assert_eq!(estimates, 3, "every second step");
    let (driver, params) = optim.inner().unwrap();
    let stats = match driver {
        wgopt_optim::Driver::Sophia(s) => s.hessian_stats().unwrap(),
        _ => panic!("sophia-g builds a Sophia driver"),
    };
    assert_eq!(stats.applied_steps, 3, "three Hessian updates applied");
    let _ = params;
}

/// The README's loop line: `model = optim.step(lr, model, grads)?` in a function returning
/// anyhow's error (a refused step converts, module and all).
fn readme_loop(optim: &mut WgoptOptimizer, model: Mlp, s: usize) -> anyhow::Result<Mlp> {
    let device = shared().autodiff_device();
    let grads = grads_of(&model, &device, s);
    let model = optim.step(1e-2, model, grads)?;
    Ok(model)
}

#[test]
fn a_refused_step_converts_to_anyhow() {
    let device = shared().autodiff_device();
    let mut optim = adamw();
    let model = readme_loop(&mut optim, Mlp::new(&device, true), 0).unwrap();
    let other = Mlp::new(&device, false);
    let e = readme_loop(&mut optim, other, 1).unwrap_err();
    assert!(e.to_string().contains("step refused"), "{e}");
    let _ = model;
}
