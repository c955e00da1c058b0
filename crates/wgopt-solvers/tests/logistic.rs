//! Constrained logistic regression with its features on the GPU (`GpuLogistic`, an
//! `OperatorProblem`), against its f64 host twin `LogisticProducts`: the products, and the
//! matrix-free Newton method's answer.

use wgopt_reference::constrained::logistic::Logistic;
use wgopt_reference::constrained::{solve_operator, KktMethod, OperatorProblem, Options};
use wgopt_reference::sketch::dense::norm;
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::Engine;
use wgopt_solvers::logistic::GpuLogistic;

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

/// `shaders/constrained/logistic_weights.wgsl` with the least-squares products around it, at
/// an awkward size (N = 1037 rows: not a multiple of the 256-thread groups or the 8-row and
/// 256-row tiles; d = 77: not a multiple of 64 columns), at two points and for two vectors.
/// Tolerance 2e-5 relative to the vector's norm (5e-6 for f): f32 sums of N products of
/// N(0, 1) features carry relative rounding ~√N·6e-8 ≈ 2e-6, and the f32 copies of θ, v and X
/// add ~1e-7.
#[test]
fn gpu_products_match_the_reference_twin() {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    let data = Logistic::generate(1037, 77, 5);
    let cpu = data.products();
    let gpu = GpuLogistic::new(&engine, &data).unwrap();
    assert_eq!(gpu.dims(), cpu.dims());
    for (k, x) in [
        cpu.x0(),
        (0..77).map(|i| ((i as f64) * 0.37).sin() * 0.2).collect(),
    ]
    .into_iter()
    .enumerate()
    {
        let (f, fg) = (cpu.objective(&x).unwrap(), gpu.objective(&x).unwrap());
        assert!((f - fg).abs() <= 5e-6 * f.abs(), "point {k}: f {f} vs {fg}");
        let (g, gg) = (cpu.gradient(&x).unwrap(), gpu.gradient(&x).unwrap());
        let err = max_diff(&g, &gg);
        assert!(
            err <= 2e-5 * norm(&g),
            "point {k}: ∇f differs by {err} (|∇f| {})",
            norm(&g)
        );
        let lambda: Vec<f64> = (0..11).map(|i| 0.5 - i as f64 * 0.1).collect();
        for v in [
            (0..77).map(|i| (i as f64 * 0.91).cos()).collect::<Vec<_>>(),
            (0..77)
                .map(|i| if i % 3 == 0 { 1.0 } else { -0.5 })
                .collect(),
        ] {
            let h = cpu.lagrangian_hvp(&x, &lambda, &v).unwrap();
            let hg = gpu.lagrangian_hvp(&x, &lambda, &v).unwrap();
            let err = max_diff(&h, &hg);
            assert!(
                err <= 2e-5 * norm(&h),
                "point {k}: ∇²L·v differs by {err} (|∇²L·v| {})",
                norm(&h)
            );
            let hf = cpu.objective_hvp(&x, &v).unwrap();
            let hfg = gpu.objective_hvp(&x, &v).unwrap();
            assert!(max_diff(&hf, &hfg) <= 2e-5 * norm(&hf), "point {k}: ∇²f·v");
        }
        // The constraint products are f64 on the host: equal to rounding.
        let w: Vec<f64> = (0..11).map(|i| i as f64 - 5.0).collect();
        assert!(max_diff(&cpu.constraints(&x).unwrap(), &gpu.constraints(&x).unwrap()) <= 1e-12);
        assert!(
            max_diff(
                &cpu.jacobian_product(&x, &x).unwrap(),
                &gpu.jacobian_product(&x, &x).unwrap()
            ) <= 1e-12
        );
        assert!(
            max_diff(
                &cpu.jacobian_transpose_product(&x, &w).unwrap(),
                &gpu.jacobian_transpose_product(&x, &w).unwrap()
            ) <= 1e-12
        );
    }
    // Wrong lengths are typed errors.
    assert!(matches!(
        gpu.objective(&[1.0; 5]),
        Err(SolveError::Dimension(_))
    ));
    assert!(matches!(
        gpu.lagrangian_hvp(&[1.0; 77], &[0.0; 3], &[1.0; 77]),
        Err(SolveError::Dimension(_))
    ));
}

/// The matrix-free Newton method with GPU products and MINRES reaches the f64 host twin's
/// KKT point. The GPU's f32 gradient bounds the KKT residual it can reach (~1e-6·‖∇f‖), so
/// both stop at KKT 1e-5 with a separate feasibility test ‖c‖∞ ≤ 1e-10 (the constraints are
/// exact f64 on the host, and Newton meets it in a step or two); the objective then agrees
/// to 1e-7 relative (it is stationary: its error is second order in x's).
#[test]
fn matrix_free_newton_with_gpu_products_matches_the_host() {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    let data = Logistic::generate(1500, 100, 11);
    let opts = Options {
        method: KktMethod::Minres,
        kkt_tol: 1e-5,
        constraint_tol: Some(1e-10),
        max_iter: 200,
        ..Options::default()
    };
    let host = solve_operator(&data.products(), &opts).unwrap();
    let gpu_problem = GpuLogistic::new(&engine, &data).unwrap();
    let gpu = solve_operator(&gpu_problem, &opts).unwrap();
    println!(
        "host f64: {} iterations, {} K products, f = {:.10}; GPU: {} iterations, {} K products, {} submits, f = {:.10}, |c|∞ = {:.1e}",
        host.iterations, host.inner_steps, host.objective, gpu.iterations, gpu.inner_steps,
        gpu_problem.submits.get(), gpu.objective, gpu.violation
    );
    assert!((gpu.objective - host.objective).abs() <= 1e-7 * host.objective.abs());
    assert!(gpu.violation <= 1e-10, "|c|∞ = {}", gpu.violation);
    let dx = max_diff(&gpu.x, &host.x);
    assert!(dx <= 1e-3, "x differs by {dx}");
}

/// Data that does not fit the problem's shape is a typed error at construction.
#[test]
fn inconsistent_data_is_a_typed_error() {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    let mut data = Logistic::generate(50, 16, 2);
    data.y.pop();
    let e = GpuLogistic::new(&engine, &data).unwrap_err();
    assert!(e.to_string().contains("labels"), "{e}");
}
