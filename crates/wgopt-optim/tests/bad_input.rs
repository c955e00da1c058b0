//! Bad input: every case gets a typed error that names the culprit, and changes nothing.

mod common;
use common::*;
use wgopt_optim::{create, Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

#[test]
fn wrong_gradient_length_or_shape() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[3, 4], "g")]).unwrap();
    let e = params.write_grad("w", &[0.0f32; 11]).unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "w"),
        "{e}"
    );
    let e = params
        .write_grad_shaped("w", &[4, 3], &[0.0f32; 12])
        .unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "w"),
        "{e}"
    );
    let e = params.write_grads::<f32>(&[]).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }));
    // f16 and bf16 uploads convert on the host.
    params
        .write_grad("w", &[half::f16::from_f32(0.5); 12])
        .unwrap();
    params
        .write_param("w", &[half::bf16::from_f32(0.25); 12])
        .unwrap();
    assert_eq!(params.read_param("w").unwrap(), vec![0.25; 12]);
}

#[test]
fn unknown_names() {
    let params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2], "g")]).unwrap();
    assert!(matches!(params.read_param("nope"), Err(Error::UnknownParameter(n)) if n == "nope"));
    let e = create("adamz", &params, &[], &[], GuardConfig::default())
        .err()
        .unwrap();
    assert!(
        matches!(
            &e,
            Error::UnknownName {
                kind: "optimizer",
                ..
            }
        ),
        "{e}"
    );
    let e = create(
        "adamw",
        &params,
        &[("betta1", "0.9")],
        &[],
        GuardConfig::default(),
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            &e,
            Error::UnknownName {
                kind: "hyperparameter",
                ..
            }
        ),
        "{e}"
    );
    let e = Adam::new(
        &params,
        &[("other".into(), AdamConfig::adamw())],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::UnknownName { kind: "group", .. }),
        "{e}"
    );
}

#[test]
fn zero_size_and_duplicate_parameters() {
    let e = ParamSet::new(&engine(), &[ParamSpec::new("z", &[4, 0], "g")]).unwrap_err();
    assert!(matches!(&e, Error::EmptyParameter(n) if n == "z"));
    let e = ParamSet::new(
        &engine(),
        &[
            ParamSpec::new("a", &[1], "g"),
            ParamSpec::new("a", &[2], "h"),
        ],
    )
    .unwrap_err();
    assert!(matches!(&e, Error::DuplicateParameter(n) if n == "a"));
}

#[test]
fn invalid_hyperparameters() {
    let params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2], "g")]).unwrap();
    let bad = [
        SgdConfig {
            nesterov: true,
            ..Default::default()
        },
        SgdConfig {
            lr: -1.0,
            ..Default::default()
        },
    ];
    for cfg in bad {
        assert!(matches!(
            Sgd::all(&params, cfg),
            Err(Error::InvalidHyperparameter(_))
        ));
    }
    let e = Adam::all(
        &params,
        AdamConfig {
            betas: (0.9, 1.0),
            ..AdamConfig::adamw()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)));
    // Kernel flags must agree across groups.
    let two = ParamSet::new(
        &engine(),
        &[
            ParamSpec::new("a", &[2], "x"),
            ParamSpec::new("b", &[2], "y"),
        ],
    )
    .unwrap();
    let e = Adam::new(
        &two,
        &[
            ("x".into(), AdamConfig::adamw()),
            (
                "y".into(),
                AdamConfig {
                    amsgrad: true,
                    ..AdamConfig::adamw()
                },
            ),
        ],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)));
}

#[test]
fn optimizer_refuses_another_param_set() {
    let a = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2], "g")]).unwrap();
    let mut b = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2], "g")]).unwrap();
    let mut opt = Adam::all(&a, AdamConfig::adamw()).unwrap();
    assert!(opt.step(&mut b).is_err());
}

#[test]
fn missing_feature_is_a_typed_error() {
    // wgopt never requests SHADER_F64, so no device of its has it.
    let e = engine()
        .require_features(wgpu::Features::SHADER_F64)
        .unwrap_err();
    assert!(
        matches!(&e, Error::MissingFeature { missing, .. } if missing.contains("SHADER_F64")),
        "{e}"
    );
}

#[test]
fn split_parameter_has_no_single_binding_and_muon_refuses_it() {
    // 10 000 floats do not fit the cramped engine's 13 KiB chunks: the parameter is split.
    let params = ParamSet::new(
        &cramped_engine(),
        &[ParamSpec::new("huge", &[100, 100], "g")],
    )
    .unwrap();
    assert!(params.layout().slot("huge").unwrap().is_split());
    let e = params.grad_binding("huge").unwrap_err();
    assert!(
        matches!(&e, Error::OverLimit { what, .. } if what.contains("huge")),
        "{e}"
    );
    let e = wgopt_optim::Muon::new(
        &params,
        &[("g".into(), wgopt_optim::MuonConfig::default())],
        GuardConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::OverLimit { what, .. } if what.contains("huge")),
        "{e}"
    );
}

/// Every registry name builds an optimizer; keys map onto the config's fields (betas by
/// index), values parse as JSON scalars or bare words, and bad ones are typed errors.
#[test]
fn registry_builds_every_name_and_parses_keys() {
    use wgopt_optim::registry::{config_from, hparams, OPTIMIZER_NAMES};
    use wgopt_reference::optim::{AdanConfig, Hparams, SophiaConfig, SophiaEstimator};
    let params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2, 3], "g")]).unwrap();
    for name in OPTIMIZER_NAMES {
        let opt = create(
            name,
            &params,
            &[("lr", "0.01")],
            &["g"],
            GuardConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!opt.name().is_empty());
    }
    let adan: AdanConfig = config_from("adan", AdanConfig::default(), &[("beta3", "0.5")]).unwrap();
    assert_eq!(adan.betas, (0.98, 0.92, 0.5));
    match hparams("sophia-g", &[("estimator", "hutchinson"), ("bs", "480")]).unwrap() {
        Hparams::Sophia(c) => {
            assert_eq!(c.estimator, SophiaEstimator::Hutchinson);
            assert_eq!(c.bs, 480.0);
            assert_eq!(c.rho, SophiaConfig::g().rho);
        }
        other => panic!("{other:?}"),
    }
    for (name, kv) in [
        ("adamw", ("lr", "fast")),
        ("adan", ("beta4", "0.1")),
        ("sgd", ("nesterov", "2")),
    ] {
        let e = create(name, &params, &[kv], &[], GuardConfig::default())
            .err()
            .unwrap();
        assert!(
            matches!(
                e,
                Error::InvalidHyperparameter(_) | Error::UnknownName { .. }
            ),
            "{name} {kv:?}: {e}"
        );
    }
}
