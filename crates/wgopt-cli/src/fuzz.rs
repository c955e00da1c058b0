//! Property-based fuzzing of every file reader the CLI exposes: valid seed files mutated by
//! byte flips, truncations, insertions and splices (proptest, a fixed number of cases so the
//! run is bounded: `PROPTEST_CASES` raises it for a longer session). The property: a reader
//! returns `Ok` or a typed error; it never panics, aborts or allocates from a declared size.

use crate::arrays::tests::{npy, npz};
use crate::arrays::{parse_npy, read_npz_bounded};
use proptest::prelude::*;
use std::path::Path;

/// Cases per target in the normal test run (about a second in all); `PROPTEST_CASES` sets
/// another count for a longer session.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// One mutation of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Overwrite(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Overwrite(i, v)),
    ]
}

fn apply(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for m in muts {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match m {
            Mutation::Flip(i, b) => {
                if !v.is_empty() {
                    let k = at(*i, v.len());
                    v[k] ^= b;
                }
            }
            Mutation::Truncate(i) => v.truncate(at(*i, v.len() + 1)),
            Mutation::Insert(i, bytes) => {
                let k = at(*i, v.len() + 1);
                v.splice(k..k, bytes.iter().copied());
            }
            Mutation::Overwrite(i, bytes) => {
                let k = at(*i, v.len() + 1);
                for (j, b) in bytes.iter().enumerate() {
                    if let Some(x) = v.get_mut(k + j) {
                        *x = *b;
                    }
                }
            }
        }
    }
    v
}

fn seed_npy() -> Vec<u8> {
    let data: Vec<u8> = (0..12)
        .flat_map(|i| (i as f32 * 0.5).to_le_bytes())
        .collect();
    npy("<f4", "(3, 4)", &data)
}

/// A recording for `wgopt replay`: two parameters, three steps, one SophiaG estimate.
fn seed_recording() -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let t = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| (i as f32 * 0.25 - 1.0).to_le_bytes())
            .collect()
    };
    let names = [
        ("param.w", vec![2, 3]),
        ("param.b", vec![3]),
        ("grad.0.w", vec![2, 3]),
        ("grad.0.b", vec![3]),
        ("grad.1.w", vec![2, 3]),
        ("grad.1.b", vec![3]),
        ("hess.1.w", vec![2, 3]),
        ("hess.1.b", vec![3]),
    ];
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = names
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone(), t(s.iter().product())))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_reader_never_panics(muts in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&seed_npy(), &muts);
        if let Ok((shape, values)) = parse_npy(&bytes, "fuzz.npy") {
            prop_assert_eq!(shape.iter().product::<usize>(), values.len());
        }
    }

    #[test]
    fn npz_reader_never_panics(muts in prop::collection::vec(mutation(), 1..4)) {
        let archive = npz(&[("cost.npy", seed_npy()), ("a.npy", npy("<f8", "(3,)", &[0u8; 24]))]);
        let bytes = apply(&archive, &muts);
        let _ = read_npz_bounded(std::io::Cursor::new(bytes), Path::new("fuzz.npz"), 1 << 20);
    }

    #[test]
    fn replay_reader_never_panics(muts in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&seed_recording(), &muts);
        let _ = crate::replay::read_recording(&bytes);
    }

    #[test]
    fn schedule_parser_never_panics(text in "[a-z0-9:+.\\-]{0,40}") {
        if let Ok(s) = wgopt::Schedule::parse(&text) {
            for step in [0u64, 1, 7, 1000, u64::MAX] {
                let m = s.multiplier(step);
                prop_assert!(m.is_finite() && m >= 0.0, "{text:?} at {step}: {m}");
            }
        }
    }
}

#[test]
fn the_seeds_themselves_are_read() {
    assert_eq!(parse_npy(&seed_npy(), "seed").unwrap().0, vec![3, 4]);
    let archive = npz(&[("cost.npy", seed_npy())]);
    assert_eq!(
        read_npz_bounded(std::io::Cursor::new(archive), Path::new("s.npz"), 1 << 20)
            .unwrap()
            .len(),
        1
    );
    assert!(crate::replay::read_recording(&seed_recording()).is_ok());
}
