//! Checkpoints: bit-exact round trips that continue identically, torch field names, and
//! corrupt or mismatched files rejected with the culprit named and nothing changed.

mod common;
use common::*;
use wgopt_optim::{Adam, AdamConfig, Lion, LionConfig, Optimizer, Schedule, Sgd, SgdConfig};
use wgopt_scheduler::{Error, ParamSet, ParamSpec};

/// Same tensors (bit for bit) and the same metadata. Whole files may differ in byte order of
/// the JSON header (safetensors writes the metadata map in hash order).
fn assert_same_checkpoint(a: &[u8], b: &[u8], what: &str) {
    let (ta, tb) = (
        safetensors::SafeTensors::deserialize(a).unwrap(),
        safetensors::SafeTensors::deserialize(b).unwrap(),
    );
    let mut na = ta.names();
    let mut nb = tb.names();
    na.sort();
    nb.sort();
    assert_eq!(na, nb, "{what}: tensor names");
    for n in na {
        assert!(
            ta.tensor(n).unwrap().data() == tb.tensor(n).unwrap().data(),
            "{what}: {n} differs"
        );
    }
    let ma = safetensors::SafeTensors::read_metadata(a).unwrap().1;
    let mb = safetensors::SafeTensors::read_metadata(b).unwrap().1;
    assert_eq!(ma.metadata(), mb.metadata(), "{what}: metadata");
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

fn fresh(seed: u64) -> ParamSet {
    let mut p = ParamSet::new(&engine(), &awkward_specs()).unwrap();
    let mut r = rng(seed);
    for s in p.layout().slots.clone() {
        p.write_param(&s.name, &normal_vec(&mut r, s.len, 1.0))
            .unwrap();
    }
    p
}

fn round_trip_continues_identically(
    make: impl Fn(&ParamSet) -> Box<dyn Optimizer>,
    fields: &[&str],
) {
    let mut a = fresh(1);
    let mut opt_a = make(&a);
    opt_a
        .set_schedule(Schedule::warmup(
            2,
            Schedule::Cosine {
                total: 20,
                floor: 0.0,
            },
        ))
        .unwrap();
    for s in 0..5 {
        feed(&mut a, 100 + s);
        opt_a.step(&mut a).unwrap();
    }
    let bytes = opt_a.save(&a).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for f in fields {
        assert!(file.tensor(&format!("w0.{f}")).is_ok(), "missing w0.{f}");
    }
    let meta = safetensors::SafeTensors::read_metadata(&bytes).unwrap().1;
    assert_eq!(meta.metadata().as_ref().unwrap()["step"], "5");
    // A second parameter set with the same parameters and a new optimizer, restored.
    let mut b = fresh(1);
    let params_a = a.read_params_by_slot().unwrap();
    for (s, p) in a.layout().slots.iter().zip(&params_a) {
        b.write_param(&s.name, p).unwrap();
    }
    let mut opt_b = make(&b);
    opt_b.load(&b, &bytes).unwrap();
    assert_same_checkpoint(&opt_b.save(&b).unwrap(), &bytes, "round trip");
    for s in 5..10 {
        feed(&mut a, 100 + s);
        feed(&mut b, 100 + s);
        opt_a.step(&mut a).unwrap();
        opt_b.step(&mut b).unwrap();
    }
    assert!(
        a.read_params_by_slot().unwrap() == b.read_params_by_slot().unwrap(),
        "continued runs diverge"
    );
}

#[test]
fn adamw_amsgrad_round_trip() {
    round_trip_continues_identically(
        |p| {
            Box::new(
                Adam::all(
                    p,
                    AdamConfig {
                        amsgrad: true,
                        ..AdamConfig::adamw()
                    },
                )
                .unwrap(),
            )
        },
        &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    );
}

#[test]
fn sgd_and_lion_round_trip() {
    round_trip_continues_identically(
        |p| {
            Box::new(
                Sgd::all(
                    p,
                    SgdConfig {
                        lr: 0.01,
                        momentum: 0.9,
                        ..Default::default()
                    },
                )
                .unwrap(),
            )
        },
        &["momentum_buffer"],
    );
    round_trip_continues_identically(
        |p| Box::new(Lion::all(p, LionConfig::default()).unwrap()),
        &["exp_avg"],
    );
}

#[test]
fn corrupt_and_mismatched_checkpoints_change_nothing() {
    let mut a = fresh(2);
    let mut opt = Adam::all(&a, AdamConfig::adamw()).unwrap();
    feed(&mut a, 5);
    opt.step(&mut a).unwrap();
    let good = opt.save(&a).unwrap();

    let expect_err = |opt: &mut Adam, p: &ParamSet, bytes: &[u8], needle: &str| {
        let before = opt.save(p).unwrap();
        let e = opt.load(p, bytes).unwrap_err();
        assert!(matches!(e, Error::Checkpoint(_)), "{e}");
        assert!(
            e.to_string().contains(needle),
            "{e} should mention {needle}"
        );
        assert_same_checkpoint(&opt.save(p).unwrap(), &before, "after a failed load");
    };
    expect_err(&mut opt, &a, b"garbage", "safetensors");
    expect_err(&mut opt, &a, &good[..good.len() - 7], "safetensors");
    // Other optimizer.
    let mut lion = Lion::all(&a, LionConfig::default()).unwrap();
    let lion_bytes = lion.save(&a).unwrap();
    expect_err(&mut opt, &a, &lion_bytes, "lion");
    // Other layout: a parameter renamed.
    let mut specs = awkward_specs();
    specs[0].name = "renamed".into();
    let c = ParamSet::new(&engine(), &specs).unwrap();
    let mut opt_c = Adam::all(&c, AdamConfig::adamw()).unwrap();
    let e = opt_c.load(&c, &good).unwrap_err();
    assert!(e.to_string().contains("renamed"), "{e}");
    // Other shape.
    let mut specs = awkward_specs();
    specs[3].shape = vec![4 * 64 + 1, 5];
    let d = ParamSet::new(&engine(), &specs).unwrap();
    let mut opt_d = Adam::all(&d, AdamConfig::adamw()).unwrap();
    let e = opt_d.load(&d, &good).unwrap_err();
    assert!(e.to_string().contains("\"w1\""), "{e}");
    // Different kernel flags.
    let mut opt_e = Adam::all(
        &a,
        AdamConfig {
            amsgrad: true,
            ..AdamConfig::adamw()
        },
    )
    .unwrap();
    let e = opt_e.load(&a, &good).unwrap_err();
    assert!(e.to_string().contains("flags"), "{e}");
    // A single parameter file into a larger set: names the missing parameter.
    let small = ParamSet::new(&engine(), &[ParamSpec::new("w0", &[17, 33], "decay")]).unwrap();
    let mut opt_s = Adam::all(&small, AdamConfig::adamw()).unwrap();
    let small_bytes = opt_s.save(&small).unwrap();
    let e = opt.load(&a, &small_bytes).unwrap_err();
    assert!(matches!(e, Error::Checkpoint(_)), "{e}");
}
