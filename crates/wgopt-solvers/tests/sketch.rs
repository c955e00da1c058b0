//! GPU sketches (shaders/sketch/sketch_gaussian, sketch_count, srht_sign, srht_butterfly,
//! srht_gather) and block solvers (sketch/block_factor, block_project) against their f64
//! twins in wgopt_reference::sketch, on awkward sizes (m, n, s not multiples of 4 or 16; a
//! last block shorter than q; SRHT padding 37 → 64).

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::sketch::dense::{matvec, to_faer};
use wgopt_reference::sketch::project::{BlockPlan, IterOptions};
use wgopt_reference::sketch::{Sketch, SketchKind, SolveError};
use wgopt_scheduler::{Engine, Error};
use wgopt_solvers::sketch::{apply_sketch, BlockSolver, GPU_RIDGE};

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn random(m: usize, n: usize, seed: u64) -> Array2<f64> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((m, n), |_| r.random_range(-1.0..1.0f32) as f64)
}

fn f32s(a: &Array2<f64>) -> Vec<f32> {
    a.iter().map(|&v| v as f32).collect()
}

/// Each sketch's GPU product against the reference, elementwise within a bound on
/// Σ_r |S_ir|·|A_rj|-sized quantities:
/// - Gaussian: entries agree to Vulkan's cos/sin/log error (≤ 2.8e-3 absolute, see
///   wgopt-scheduler's philox test), so |Δ| ≤ (2.8e-3·Σ_r|A_rj| + 1e-5·Σ_r|g||A_rj|)/√s;
/// - CountSketch and SRHT: exact signs, only f32 summation error: |Δ| ≤ 1e-5·Σ_r|A_rj|
///   (SRHT: the butterfly's log₂ m' levels of rounding on ±sums, times ~1e-6).
#[test]
fn gpu_sketches_match_the_reference() {
    let engine = engine();
    for (kind, m, n, s) in [
        (SketchKind::Gaussian, 37, 13, 10),
        (SketchKind::Gaussian, 70, 17, 33),
        // Several 64×64 output tiles, partial in both directions.
        (SketchKind::Gaussian, 150, 70, 130),
        (SketchKind::CountSketch, 101, 9, 12),
        (SketchKind::Srht, 37, 5, 16),
        (SketchKind::Srht, 130, 7, 40),
    ] {
        let a = random(m, n, m as u64);
        let sk = Sketch::new(kind, s, m, 77).unwrap();
        let want = sk.apply(a.view()).unwrap();
        let got = apply_sketch(&engine, &sk, &f32s(&a), n).unwrap();
        let mut worst = 0.0f64;
        for i in 0..s {
            for j in 0..n {
                let col_abs: f64 = (0..m).map(|r| a[[r, j]].abs()).sum();
                let bound = match kind {
                    SketchKind::Gaussian => {
                        let g = sk.gaussian_row(i);
                        let weighted: f64 =
                            (0..m).map(|r| (g[r] as f64).abs() * a[[r, j]].abs()).sum();
                        (2.8e-3 * col_abs + 1e-5 * weighted) / (s as f64).sqrt()
                    }
                    _ => 1e-5 * col_abs,
                };
                let d = (got[i * n + j] as f64 - want[[i, j]]).abs();
                worst = worst.max(d / bound);
                assert!(
                    d <= bound,
                    "{kind:?} {m}×{n}→{s}: ({i}, {j}) GPU {} vs {} (bound {bound:e})",
                    got[i * n + j],
                    want[[i, j]]
                );
            }
        }
        println!("{kind:?} {m}×{n} → {s}: worst error {worst:.2e} of its bound");
    }
}

fn conditioned(m: usize, n: usize, kappa: f64, seed: u64) -> Array2<f64> {
    let q1 = to_faer(random(m, n, seed).view()).qr().compute_thin_Q();
    let q2 = to_faer(random(n, n, seed + 1).view()).qr().compute_thin_Q();
    Array2::from_shape_fn((m, n), |(i, j)| {
        (0..n)
            .map(|k| q1[(i, k)] * kappa.powf(-(k as f64) / (n - 1) as f64) * q2[(j, k)])
            .sum::<f64>()
    })
}

/// Block Kaczmarz (150 × 77: four blocks of 32 and one of 22; n = 77 runs the kernel's
/// eight-loads-a-trip row loop and its remainder) and block Newton (70 × 70 SPD, q = 16: a
/// last block of 6) run the same block sequence on the GPU as in the reference; after
/// 3 passes the iterates agree to 1e-4 relative (f32 arithmetic, ~1e-6 per step, on systems
/// with κ ≤ 10).
#[test]
fn gpu_block_solvers_follow_the_reference_trajectory() {
    let engine = engine();
    let a = conditioned(150, 77, 5.0, 3);
    let xs: Vec<f64> = (0..77).map(|i| (i as f64 * 0.3).sin()).collect();
    let plan = BlockPlan::kaczmarz_with_ridge(a.view(), 32, GPU_RIDGE as f64).unwrap();
    check_trajectory(&engine, "block Kaczmarz", &a, &xs, &plan, 32, 9);

    let g = random(90, 70, 5);
    let spd = g.t().dot(&g) / 90.0 + Array2::<f64>::eye(70) * 0.3;
    let xs: Vec<f64> = (0..70).map(|i| (i as f64 * 0.7).cos()).collect();
    let plan = BlockPlan::newton(spd.view(), 16).unwrap();
    check_trajectory(&engine, "block Newton", &spd, &xs, &plan, 16, 4);
}

/// Three passes of `plan` from zero on `a·x = a·xs`, GPU against reference, to 1e-4 relative.
fn check_trajectory(
    engine: &Engine,
    name: &str,
    a: &Array2<f64>,
    xs: &[f64],
    plan: &BlockPlan,
    q: usize,
    seed: u64,
) {
    let (m, n) = a.dim();
    let b = matvec(a.view(), xs);
    let steps = 3 * plan.parts.len();
    let mut want = vec![0.0; n];
    plan.run(a.view(), &b, &mut want, 0, steps, seed);
    let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    let mut gpu = BlockSolver::new(engine, &f32s(a), &bf, m, n, q, plan.newton).unwrap();
    gpu.run(0, steps, seed).unwrap();
    let got = gpu.x().unwrap();
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (*g as f64 - w).powi(2))
        .sum::<f64>()
        .sqrt();
    let nrm = want.iter().map(|w| w * w).sum::<f64>().sqrt();
    println!(
        "{name}: ‖x_gpu − x_ref‖/‖x_ref‖ = {:e} after {steps} steps",
        err / nrm
    );
    assert!(err <= 1e-4 * nrm, "{name}");
}

/// Solves to 1e-5 relative residual (f32's floor is ~1e-6 here) and recovers x*.
#[test]
fn gpu_block_kaczmarz_solves_to_tolerance() {
    let engine = engine();
    let a = conditioned(300, 60, 10.0, 8);
    let xs: Vec<f64> = (0..60).map(|i| 1.0 + 0.01 * i as f64).collect();
    let b: Vec<f32> = matvec(a.view(), &xs).iter().map(|&v| v as f32).collect();
    let mut gpu = BlockSolver::new(&engine, &f32s(&a), &b, 300, 60, 32, false).unwrap();
    let sol = gpu
        .solve(&IterOptions {
            tol: 1e-5,
            max_steps: 20_000,
            check_every: 0,
            seed: 1,
        })
        .unwrap();
    let err = sol
        .x
        .iter()
        .zip(&xs)
        .map(|(g, w)| (g - w).powi(2))
        .sum::<f64>()
        .sqrt()
        / xs.iter().map(|w| w * w).sum::<f64>().sqrt();
    println!(
        "GPU block Kaczmarz: {} steps, residual {:e}, error {err:e}",
        sol.steps, sol.residual
    );
    assert!(sol.residual <= 1e-5 && err < 1e-3);
}

#[test]
fn gpu_sketch_bad_input_is_typed() {
    let engine = engine();
    let a = vec![1.0f32; 12];
    let sk = Sketch::new(SketchKind::Gaussian, 2, 4, 0).unwrap();
    assert!(matches!(
        apply_sketch(&engine, &sk, &a[..10], 3),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        BlockSolver::new(&engine, &a, &[1.0; 4], 4, 3, 0, false),
        Err(Error::InvalidHyperparameter(_))
    ));
    assert!(matches!(
        BlockSolver::new(&engine, &a, &[1.0; 4], 4, 3, 33, false),
        Err(Error::InvalidHyperparameter(_))
    ));
    let mut nan = a.clone();
    nan[5] = f32::NAN;
    assert!(matches!(
        BlockSolver::new(&engine, &nan, &[1.0; 4], 4, 3, 2, false),
        Err(Error::Solve(SolveError::NonFinite(_)))
    ));
    // Indefinite diagonal block for block Newton: typed NotSpd from the GPU factorisation.
    let indefinite = vec![1.0f32, 2.0, 2.0, 1.0];
    assert!(matches!(
        BlockSolver::new(&engine, &indefinite, &[1.0; 2], 2, 2, 2, true),
        Err(Error::Solve(SolveError::NotSpd(_)))
    ));
    assert!(matches!(
        BlockSolver::new(&engine, &a, &[1.0; 4], 4, 3, 2, true),
        Err(Error::Solve(SolveError::Dimension(_)))
    ));
    // An inconsistent system reports the cap, not an endless loop.
    let inc = vec![1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
    let mut s = BlockSolver::new(&engine, &inc, &[1.0, 2.0, 0.0], 3, 2, 1, false).unwrap();
    assert!(matches!(
        s.solve(&IterOptions {
            tol: 1e-6,
            max_steps: 300,
            check_every: 100,
            seed: 0
        }),
        Err(Error::Solve(SolveError::IterationCap {
            iterations: 300,
            ..
        }))
    ));
}

/// Gaussian sketch-and-project (m = 150, n = 40, q = 7 and q = 32): the GPU draws the same
/// sketches as the reference (Philox draw k for step k; its Gaussians differ by ≤ 2.8e-3 from
/// the CPU's through Vulkan's cos/sin/log), so the residual histories agree to 20 % while they
/// fall over four decades to 1e-5, and both stop at the same check (±1). Bad input is typed.
#[test]
fn gpu_gaussian_sketch_and_project_follows_the_reference() {
    use wgopt_reference::sketch::project::gaussian_sketch_project;
    use wgopt_solvers::sketch_project::GaussianSketchProject;
    let engine = engine();
    let (m, n) = (150, 40);
    let a = conditioned(m, n, 5.0, 8);
    let xs: Vec<f64> = (0..n).map(|i| (i as f64 * 0.45).cos()).collect();
    let b = matvec(a.view(), &xs);
    let bf: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    for q in [7, 32] {
        let opts = IterOptions {
            tol: 1e-5,
            max_steps: 20_000,
            check_every: 10,
            seed: 21,
        };
        let want = gaussian_sketch_project(a.view(), &b, q, None, &opts).unwrap();
        let mut gpu = GaussianSketchProject::new(&engine, &f32s(&a), &bf, m, n, q).unwrap();
        let got = gpu.solve(&opts).unwrap();
        println!(
            "Gaussian sketch-and-project q = {q}: reference {} steps, GPU {} steps",
            want.steps, got.steps
        );
        assert!(
            got.steps.abs_diff(want.steps) <= 10,
            "{} vs {}",
            got.steps,
            want.steps
        );
        for ((k, g), (_, w)) in got.history.iter().zip(&want.history) {
            if *w > 1e-5 {
                assert!((g - w).abs() <= 0.2 * w, "q = {q}, step {k}: {g} vs {w}");
            }
        }
        let err = got
            .x
            .iter()
            .zip(&xs)
            .map(|(g, w)| (g - w).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err <= 1e-3 * xs.iter().map(|v| v * v).sum::<f64>().sqrt());
    }
    assert!(matches!(
        GaussianSketchProject::new(&engine, &f32s(&a), &bf[1..], m, n, 4),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(GaussianSketchProject::new(&engine, &f32s(&a), &bf, m, n, 33).is_err());
    let mut nan = bf.clone();
    nan[0] = f32::NAN;
    assert!(matches!(
        GaussianSketchProject::new(&engine, &f32s(&a), &nan, m, n, 4),
        Err(Error::Solve(SolveError::NonFinite(_)))
    ));
    let mut gpu = GaussianSketchProject::new(&engine, &f32s(&a), &bf, m, n, 4).unwrap();
    let capped = gpu.solve(&IterOptions {
        tol: 1e-12,
        max_steps: 5,
        check_every: 5,
        seed: 0,
    });
    assert!(matches!(
        capped,
        Err(Error::Solve(SolveError::IterationCap { iterations: 5, .. }))
    ));
}
