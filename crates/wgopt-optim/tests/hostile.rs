//! Hostile and careless use of the library, each answered by a typed error that names the
//! culprit and changes nothing: corrupted checkpoints (every flipped data byte, NaN state),
//! stale gradients, invalid guards and schedules, over-limit shapes; and the explicit APIs
//! that replace silent misuse (declaration-order bulk writes, the hyperparameters a `load`
//! replaced).

mod common;
use common::*;
use wgopt_optim::{Adam, AdamConfig, Optimizer, Schedule};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, ParamSpec};

fn specs() -> Vec<ParamSpec> {
    vec![
        ParamSpec::new("w", &[3, 5], "all"),
        ParamSpec::new("b", &[3], "all"),
    ]
}

/// An AdamW after three steps, and its checkpoint.
fn trained() -> (ParamSet, Adam, Vec<u8>) {
    let mut p = ParamSet::new(&engine(), &specs()).unwrap();
    let mut r = rng(4);
    p.write_param("w", &normal_vec(&mut r, 15, 1.0)).unwrap();
    p.write_param("b", &normal_vec(&mut r, 3, 1.0)).unwrap();
    let mut opt = Adam::all(&p, AdamConfig::adamw()).unwrap();
    for _ in 0..3 {
        p.write_grad("w", &normal_vec(&mut r, 15, 1.0)).unwrap();
        p.write_grad("b", &normal_vec(&mut r, 3, 1.0)).unwrap();
        opt.step(&mut p).unwrap();
    }
    let bytes = opt.save(&p).unwrap();
    (p, opt, bytes)
}

/// Where the tensor data starts in a safetensors image (after the 8-byte length and header).
fn data_start(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

#[test]
fn every_flipped_data_byte_of_a_checkpoint_is_refused_and_changes_nothing() {
    let (p, mut opt, good) = trained();
    let start = data_start(&good);
    assert_eq!(
        good.len() - start,
        2 * 18 * 4,
        "exp_avg and exp_avg_sq of 18 floats"
    );
    for i in start..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let e = opt.load(&p, &bad).unwrap_err().to_string();
        assert!(
            e.contains("checksum") && (e.contains("\"w.") || e.contains("\"b.")),
            "byte {i}: {e}"
        );
    }
    // Nothing was restored: the state saves to the same tensors as before.
    let again = opt.save(&p).unwrap();
    assert_eq!(&again[data_start(&again)..], &good[start..]);
    // A flipped digit in the metadata (the step counter) is refused too.
    let at = good.windows(8).position(|w| w == b"\"step\":\"").unwrap() + 8;
    let mut bad = good.clone();
    bad[at] = if bad[at] == b'3' { b'4' } else { b'3' };
    let e = opt.load(&p, &bad).unwrap_err().to_string();
    assert!(e.contains("metadata"), "{e}");
}

#[test]
fn non_finite_state_is_refused_even_without_checksums() {
    let (p, mut opt, good) = trained();
    // Rebuild the file without checksums (as written before sealing) and with a NaN inside.
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let mut meta = safetensors::SafeTensors::read_metadata(&good)
        .unwrap()
        .1
        .metadata()
        .clone()
        .unwrap();
    meta.retain(|k, _| !k.starts_with(wgopt_scheduler::files::CHECKSUM_PREFIX));
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec()))
        .collect();
    let target = tensors.iter_mut().find(|t| t.0 == "w.exp_avg_sq").unwrap();
    target.2[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let bad = safetensors::serialize(views, Some(meta)).unwrap();
    let e = opt.load(&p, &bad).unwrap_err().to_string();
    assert!(e.contains("\"w.exp_avg_sq\" holds NaN at element 2"), "{e}");
}

#[test]
fn load_reports_the_hyperparameters_it_replaced() {
    let (p, _, saved) = trained();
    let mut other = Adam::all(
        &p,
        AdamConfig {
            lr: 0.5,
            ..AdamConfig::adamw()
        },
    )
    .unwrap();
    assert!(other.replaced_by_load().is_empty());
    other.load(&p, &saved).unwrap();
    let lines = other.replaced_by_load().join("\n");
    assert!(lines.contains("group \"all\": lr 0.5 -> 0.001"), "{lines}");
    // Loading what it already has replaces nothing.
    let same = other.save(&p).unwrap();
    other.load(&p, &same).unwrap();
    assert!(
        other.replaced_by_load().is_empty(),
        "{:?}",
        other.replaced_by_load()
    );
}

#[test]
fn stale_gradients_are_refused_unless_reused_on_purpose() {
    let mut p = ParamSet::new(&engine(), &specs()).unwrap();
    p.set_stale_grad_check(true);
    let mut opt = Adam::all(&p, AdamConfig::adamw()).unwrap();
    p.write_grad("w", &[0.1; 15]).unwrap();
    p.write_grad("b", &[0.1; 3]).unwrap();
    opt.step(&mut p).unwrap();
    p.write_grad("w", &[0.2; 15]).unwrap();
    let before = p.read_params().unwrap();
    let e = opt.step(&mut p).unwrap_err();
    assert!(
        matches!(&e, Error::StaleGradient { names } if names == "b"),
        "{e}"
    );
    assert_eq!(
        p.read_params().unwrap(),
        before,
        "a refused step changes nothing"
    );
    assert_eq!(opt.iteration(), 1);
    p.write_grad("b", &[0.2; 3]).unwrap();
    opt.step(&mut p).unwrap();
    // Reusing gradients on purpose.
    p.set_stale_grad_check(false);
    opt.step(&mut p).unwrap();
    assert_eq!(opt.iteration(), 3);
}

#[test]
fn bulk_writes_and_reads_follow_the_declared_order() {
    // Groups interleaved: the layout is grouped (w1, w2, b1), the declaration is not.
    let specs = vec![
        ParamSpec::new("w1", &[2, 2], "decay"),
        ParamSpec::new("b1", &[3], "no_decay"),
        ParamSpec::new("w2", &[5], "decay"),
    ];
    let mut p = ParamSet::new(&engine(), &specs).unwrap();
    let (g1, gb, g2) = (vec![1.0f32; 4], vec![2.0f32; 3], vec![3.0f32; 5]);
    p.write_grads(&[&g1[..], &gb[..], &g2[..]]).unwrap();
    assert_eq!(
        p.read_grads().unwrap(),
        vec![g1.clone(), gb.clone(), g2.clone()]
    );
    let by_slot = p.read_grads_by_slot().unwrap();
    assert_eq!(by_slot, vec![g1, g2, gb]);
    // A list of the wrong lengths is refused before anything is written.
    let e = p
        .write_grads(&[&[0.0f32; 4][..], &[0.0; 5][..], &[0.0; 3][..]])
        .unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "b1"),
        "{e}"
    );
    assert_eq!(p.read_grads().unwrap()[0], vec![1.0; 4]);
    // Keyed by name with shapes: [2, 2] given as [4] is refused.
    let e = p
        .write_grads_named(&[("w1", &[4][..], &[0.0f32; 4][..])])
        .unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { name, .. } if name == "w1"),
        "{e}"
    );
}

#[test]
fn invalid_guards_schedules_and_sizes_are_typed_errors() {
    let p = ParamSet::new(&engine(), &specs()).unwrap();
    for c in [-1.0f32, 0.0, f32::NAN, f32::INFINITY] {
        let guard = GuardConfig {
            max_grad_norm: Some(c),
            skip_non_finite: true,
        };
        let e = wgopt_optim::registry::create("adamw", &p, &[], &[], guard)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("max_grad_norm must be finite and > 0"),
            "{c}: {e}"
        );
    }
    let mut opt = Adam::all(&p, AdamConfig::adamw()).unwrap();
    let e = opt
        .set_guard(GuardConfig {
            max_grad_norm: Some(-1.0),
            skip_non_finite: true,
        })
        .unwrap_err();
    assert!(matches!(e, Error::InvalidHyperparameter(_)), "{e}");
    let e = opt
        .set_schedule(Schedule::Cosine {
            total: 3,
            floor: f64::NAN,
        })
        .unwrap_err();
    assert!(e.to_string().contains("cosine floor"), "{e}");
    assert_eq!(opt.lr_multiplier(), 1.0, "the old schedule stays");
    let e = ParamSet::new(&engine(), &[ParamSpec::new("x", &[3, 1 << 63], "g")]).unwrap_err();
    assert!(
        matches!(&e, Error::OverLimit { what, .. } if what.contains("\"x\"")),
        "{e}"
    );
}

mod fuzz {
    //! Property-based fuzzing of `Optimizer::load`: raw mutations (which the checksums catch)
    //! and mutations re-sealed with fresh checksums (which reach the validator behind them).
    //! A load returns Ok or a typed error and, on error, changes nothing. `PROPTEST_CASES`
    //! sets the count (default 64 each: bounded for CI).
    use super::*;
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64)
    }

    fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
        let mut v = seed.to_vec();
        for &(i, b) in edits {
            let k = i % v.len();
            v[k] ^= b;
        }
        if let Some(c) = cut {
            v.truncate(c % (v.len() + 1));
        }
        v
    }

    /// The file re-written with checksums matching whatever it now holds (None if the
    /// mutation broke the container itself).
    fn reseal(bytes: &[u8]) -> Option<Vec<u8>> {
        let st = safetensors::SafeTensors::deserialize(bytes).ok()?;
        let mut meta = safetensors::SafeTensors::read_metadata(bytes)
            .ok()?
            .1
            .metadata()
            .clone()
            .unwrap_or_default();
        let tensors: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
            .collect();
        wgopt_scheduler::files::seal(&mut meta, tensors.iter().map(|t| (t.0.as_str(), &t.3[..])));
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, Some(meta)).ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn load_survives_any_mutation(
            edits in prop::collection::vec((any::<usize>(), 1u8..=255), 1..6),
            cut in prop::option::of(any::<usize>()),
            resealed in any::<bool>(),
        ) {
            let (p, mut opt, good) = trained();
            let mut bad = mutate(&good, &edits, cut);
            if resealed {
                match reseal(&bad) {
                    Some(b) => bad = b,
                    None => return Ok(()),
                }
            }
            if opt.load(&p, &bad).is_err() {
                let again = opt.save(&p).unwrap();
                prop_assert_eq!(&again[data_start(&again)..], &good[data_start(&good)..]);
            }
        }
    }
}
