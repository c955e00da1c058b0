//! Checkpoints written by wgopt before the stepper/program refactor (format
//! `wgopt.optimizer.v1`, files under `tests/data/checkpoints-v1/`) still load: for every
//! optimizer family, the checkpoint saved after three steps is loaded into a freshly built
//! optimizer, saved again (same tensors bit for bit, same metadata), and one more step from the
//! recorded gradient lands on the recorded parameters.
//!
//! The files were written by `write_v1_fixtures` below, run once on the commit before the
//! refactor (`WGOPT_WRITE_FIXTURES=1 cargo test -p wgopt-optim --test v1_checkpoints -- \
//! --ignored`); they are never rewritten.

mod common;
use common::*;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::PathBuf;
use wgopt_optim::*;
use wgopt_scheduler::{GuardConfig, ParamSet, ParamSpec};

/// Steps before the checkpoint.
const STEPS_BEFORE: u64 = 3;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/checkpoints-v1")
}

/// An optimizer and its family's extra calls.
enum Built {
    Plain(Box<dyn Optimizer>),
    Sophia(Box<Sophia>),
    AdaHessian(Box<AdaHessian>),
}

impl Built {
    fn opt(&mut self) -> &mut dyn Optimizer {
        match self {
            Built::Plain(o) => o.as_mut(),
            Built::Sophia(o) => o.as_mut(),
            Built::AdaHessian(o) => o.as_mut(),
        }
    }
}

fn mixed_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w0", &[6, 5], "decay"),
        ParamSpec::new("b0", &[5], "no_decay"),
        ParamSpec::new("w1", &[2, 3, 4], "decay"),
        ParamSpec::new("gain", &[7], "no_decay"),
    ]
}

fn matrix_specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w0", &[6, 5], "a"),
        ParamSpec::new("w1", &[2, 3, 4], "b"),
        ParamSpec::new("w2", &[4, 9], "a"),
    ]
}

fn hybrid_specs(router: &Router) -> Vec<ParamSpec> {
    router.specs([
        ("embed.weight", &[11, 4][..]),
        ("h.0.w", &[6, 5][..]),
        ("h.0.b", &[5][..]),
        ("h.1.w", &[2, 3, 4][..]),
        ("h.2.w", &[5, 6][..]),
    ])
}

/// Every case: (name, specs).
fn cases() -> Vec<(&'static str, Vec<ParamSpec>)> {
    let mut v: Vec<(&'static str, Vec<ParamSpec>)> = [
        "sgd",
        "adam",
        "adamw",
        "lion",
        "adabelief",
        "adan",
        "diffgrad",
        "adagrad",
        "sophia-g",
        "sophia-h",
        "adahessian",
        "adamp",
        "sgdp",
        "mfac",
        "frugal",
    ]
    .into_iter()
    .map(|n| (n, mixed_specs()))
    .collect();
    v.push(("muon", matrix_specs()));
    v.push(("root", matrix_specs()));
    v.push(("sinkgd", matrix_specs()));
    v.push(("muon+adamw", hybrid_specs(&MuonAdamW::router())));
    v.push(("root+adamw", hybrid_specs(&MuonAdamW::root_router())));
    v
}

fn guard() -> GuardConfig {
    GuardConfig {
        max_grad_norm: Some(5.0),
        skip_non_finite: true,
    }
}

/// The two groups of `mixed_specs` with different decay (and a second lr).
fn split<C: Clone>(a: C, b: C) -> Vec<(String, C)> {
    vec![("decay".into(), a), ("no_decay".into(), b)]
}

fn build(name: &str, params: &ParamSet) -> Built {
    let plain = |o: Box<dyn Optimizer>| Built::Plain(o);
    match name {
        "sgd" => plain(Box::new(
            Sgd::new(
                params,
                &split(
                    SgdConfig {
                        lr: 0.05,
                        momentum: 0.9,
                        nesterov: true,
                        weight_decay: 0.01,
                        ..Default::default()
                    },
                    SgdConfig {
                        lr: 0.02,
                        momentum: 0.9,
                        nesterov: true,
                        ..Default::default()
                    },
                ),
                guard(),
            )
            .unwrap(),
        )),
        "adam" | "adamw" => {
            let base = if name == "adam" {
                AdamConfig {
                    weight_decay: 0.01,
                    amsgrad: true,
                    ..AdamConfig::adam()
                }
            } else {
                AdamConfig::adamw()
            };
            plain(Box::new(
                Adam::new(
                    params,
                    &split(
                        AdamConfig { lr: 3e-3, ..base },
                        AdamConfig {
                            lr: 1e-3,
                            weight_decay: 0.0,
                            ..base
                        },
                    ),
                    guard(),
                )
                .unwrap(),
            ))
        }
        "lion" => plain(Box::new(
            Lion::new(
                params,
                &split(
                    LionConfig {
                        lr: 1e-3,
                        weight_decay: 0.1,
                        ..Default::default()
                    },
                    LionConfig::default(),
                ),
                guard(),
            )
            .unwrap(),
        )),
        "adabelief" => plain(Box::new(
            AdaBelief::new(
                params,
                &split(
                    AdaBeliefConfig {
                        weight_decay: 0.1,
                        ..Default::default()
                    },
                    AdaBeliefConfig::default(),
                ),
                guard(),
            )
            .unwrap(),
        )),
        "adan" => plain(Box::new(
            Adan::new(
                params,
                &split(
                    AdanConfig {
                        weight_decay: 0.02,
                        ..Default::default()
                    },
                    AdanConfig::default(),
                ),
                guard(),
            )
            .unwrap(),
        )),
        "diffgrad" => plain(Box::new(
            DiffGrad::new(
                params,
                &split(DiffGradConfig::default(), DiffGradConfig::default()),
                guard(),
            )
            .unwrap(),
        )),
        "adagrad" => plain(Box::new(
            AdaGrad::new(
                params,
                &split(
                    AdaGradConfig {
                        lr: 0.05,
                        initial_accumulator_value: 0.1,
                        ..Default::default()
                    },
                    AdaGradConfig::default(),
                ),
                guard(),
            )
            .unwrap(),
        )),
        "sophia-g" | "sophia-h" => {
            let base = if name == "sophia-g" {
                SophiaConfig::g()
            } else {
                SophiaConfig::h()
            };
            let cfg = SophiaConfig {
                update_interval: 2,
                ..base
            };
            Built::Sophia(Box::new(
                Sophia::with_seed(params, &split(cfg, cfg), guard(), 7).unwrap(),
            ))
        }
        "adahessian" => {
            let cfg = AdaHessianConfig {
                lr: 0.05,
                ..Default::default()
            };
            Built::AdaHessian(Box::new(
                AdaHessian::with_seed(params, &split(cfg, cfg), guard(), 7).unwrap(),
            ))
        }
        "adamp" => plain(Box::new(
            AdamP::new(
                params,
                &split(
                    AdamPConfig {
                        weight_decay: 0.01,
                        ..Default::default()
                    },
                    AdamPConfig::default(),
                ),
                guard(),
            )
            .unwrap(),
        )),
        "sgdp" => plain(Box::new(
            Sgdp::new(
                params,
                &split(SgdpConfig::default(), SgdpConfig::default()),
                guard(),
            )
            .unwrap(),
        )),
        "mfac" => {
            let cfg = MfacConfig {
                lr: 1e-2,
                ngrads: 4,
                damp: 1e-2,
                momentum: 0.5,
                ..Default::default()
            };
            plain(Box::new(
                Mfac::new(params, &split(cfg, cfg), guard()).unwrap(),
            ))
        }
        "frugal" => {
            let cfg = FrugalConfig {
                update_gap: 2,
                density: 0.5,
                seed: 3,
                ..Default::default()
            };
            plain(Box::new(
                Frugal::new(params, &split(cfg, cfg), guard()).unwrap(),
            ))
        }
        "muon" | "root" => {
            let base = if name == "root" {
                MuonConfig::root()
            } else {
                MuonConfig::default()
            };
            let groups = vec![
                ("a".to_string(), base.clone()),
                (
                    "b".to_string(),
                    MuonConfig {
                        lr: base.lr / 2.0,
                        ..base
                    },
                ),
            ];
            plain(Box::new(Muon::new(params, &groups, guard()).unwrap()))
        }
        "sinkgd" => {
            let cfg = SinkGdConfig::default();
            let groups = vec![("a".to_string(), cfg), ("b".to_string(), cfg)];
            plain(Box::new(SinkGd::new(params, &groups, guard()).unwrap()))
        }
        "muon+adamw" => plain(Box::new(
            MuonAdamW::new(
                params,
                &[("muon".into(), MuonConfig::default())],
                &[("adamw".into(), AdamConfig::adamw())],
                guard(),
            )
            .unwrap(),
        )),
        "root+adamw" => plain(Box::new(MuonAdamW::root(params, 1e-3, guard()).unwrap())),
        other => panic!("no case {other}"),
    }
}

/// Seeded tensors shaped like the parameters.
fn tensors(params: &ParamSet, seed: u64, scale: f32) -> Vec<Vec<f32>> {
    let mut r = rng(seed);
    params
        .layout()
        .slots
        .iter()
        .map(|s| normal_vec(&mut r, s.len, scale))
        .collect()
}

fn write_all(params: &mut ParamSet, values: &[Vec<f32>], grads: bool) {
    for (s, v) in params.layout().slots.clone().iter().zip(values) {
        if grads {
            params.write_grad(&s.name, v).unwrap();
        } else {
            params.write_param(&s.name, v).unwrap();
        }
    }
}

/// One step of `built` from gradient seed `seed`, with the curvature its family needs.
fn step(built: &mut Built, params: &mut ParamSet, seed: u64) {
    write_all(params, &tensors(params, seed, 1.0), true);
    match built {
        Built::Plain(o) => o.step(params).unwrap(),
        Built::AdaHessian(o) => {
            o.probes().unwrap();
            for (s, h) in
                params
                    .layout()
                    .slots
                    .clone()
                    .iter()
                    .zip(tensors(params, seed + 1000, 0.5))
            {
                o.write_hvp(params, &s.name, &h).unwrap();
            }
            o.step(params).unwrap();
        }
        Built::Sophia(o) => {
            o.step(params).unwrap();
            if o.hessian_due() {
                if o.is_hutchinson() {
                    o.probes().unwrap();
                }
                write_all(params, &tensors(params, seed + 2000, 0.3), true);
                o.update_hessian(params).unwrap();
            }
        }
    }
}

fn fresh(specs: &[ParamSpec]) -> ParamSet {
    let mut p = ParamSet::new(&engine(), specs).unwrap();
    let init = tensors(&p, 1, 1.0);
    write_all(&mut p, &init, false);
    p
}

fn file_name(case: &str) -> String {
    case.replace('+', "_")
}

fn save_tensors(path: PathBuf, named: Vec<(String, Vec<usize>, Vec<f32>)>) {
    let views: Vec<(String, TensorView<'_>)> = named
        .iter()
        .map(|(n, s, v)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), bytemuck::cast_slice(v)).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
#[ignore = "writes the v1 fixtures; run once on the commit before the refactor"]
fn write_v1_fixtures() {
    if std::env::var_os("WGOPT_WRITE_FIXTURES").is_none() {
        return;
    }
    std::fs::create_dir_all(dir()).unwrap();
    for (case, specs) in cases() {
        let mut params = fresh(&specs);
        let mut built = build(case, &params);
        built
            .opt()
            .set_schedule(Schedule::warmup(2, Schedule::Constant))
            .unwrap();
        for s in 0..STEPS_BEFORE {
            step(&mut built, &mut params, 10 + s);
        }
        let ckpt = built.opt().save(&params).unwrap();
        std::fs::write(
            dir().join(format!("{}.optimizer.safetensors", file_name(case))),
            ckpt,
        )
        .unwrap();
        let layout = params.layout().clone();
        let mut named = Vec::new();
        for (s, v) in layout
            .slots
            .iter()
            .zip(params.read_params_by_slot().unwrap())
        {
            named.push((format!("param.{}", s.name), s.shape.clone(), v));
        }
        step(&mut built, &mut params, 10 + STEPS_BEFORE);
        for (s, v) in layout
            .slots
            .iter()
            .zip(params.read_params_by_slot().unwrap())
        {
            named.push((format!("next.{}", s.name), s.shape.clone(), v));
        }
        save_tensors(
            dir().join(format!("{}.trajectory.safetensors", file_name(case))),
            named,
        );
    }
}

/// The metadata without the checksums (files saved since sealing carry `crc32.*` entries,
/// the v1 fixtures do not).
fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    let mut m = SafeTensors::read_metadata(bytes)
        .unwrap()
        .1
        .metadata()
        .clone()
        .unwrap();
    m.retain(|k, _| !k.starts_with(wgopt_scheduler::files::CHECKSUM_PREFIX));
    m
}

/// Hyperparameters added to a config after v1, with the value that reproduces v1's behaviour:
/// a re-saved v1 checkpoint writes them, and nothing else may differ.
const ADDED_SINCE_V1: &[(&str, &str)] = &[("projection", "\"columns\"")];

fn without_added_defaults(
    mut meta: std::collections::HashMap<String, String>,
) -> std::collections::HashMap<String, String> {
    if let Some(groups) = meta.get_mut("groups") {
        for (key, value) in ADDED_SINCE_V1 {
            *groups = groups.replace(&format!(",\"{key}\":{value}"), "");
        }
    }
    meta
}

#[test]
fn v1_checkpoints_load_save_identically_and_continue() {
    for (case, specs) in cases() {
        let old = std::fs::read(dir().join(format!("{}.optimizer.safetensors", file_name(case))))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let traj = std::fs::read(dir().join(format!("{}.trajectory.safetensors", file_name(case))))
            .unwrap();
        let traj = SafeTensors::deserialize(&traj).unwrap();
        let mut params = fresh(&specs);
        let mut built = build(case, &params);
        let layout = params.layout().clone();
        for s in &layout.slots {
            let v: Vec<f32> = bytemuck::pod_collect_to_vec(
                traj.tensor(&format!("param.{}", s.name)).unwrap().data(),
            );
            params.write_param(&s.name, &v).unwrap();
        }
        built
            .opt()
            .load(&params, &old)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let again = built.opt().save(&params).unwrap();
        let (a, b) = (
            SafeTensors::deserialize(&old).unwrap(),
            SafeTensors::deserialize(&again).unwrap(),
        );
        let (mut na, mut nb) = (a.names(), b.names());
        na.sort();
        nb.sort();
        assert_eq!(na, nb, "{case}: tensor names");
        for n in na {
            assert!(
                a.tensor(n).unwrap().data() == b.tensor(n).unwrap().data(),
                "{case}: {n} differs after load and save"
            );
        }
        assert_eq!(
            metadata(&old),
            without_added_defaults(metadata(&again)),
            "{case}: metadata"
        );
        step(&mut built, &mut params, 10 + STEPS_BEFORE);
        for (s, got) in layout
            .slots
            .iter()
            .zip(params.read_params_by_slot().unwrap())
        {
            let want: Vec<f32> = bytemuck::pod_collect_to_vec(
                traj.tensor(&format!("next.{}", s.name)).unwrap().data(),
            );
            assert_close(&format!("{case} {}", s.name), &got, &want, RTOL, ATOL);
        }
    }
}
