//! `orthogonalize` on the GPU: parity with the f64 reference on awkward shapes (1×1, 1×n, tall,
//! wide, 3-D batches, 4-D conv filters), singular values inside each schedule's band, distance to
//! the exact (SVD) polar factor reported per schedule, and typed errors for bad shapes.
//! Schedules: Muon's quintic, Polar Express, ROOT's table and wgopt's per-shape fit.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::linalg::{self, newton_schulz, polar_factor, singular_values, NsSchedule};
use wgopt_scheduler::{Engine, Error};
use wgopt_solvers::orthogonalize;

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn gaussian(r: &mut ChaCha8Rng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| {
        let u1: f64 = r.random_range(1e-9..1.0);
        let u2: f64 = r.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    })
}

/// U·diag(σ)·Vᵀ with random orthogonal U, V.
fn with_spectrum(r: &mut ChaCha8Rng, rows: usize, cols: usize, sigma: &[f64]) -> Array2<f64> {
    let u = polar_factor(gaussian(r, rows, rows).view()).unwrap();
    let v = polar_factor(gaussian(r, cols, cols).view()).unwrap();
    let mut s = Array2::zeros((rows, cols));
    for (i, &x) in sigma.iter().enumerate() {
        s[[i, i]] = x;
    }
    u.dot(&s).dot(&v.t())
}

/// Parity tolerance: 3e-4 absolute on entries of O(1/√min(m,n)). The GPU runs in f32 and each
/// step multiplies the error of small singular values by up to p'(0) = 3.44 (Muon), so five
/// steps amplify f32 rounding (≈1e-7) by up to ~500×.
const PARITY_ATOL: f64 = 3e-4;

#[test]
fn parity_with_reference_on_awkward_shapes() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(10);
    let shapes: Vec<Vec<usize>> = vec![
        vec![1, 1],
        vec![1, 9],
        vec![9, 1],
        vec![17, 33],
        vec![33, 17],
        vec![70, 66],
        vec![3, 8, 12],
        vec![4, 2, 3, 3],
    ];
    let data: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| {
            (0..s.iter().product::<usize>())
                .map(|_| r.random_range(-1.0f32..1.0))
                .collect()
        })
        .collect();
    for schedule in [
        NsSchedule::Muon,
        NsSchedule::polar_express(),
        NsSchedule::RootTable,
        NsSchedule::Fitted,
    ] {
        let inputs: Vec<(&[usize], &[f32])> = shapes
            .iter()
            .zip(&data)
            .map(|(s, d)| (s.as_slice(), d.as_slice()))
            .collect();
        let out = orthogonalize(&engine, &inputs, &schedule, 5).unwrap();
        for ((shape, d), o) in shapes.iter().zip(&data).zip(&out) {
            let v = wgopt_solvers::matrix_view("t", shape).unwrap();
            let len = v.rows * v.cols;
            for b in 0..v.batch {
                let g = Array2::from_shape_vec(
                    (v.rows, v.cols),
                    d[b * len..(b + 1) * len]
                        .iter()
                        .map(|&x| x as f64)
                        .collect(),
                )
                .unwrap();
                let coeffs = schedule.coefficients(v.rows, v.cols, 5);
                let want = newton_schulz(g.view(), &coeffs, schedule.norm_factor());
                for (i, (x, w)) in o[b * len..(b + 1) * len]
                    .iter()
                    .zip(want.iter())
                    .enumerate()
                {
                    assert!(
                        ((*x as f64) - w).abs() <= PARITY_ATOL,
                        "{schedule:?} {shape:?} #{b}[{i}]: {x} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn singular_values_inside_schedule_bands() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(11);
    let (rows, cols) = (24, 40);
    // σ log-spaced in [5e-3, 1]: normalised by ‖G‖_F they span [2.6e-3, 0.52], inside both the
    // Muon (≥ 1.5e-3) and Polar Express (≥ 1e-3) guarantees.
    let sigma: Vec<f64> = (0..rows)
        .map(|i| (5e-3f64).powf(1.0 - i as f64 / (rows - 1) as f64))
        .collect();
    let g = with_spectrum(&mut r, rows, cols, &sigma);
    let gt = g.t().to_owned();
    let exact = polar_factor(g.view()).unwrap();
    let mut report = Vec::new();
    // Bands from the exact scalar maps (see wgopt_reference::linalg::newton_schulz tests),
    // widened by 2e-3 for f32.
    let cases = [
        (NsSchedule::Muon, (0.6798 - 2e-3, 1.2024 + 2e-3)),
        (NsSchedule::polar_express(), (0.8401 - 2e-3, 1.1237 + 2e-3)),
        (
            NsSchedule::PolarExpress {
                lower: 1e-3,
                safety: 1.0,
            },
            (0.87643 - 2e-3, 1.12357 + 2e-3),
        ),
    ];
    let mut spectral = Vec::new();
    for (schedule, (lo, hi)) in &cases {
        for (m, rr, cc) in [(&g, rows, cols), (&gt, cols, rows)] {
            let input: Vec<f32> = m.iter().map(|&x| x as f32).collect();
            let out = orthogonalize(&engine, &[(&[rr, cc], &input)], schedule, 5)
                .unwrap()
                .remove(0);
            let o =
                Array2::from_shape_vec((rr, cc), out.iter().map(|&x| x as f64).collect()).unwrap();
            let s = singular_values(o.view()).unwrap();
            for x in &s {
                assert!(
                    (*lo..=*hi).contains(x),
                    "{schedule:?} {rr}×{cc}: σ = {x} outside [{lo}, {hi}]"
                );
            }
            let want = if rr == rows {
                exact.clone()
            } else {
                exact.t().to_owned()
            };
            let dist = linalg::singular_values((&o - &want).view()).unwrap()[0];
            let spec = s.iter().map(|x| (x - 1.0).abs()).fold(0.0, f64::max);
            report.push(format!(
                "{schedule:?} {rr}×{cc}: ‖O − polar‖₂ = {dist:.4}, max|σ−1| = {spec:.4}"
            ));
            spectral.push(spec);
        }
    }
    for line in &report {
        println!("{line}");
    }
    // Polar Express (either form) is closer to orthogonal than Muon's quintic here.
    assert!(
        spectral[2] < spectral[0] && spectral[4] < spectral[0],
        "{report:?}"
    );
}

#[test]
fn bad_shapes_are_typed_errors() {
    let engine = engine();
    let e = orthogonalize(&engine, &[(&[5], &[0.0; 5])], &NsSchedule::Muon, 5).unwrap_err();
    assert!(matches!(&e, Error::ShapeMismatch { .. }), "{e}");
    let e = orthogonalize(&engine, &[(&[2, 3], &[0.0; 5])], &NsSchedule::Muon, 5).unwrap_err();
    assert!(matches!(&e, Error::ShapeMismatch { .. }), "{e}");
    let e = orthogonalize(&engine, &[(&[0, 3], &[])], &NsSchedule::Muon, 5).unwrap_err();
    assert!(matches!(&e, Error::EmptyParameter(_)), "{e}");
}

#[test]
fn zero_matrix_gives_finite_zero_output() {
    let engine = engine();
    let out = orthogonalize(&engine, &[(&[4, 6], &[0.0; 24])], &NsSchedule::Muon, 5).unwrap();
    assert!(out[0].iter().all(|&x| x == 0.0));
}

/// f16 storage of the iterates (linalg/gemm.wgsl, gram.wgsl, frobenius_normalize.wgsl over the
/// f16 prelude; f32 accumulation). Tolerance: each store rounds to 11 significant bits
/// (relative 4.9e-4), and Newton–Schulz amplifies the error of small singular values by up to
/// 3.44× per step, so bands widen by 1e-2 and entries may differ from the f64 oracle by 1e-2.
/// Skipped only where the adapter lacks SHADER_F16 (then the typed error is asserted instead).
#[test]
fn f16_iterates_stay_in_the_bands() {
    use wgopt_solvers::{orthogonalize_with, Precision};
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(12);
    let (rows, cols) = (24, 40);
    let sigma: Vec<f64> = (0..rows)
        .map(|i| (5e-3f64).powf(1.0 - i as f64 / (rows - 1) as f64))
        .collect();
    let g = with_spectrum(&mut r, rows, cols, &sigma);
    let input: Vec<f32> = g.iter().map(|&x| x as f32).collect();
    let run = |schedule: &NsSchedule, p: Precision, shape: &[usize], data: &[f32]| {
        orthogonalize_with(&engine, &[(shape, data)], schedule, 5, p).map(|mut v| v.remove(0))
    };
    if !engine
        .features()
        .contains(wgopt_scheduler::wgpu::Features::SHADER_F16)
    {
        let e = run(&NsSchedule::Muon, Precision::F16, &[rows, cols], &input).unwrap_err();
        assert!(matches!(e, Error::MissingFeature { .. }), "{e}");
        return;
    }
    for (schedule, (lo, hi)) in [
        (NsSchedule::Muon, (0.6798 - 1e-2, 1.2024 + 1e-2)),
        (NsSchedule::polar_express(), (0.8401 - 1e-2, 1.1237 + 1e-2)),
    ] {
        let half = run(&schedule, Precision::F16, &[rows, cols], &input).unwrap();
        let full = run(&schedule, Precision::F32, &[rows, cols], &input).unwrap();
        let o =
            Array2::from_shape_vec((rows, cols), half.iter().map(|&x| x as f64).collect()).unwrap();
        for x in singular_values(o.view()).unwrap() {
            assert!((lo..=hi).contains(&x), "{schedule:?} f16: σ = {x}");
        }
        let diff = half
            .iter()
            .zip(&full)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("{schedule:?} 24×40: max |f16 − f32| = {diff:.2e}");
        assert!(diff < 1e-2, "{schedule:?}: f16 vs f32 {diff}");
        assert!(
            diff > 0.0,
            "f16 run is bit-identical to f32: the f16 path did not run"
        );
    }
    // Awkward shapes against the oracle.
    for shape in [vec![17usize, 33], vec![33, 17], vec![3, 8, 12], vec![1, 9]] {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| r.random_range(-1.0f32..1.0)).collect();
        let half = run(&NsSchedule::Muon, Precision::F16, &shape, &data).unwrap();
        let (b, rr, cc) = match shape[..] {
            [rr, cc] => (1, rr, cc),
            [b, rr, cc] => (b, rr, cc),
            _ => unreachable!(),
        };
        for k in 0..b {
            let m = Array2::from_shape_fn((rr, cc), |(i, j)| data[k * rr * cc + i * cc + j] as f64);
            let want = newton_schulz(
                m.view(),
                &NsSchedule::Muon.coefficients(rr, cc, 5),
                NsSchedule::Muon.norm_factor(),
            );
            for (i, w) in want.iter().enumerate() {
                let got = half[k * rr * cc + i] as f64;
                assert!((got - w).abs() < 1e-2, "{shape:?}[{k}][{i}]: {got} vs {w}");
            }
        }
    }
}
