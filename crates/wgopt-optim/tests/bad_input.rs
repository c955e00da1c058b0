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
        matches!(&e, Error::UnknownGroup { group, .. } if group == "other"),
        "{e}"
    );
}

/// Unknown, duplicate and missing groups are typed errors for every program, and across the
/// two parts of a hybrid.
#[test]
fn group_errors_for_every_program() {
    use wgopt_optim::program::Program;
    use wgopt_optim::*;
    fn check<P: Program>(default: P::Config) {
        let specs = [
            ParamSpec::new("a", &[4, 3], "g"),
            ParamSpec::new("b", &[2, 5], "h"),
        ];
        let params = ParamSet::new(&engine(), &specs).unwrap();
        let g = |l: &str| (l.to_string(), default.clone());
        let name = P::name(&[&default]);
        let guard = GuardConfig::default();
        let e = Stepper::<P>::new(&params, &[g("g"), g("zz")], guard).unwrap_err();
        assert!(
            matches!(e, Error::UnknownGroup { ref group, .. } if group == "zz"),
            "{name}: {e}"
        );
        let e = Stepper::<P>::new(&params, &[g("g"), g("h"), g("g")], guard).unwrap_err();
        assert!(
            matches!(e, Error::DuplicateGroup { ref group, .. } if group == "g"),
            "{name}: {e}"
        );
        let e = Stepper::<P>::new(&params, &[g("g")], guard).unwrap_err();
        assert!(
            matches!(e, Error::MissingGroup { ref group, .. } if group == "h"),
            "{name}: {e}"
        );
        Stepper::<P>::new(&params, &[g("h"), g("g")], guard)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    check::<Fused<SgdRule>>(SgdConfig::default());
    check::<Fused<AdamRule>>(AdamConfig::adamw());
    check::<Fused<LionRule>>(LionConfig::default());
    check::<Fused<AdaBeliefRule>>(AdaBeliefConfig::default());
    check::<Fused<AdanRule>>(AdanConfig::default());
    check::<Fused<DiffGradRule>>(DiffGradConfig::default());
    check::<Fused<AdaGradRule>>(AdaGradConfig::default());
    check::<SophiaProgram>(SophiaConfig::g());
    check::<AdaHessianProgram>(AdaHessianConfig::default());
    check::<adamp::Projected<AdamPConfig>>(AdamPConfig::default());
    check::<adamp::Projected<SgdpConfig>>(SgdpConfig::default());
    check::<MfacProgram>(MfacConfig {
        ngrads: 4,
        ..Default::default()
    });
    check::<FrugalProgram>(FrugalConfig::default());
    check::<MuonProgram>(MuonConfig::default());
    check::<SinkGdProgram>(SinkGdConfig::default());
    // A hybrid: a group given to both parts is a duplicate; one given to neither is missing.
    let specs = MuonAdamW::router().specs([("h.w", &[4, 3][..]), ("h.b", &[3][..])]);
    let params = ParamSet::new(&engine(), &specs).unwrap();
    let (m, a) = (MuonConfig::default(), AdamConfig::adamw());
    let guard = GuardConfig::default();
    let e = MuonAdamW::new(
        &params,
        &[("muon".into(), m.clone())],
        &[("muon".into(), a)],
        guard,
    )
    .unwrap_err();
    assert!(matches!(e, Error::DuplicateGroup { .. }), "{e}");
    let e = MuonAdamW::new(&params, &[("muon".into(), m)], &[], guard).unwrap_err();
    assert!(
        matches!(e, Error::MissingGroup { ref group, .. } if group == "adamw"),
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
    let mut params = ParamSet::new(
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

/// Every name of the table builds an optimizer over a matrix and a vector grouped by its
/// router (a matrix-only optimizer refuses the vector with a typed error that names its
/// hybrid); keys map onto the config's fields (betas by index), values parse as JSON scalars
/// or bare words, and bad ones are typed errors.
#[test]
fn registry_builds_every_name_and_parses_keys() {
    use wgopt_optim::registry::{config_from, find, names, Request};
    use wgopt_reference::optim::{AdanConfig, SophiaConfig, SophiaEstimator};
    let shapes = [("h.w", &[2, 3][..]), ("h.b", &[3][..])];
    let req = Request {
        hparams: &[("lr", "0.01")],
        ..Request::default()
    };
    for name in names() {
        let entry = find(name).unwrap();
        let both = ParamSet::new(&engine(), &(entry.router)().specs(shapes)).unwrap();
        let built = match entry.recipe.build(&both, &req) {
            Ok(d) => d,
            Err(Error::ShapeMismatch {
                name: p, expected, ..
            }) => {
                assert_eq!(p, "h.b", "{name}");
                assert!(expected.contains("+adamw"), "{name}: {expected}");
                let w = ParamSet::new(&engine(), &(entry.router)().specs([shapes[0]])).unwrap();
                entry
                    .recipe
                    .build(&w, &req)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert!(!built.into_optimizer().name().is_empty(), "{name}");
    }
    let adan: AdanConfig = config_from("adan", AdanConfig::default(), &[("beta3", "0.5")]).unwrap();
    assert_eq!(adan.betas, (0.98, 0.92, 0.5));
    let c = config_from(
        "sophia-g",
        SophiaConfig::g(),
        &[("estimator", "hutchinson"), ("bs", "480")],
    )
    .unwrap();
    assert_eq!(c.estimator, SophiaEstimator::Hutchinson);
    assert_eq!(c.bs, 480.0);
    assert_eq!(c.rho, SophiaConfig::g().rho);
    let params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[2, 3], "g")]).unwrap();
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

/// A group's hyperparameters change between steps (the next step uses them); an unknown
/// group, an invalid config or a change of a kernel flag is refused and changes nothing.
#[test]
fn group_configs_change_between_steps() {
    let mut params = ParamSet::new(&engine(), &[ParamSpec::new("w", &[5], "all")]).unwrap();
    let (p0, g) = (
        [1.0f32, -2.0, 0.5, 3.0, 0.0],
        [0.5f32, 1.0, -1.0, 0.25, 2.0],
    );
    params.write_param("w", &p0).unwrap();
    params.write_grad("w", &g).unwrap();
    let sgd = |lr| SgdConfig {
        lr,
        momentum: 0.0,
        ..SgdConfig::default()
    };
    let mut opt = Sgd::all(&params, sgd(0.125)).unwrap();
    opt.step(&mut params).unwrap();
    opt.set_group_config("all", sgd(0.5)).unwrap();
    let e = opt.set_group_config("other", sgd(1.0)).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownGroup { group, .. } if group == "other"),
        "{e}"
    );
    let e = opt.set_group_config("all", sgd(-1.0)).unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)), "{e}");
    let nesterov = SgdConfig {
        momentum: 0.9,
        nesterov: true,
        ..sgd(1.0)
    };
    let e = opt.set_group_config("all", nesterov).unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)), "{e}");
    // Built without momentum, it has no momentum buffer to give a group that asks for one.
    let with_momentum = SgdConfig {
        momentum: 0.5,
        ..sgd(1.0)
    };
    let e = opt.set_group_config("all", with_momentum).unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)), "{e}");
    params.write_grad("w", &g).unwrap();
    opt.step(&mut params).unwrap();
    // p − 0.125·g − 0.5·g: the refused configs left lr 0.5 in place. Powers of two: exact.
    let want: Vec<f32> = p0.iter().zip(&g).map(|(p, g)| p - 0.625 * g).collect();
    assert_close("w", &params.read_param("w").unwrap(), &want, 0.0, 0.0);
}

/// A hybrid's AdamW part changes through `set_partner_config`; its Muon part through
/// `set_group_config`, which does not know the AdamW groups.
#[test]
fn hybrid_partner_config_changes() {
    use wgopt_optim::{MuonAdamW, MuonConfig};
    let specs = [
        ParamSpec::new("h.w", &[4, 4], "muon"),
        ParamSpec::new("b", &[3], "adamw"),
    ];
    let mut params = ParamSet::new(&engine(), &specs).unwrap();
    params.write_param("b", &[1.0, 1.0, 1.0]).unwrap();
    params.write_grad("h.w", &[0.5; 16]).unwrap();
    params.write_grad("b", &[1.0, -1.0, 2.0]).unwrap();
    let adamw = |lr| AdamConfig {
        lr,
        weight_decay: 0.0,
        ..AdamConfig::adamw()
    };
    let muon = [("muon".to_string(), MuonConfig::default())];
    let mut opt = MuonAdamW::new(
        &params,
        &muon,
        &[("adamw".into(), adamw(0.25))],
        GuardConfig::default(),
    )
    .unwrap();
    opt.set_partner_config("adamw", adamw(0.5)).unwrap();
    let e = opt
        .set_group_config("adamw", MuonConfig::default())
        .unwrap_err();
    assert!(
        matches!(&e, Error::UnknownGroup { group, .. } if group == "adamw"),
        "{e}"
    );
    opt.step(&mut params).unwrap();
    // Adam's first step moves each entry by lr·sign(g) (up to eps).
    let want = [0.5f32, 1.5, 0.5];
    assert_close("b", &params.read_param("b").unwrap(), &want, 1e-6, 1e-6);
}
