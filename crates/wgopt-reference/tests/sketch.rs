//! The reference sketches and sketched solvers against theory and dense oracles (f64).

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::sketch::dense::{matvec, norm, qr_lstsq, sym_eigenvalues, to_faer};
use wgopt_reference::sketch::lsqr::{lsqr, sketch_precondition_lstsq};
use wgopt_reference::sketch::nystrom::{pcg, Nystrom};
use wgopt_reference::sketch::project::{
    block_kaczmarz, block_newton, gaussian_sketch_project, kaczmarz_rate, newton_rate, BlockPlan,
    IterOptions,
};
use wgopt_reference::sketch::{Sketch, SketchKind, SolveError};

fn gaussian(m: usize, n: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((m, n), |_| {
        // Box–Muller from the test RNG (independent of the sketches' Philox).
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    })
}

/// Orthonormal basis of a random n-dimensional subspace of R^m.
fn subspace(m: usize, n: usize, seed: u64) -> Array2<f64> {
    let q = to_faer(gaussian(m, n, seed).view()).qr().compute_thin_Q();
    Array2::from_shape_fn((m, n), |(i, j)| q[(i, j)])
}

/// A with prescribed singular values (log-spaced from 1 to 1/κ).
fn conditioned(m: usize, n: usize, kappa: f64, seed: u64) -> Array2<f64> {
    let u = subspace(m, n, seed);
    let v = subspace(n, n, seed + 1);
    let s = Array2::from_diag(&ndarray::Array1::from_shape_fn(n, |i| {
        kappa.powf(-(i as f64) / (n - 1) as f64)
    }));
    u.dot(&s).dot(&v.t())
}

/// Approximate matrix product bound (Woodruff, "Sketching as a tool…", Thm 2.x and its
/// Gaussian/CountSketch/sampling analogues): for orthonormal U (m × n),
/// E‖UᵀSᵀSU − I‖_F² ≤ 2n²/s. Averaged over 16 seeds the mean must stay below 1.5× that;
/// a sketch with the wrong scaling or sign is off by O(n²).
#[test]
fn sketches_embed_random_subspaces_within_the_product_bound() {
    let (m, n, s) = (1500, 8, 256);
    let u = subspace(m, n, 42);
    for kind in [
        SketchKind::Gaussian,
        SketchKind::CountSketch,
        SketchKind::Srht,
    ] {
        let mut mean = 0.0;
        for seed in 0..16 {
            let su = Sketch::new(kind, s, m, seed)
                .unwrap()
                .apply(u.view())
                .unwrap();
            let g = su.t().dot(&su) - Array2::<f64>::eye(n);
            mean += g.iter().map(|v| v * v).sum::<f64>() / 16.0;
        }
        let bound = 2.0 * (n * n) as f64 / s as f64;
        println!("{kind:?}: mean ‖UᵀSᵀSU − I‖_F² = {mean:.4}, bound {bound:.4}");
        assert!(mean <= 1.5 * bound, "{kind:?}: {mean} vs {bound}");
    }
}

/// Gaussian sketch singular values (Davidson–Szarek): σ(SU) ∈ [1 − √(n/s) − t, 1 + √(n/s) + t]
/// except with probability 2·exp(−s t²/2); t = 0.3, s = 160 gives ≤ 1.5e-3.
#[test]
fn gaussian_sketch_distortion_within_davidson_szarek() {
    let (m, n, s) = (1200, 20, 160);
    let u = subspace(m, n, 7);
    let su = Sketch::new(SketchKind::Gaussian, s, m, 3)
        .unwrap()
        .apply(u.view())
        .unwrap();
    let ev = sym_eigenvalues(su.t().dot(&su).view()).unwrap();
    let (lo, hi) = (ev[0].sqrt(), ev[n - 1].sqrt());
    let d = (n as f64 / s as f64).sqrt() + 0.3;
    assert!(
        lo >= 1.0 - d && hi <= 1.0 + d,
        "σ ∈ [{lo}, {hi}], allowed 1 ± {d}"
    );
}

#[test]
fn srht_matches_the_explicit_hadamard_product() {
    let (m, n, s) = (37, 3, 16); // m' = 64: padding exercised
    let a = gaussian(m, n, 5);
    let sk = Sketch::new(SketchKind::Srht, s, m, 9).unwrap();
    let fast = sk.apply(a.view()).unwrap();
    let rows = sk.srht_rows();
    for (i, &p) in rows.iter().enumerate() {
        for j in 0..n {
            let direct: f64 = (0..m)
                .map(|r| {
                    let h = if (p as usize & r).count_ones().is_multiple_of(2) {
                        1.0
                    } else {
                        -1.0
                    };
                    h * sk.srht_sign(r) * a[[r, j]]
                })
                .sum::<f64>()
                / (s as f64).sqrt();
            assert!((fast[[i, j]] - direct).abs() < 1e-12, "({i}, {j})");
        }
    }
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), s, "rows are sampled without replacement");
}

fn error_sq(x: &[f64], xs: &[f64]) -> f64 {
    x.iter().zip(xs).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Empirical contraction against the theory: after K steps, (‖e_K‖²/‖e_0‖²)^(1/K) ≤ ρ^(1/2),
/// i.e. at most twice the step count the expected-rate bound ρ^K predicts (the bound is on the
/// mean; one run may be slower, so the factor 2 in log terms is the stated slack).
fn check_rate(
    name: &str,
    a: ArrayView2<'_, f64>,
    run: impl Fn(usize) -> Vec<f64>,
    xs: &[f64],
    rho: f64,
    steps: usize,
) {
    let e0 = error_sq(&vec![0.0; xs.len()], xs);
    let x = run(steps);
    let emp = (error_sq(&x, xs) / e0).powf(1.0 / steps as f64);
    println!("{name}: ρ = {rho:.5}, empirical {emp:.5} per step over {steps} steps");
    assert!(emp <= rho.sqrt(), "{name}: empirical {emp} vs ρ {rho}");
    let _ = a;
}

#[test]
fn block_kaczmarz_and_block_newton_converge_at_their_rates() {
    let (m, n, q) = (240, 40, 8);
    let a = conditioned(m, n, 10.0, 11);
    let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let b = matvec(a.view(), &xs);
    let rho = kaczmarz_rate(a.view(), q).unwrap();
    assert!(rho < 1.0 && rho > 0.0);
    let plan = BlockPlan::kaczmarz(a.view(), q).unwrap();
    check_rate(
        "block Kaczmarz",
        a.view(),
        |k| {
            let mut x = vec![0.0; n];
            plan.run(a.view(), &b, &mut x, 0, k, 1);
            x
        },
        &xs,
        rho,
        600,
    );
    let sol = block_kaczmarz(
        a.view(),
        &b,
        q,
        None,
        &IterOptions {
            tol: 1e-10,
            seed: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(sol.residual <= 1e-10);
    assert!(error_sq(&sol.x, &xs).sqrt() < 1e-8);

    // SPD: A = GᵀG + I.
    let g = gaussian(60, 48, 13);
    let spd = g.t().dot(&g) / 60.0 + Array2::<f64>::eye(48) * 0.05;
    let xs: Vec<f64> = (0..48).map(|i| (i as f64 * 0.21).cos()).collect();
    let b = matvec(spd.view(), &xs);
    let rho = newton_rate(spd.view(), 8).unwrap();
    // Newton converges in the A-norm; the Euclidean check uses κ(A) slack via the same test
    // on enough steps for the factor to wash out.
    let sol = block_newton(
        spd.view(),
        &b,
        8,
        None,
        &IterOptions {
            tol: 1e-10,
            seed: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let theory_steps = (1e-20f64.ln() / rho.ln()).ceil() as usize;
    println!("block Newton: ρ = {rho:.4}, {} steps to 1e-10 (theory ≈ {theory_steps} for 1e-20 in A-norm²)", sol.steps);
    assert!(
        sol.steps <= 2 * theory_steps,
        "{} steps vs {theory_steps}",
        sol.steps
    );
}

#[test]
fn gaussian_sketch_and_project_solves_consistent_systems() {
    let a = conditioned(90, 30, 5.0, 21);
    let xs: Vec<f64> = (0..30).map(|i| 1.0 - i as f64 * 0.05).collect();
    let b = matvec(a.view(), &xs);
    let sol = gaussian_sketch_project(
        a.view(),
        &b,
        6,
        None,
        &IterOptions {
            tol: 1e-9,
            seed: 4,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(sol.residual <= 1e-9);
    assert!(error_sq(&sol.x, &xs).sqrt() < 1e-7);
}

/// κ(A) = 1e6: plain LSQR needs hundreds of iterations, sketch-and-precondition a few dozen
/// (κ(AR⁻¹) = O(1) independent of κ(A)), and both agree with dense QR.
#[test]
fn sketch_preconditioned_lsqr_is_fast_and_matches_dense_qr() {
    let (m, n) = (1200, 40);
    let a = conditioned(m, n, 1e6, 31);
    let mut b = matvec(a.view(), &vec![1.0; n]);
    let noise = gaussian(m, 1, 32);
    for (bi, e) in b.iter_mut().zip(noise.iter()) {
        *bi += 1e-3 * e;
    }
    let oracle = qr_lstsq(a.view(), &b).unwrap();
    for kind in [
        SketchKind::Gaussian,
        SketchKind::CountSketch,
        SketchKind::Srht,
    ] {
        let s = sketch_precondition_lstsq(a.view(), &b, kind, 5, 1e-12, 500).unwrap();
        let err = error_sq(&s.x, &oracle).sqrt() / norm(&oracle);
        println!(
            "{kind:?}: {} LSQR iterations, |x − x_qr|/|x_qr| = {err:e}",
            s.lsqr.iterations
        );
        assert!(
            s.lsqr.iterations <= 60,
            "{kind:?}: {} iterations",
            s.lsqr.iterations
        );
        assert!(err < 1e-6, "{kind:?}: {err}");
    }
    let plain = lsqr(
        m,
        n,
        |v| matvec(a.view(), v),
        |u| wgopt_reference::sketch::dense::rmatvec(a.view(), u),
        &b,
        1e-12,
        200,
    );
    assert!(
        matches!(plain, Err(SolveError::IterationCap { .. })),
        "plain LSQR should not converge in 200 iterations at κ = 1e6"
    );
}

#[test]
fn nystrom_pcg_beats_plain_cg_on_fast_spectral_decay() {
    let n = 300;
    let u = subspace(n, n, 51);
    let d = ndarray::Array1::from_shape_fn(n, |i| 100.0 * (0.8f64).powi(i as i32));
    let a = u.dot(&Array2::from_diag(&d)).dot(&u.t());
    let a = (&a + &a.t()) * 0.5;
    let b: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
    let mu = 1e-4;
    let plain = pcg(a.view(), mu, &b, None, 1e-10, 2000).unwrap();
    let ny = Nystrom::new(a.view(), 60, 7).unwrap();
    let pre = pcg(a.view(), mu, &b, Some(&ny), 1e-10, 2000).unwrap();
    println!(
        "CG {} iterations, Nyström PCG {}",
        plain.iterations, pre.iterations
    );
    assert!(
        pre.iterations * 4 <= plain.iterations,
        "{} vs {}",
        pre.iterations,
        plain.iterations
    );
    assert!(pre.iterations <= 30);
}

#[test]
fn bad_input_is_typed() {
    let a = gaussian(10, 4, 1);
    let b = vec![1.0; 9];
    let o = IterOptions::default();
    assert!(matches!(
        block_kaczmarz(a.view(), &b, 2, None, &o),
        Err(SolveError::Dimension(_))
    ));
    let mut bad = a.clone();
    bad[[3, 1]] = f64::NAN;
    assert!(matches!(
        block_kaczmarz(bad.view(), &[1.0; 10], 2, None, &o),
        Err(SolveError::NonFinite(_))
    ));
    let nonspd = ndarray::array![[1.0, 2.0], [2.0, 1.0]];
    assert!(matches!(
        block_newton(nonspd.view(), &[1.0, 1.0], 2, None, &o),
        Err(SolveError::NotSpd(_))
    ));
    let nonsym = ndarray::array![[2.0, 1.0], [0.0, 2.0]];
    assert!(matches!(
        block_newton(nonsym.view(), &[1.0, 1.0], 1, None, &o),
        Err(SolveError::NotSpd(_))
    ));
    // Inconsistent system: Kaczmarz cannot reach the tolerance and says so.
    let inc = gaussian(20, 3, 2);
    let capped = block_kaczmarz(
        inc.view(),
        &[1.0; 20],
        4,
        None,
        &IterOptions {
            tol: 1e-10,
            max_steps: 500,
            ..o
        },
    );
    assert!(
        matches!(
            capped,
            Err(SolveError::IterationCap {
                iterations: 500,
                ..
            })
        ),
        "{capped:?}"
    );
    // Rank-deficient least squares: the sketched R is singular.
    let mut rd = gaussian(100, 5, 3);
    let c0 = rd.column(0).to_owned();
    rd.column_mut(4).assign(&c0);
    assert!(matches!(
        sketch_precondition_lstsq(
            rd.view(),
            &vec![1.0; 100],
            SketchKind::Gaussian,
            1,
            1e-8,
            100
        ),
        Err(SolveError::Singular(_))
    ));
    assert!(Sketch::new(SketchKind::Srht, 100, 60, 0).is_err());
}
