//! Sketch-and-precondition least squares on the GPU (sketch/lstsq_av, lstsq_atu,
//! lstsq_atu_reduce and their shared sketch/lstsq_common, whose LstsqParams layout
//! tests/shaders.rs checks; with the sketch kernels) against dense QR in f64 on the same
//! (f32) matrix.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::sketch::dense::{qr_lstsq, to_faer};
use wgopt_reference::sketch::{SketchKind, SolveError};
use wgopt_scheduler::{Engine, Error};
use wgopt_solvers::lstsq::{sketch_precondition_lstsq, LstsqOptions, SketchFactor};

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn conditioned(m: usize, n: usize, kappa: f64, seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let g = |rows, cols, r: &mut ChaCha8Rng| {
        Array2::from_shape_fn((rows, cols), |_| r.random_range(-1.0..1.0f64))
    };
    let q1 = to_faer(g(m, n, &mut r).view()).qr().compute_thin_Q();
    let q2 = to_faer(g(n, n, &mut r).view()).qr().compute_thin_Q();
    (0..m * n)
        .map(|e| {
            let (i, j) = (e / n, e % n);
            (0..n)
                .map(|k| q1[(i, k)] * kappa.powf(-(k as f64) / (n - 1) as f64) * q2[(j, k)])
                .sum::<f64>() as f32
        })
        .collect()
}

/// κ(A) = 1e4 and κ(A) = 10, m = 1000, n = 37 (awkward for every kernel). At κ = 1e4 the f32
/// Gram of the sketch is too rough for a preconditioner and S·A is QR-factored on the host; at
/// κ = 10 the GPU Gram's Cholesky factor serves (SketchFactor says which, and is checked).
/// - Consistent b = A·x* (x* in f64, b rounded to f32, so min ‖r‖/‖b‖ ≈ 3e-8): f64
///   refinement of the f32 solve reaches ‖r‖/‖b‖ ≤ 1e-7, at that rounding floor, where one f32
///   solve alone stops near 1e-5.
/// - Inconsistent b: refinement on the normal equations (f64 Aᵀr, f32 GPU products; see
///   wgopt_solvers::lstsq) brings ‖Aᵀr‖/(‖A‖_F‖r‖) to 1e-9, and x then agrees with dense QR
///   (f64, same f32 matrix) to 1e-6 relative (measured 1e-8 to 3e-8; the bound allows for
///   κ(A)²·1e-9·‖r‖/(‖A‖‖x‖) with ‖r‖/(‖A‖‖x‖) = O(1) here).
///
/// In both cases the preconditioned LSQR needs ≤ 40 iterations per round (κ(AR⁻¹) = O(1)).
#[test]
fn gpu_sketched_lstsq_matches_dense_qr() {
    let engine = engine();
    for (kappa, factor) in [
        (1e4, SketchFactor::HouseholderQr),
        (10.0, SketchFactor::GramCholesky),
    ] {
        check_against_qr(&engine, kappa, factor);
    }
}

fn check_against_qr(engine: &Engine, kappa: f64, factor: SketchFactor) {
    let (m, n) = (1000, 37);
    let a = conditioned(m, n, kappa, 2);
    let a64 = Array2::from_shape_fn((m, n), |(i, j)| a[i * n + j] as f64);
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let xs: Vec<f64> = (0..n).map(|_| r.random_range(-1.0..1.0)).collect();
    let consistent: Vec<f32> = a64
        .dot(&ndarray::Array1::from(xs.clone()))
        .iter()
        .map(|&v| v as f32)
        .collect();
    let noisy: Vec<f32> = (0..m).map(|_| r.random_range(-1.0..1.0f32)).collect();
    for kind in [
        SketchKind::Gaussian,
        SketchKind::CountSketch,
        SketchKind::Srht,
    ] {
        let opts = LstsqOptions {
            kind,
            seed: 5,
            ..Default::default()
        };
        let rep = sketch_precondition_lstsq(
            engine,
            &a,
            &consistent,
            m,
            n,
            &LstsqOptions { tol: 1e-7, ..opts },
        )
        .unwrap();
        println!(
            "κ {kappa:e} {kind:?} consistent: {:?}, {} iterations, {} rounds, ‖r‖/‖b‖ = {:e}",
            rep.factor, rep.iterations, rep.rounds, rep.residual
        );
        assert_eq!(rep.factor, factor, "κ {kappa:e} {kind:?}");
        assert!(rep.residual <= 1e-7);
        assert!(rep.iterations <= 40 * rep.rounds);

        let b64: Vec<f64> = noisy.iter().map(|&v| v as f64).collect();
        let oracle = qr_lstsq(a64.view(), &b64).unwrap();
        let onorm = oracle.iter().map(|v| v * v).sum::<f64>().sqrt();
        let rep = sketch_precondition_lstsq(
            engine,
            &a,
            &noisy,
            m,
            n,
            &LstsqOptions { tol: 1e-9, ..opts },
        )
        .unwrap();
        let err = rep
            .x
            .iter()
            .zip(&oracle)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f64>()
            .sqrt()
            / onorm;
        println!(
            "κ {kappa:e} {kind:?} least squares: {} iterations, normal residual {:e}, |x − x_qr|/|x_qr| = {err:e}",
            rep.iterations, rep.normal_residual
        );
        assert!(rep.normal_residual <= 1e-9);
        assert!(err <= 1e-6, "{kind:?}: {err}");
        assert!(rep.iterations <= 40 * rep.rounds);
    }
}

#[test]
fn gpu_lstsq_bad_input_is_typed() {
    let engine = engine();
    let opts = LstsqOptions::default();
    let a = vec![1.0f32; 12];
    assert!(matches!(
        sketch_precondition_lstsq(&engine, &a, &[1.0; 3], 3, 4, &opts),
        Err(Error::Solve(SolveError::Dimension(_)))
    ));
    let mut nan = conditioned(40, 4, 2.0, 1);
    nan[7] = f32::NAN;
    assert!(matches!(
        sketch_precondition_lstsq(&engine, &nan, &[1.0; 40], 40, 4, &opts),
        Err(Error::Solve(SolveError::NonFinite(_)))
    ));
    // Two equal columns: rank-deficient, refused rather than answered wrongly.
    let mut rd = conditioned(40, 4, 2.0, 1);
    for i in 0..40 {
        rd[i * 4 + 3] = rd[i * 4];
    }
    assert!(matches!(
        sketch_precondition_lstsq(&engine, &rd, &[1.0; 40], 40, 4, &opts),
        Err(Error::Solve(SolveError::Singular(_)))
    ));
}
