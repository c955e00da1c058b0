//! The exact-augmented-Lagrangian Newton method on problems given only as products
//! (`OperatorProblem`): Hutchinson norms, Lanczos eigenvalue tests, and the Gaussian-vector
//! sketch or MINRES on K. Checked against the known optima and against the dense method.

use wgopt_reference::constrained::logistic::Logistic;
use wgopt_reference::constrained::problems::{test_set, Expect};
use wgopt_reference::constrained::{
    solve, solve_operator, KktMethod, MatrixFree, OperatorProblem, Options,
};
use wgopt_reference::sketch::SolveError;

/// Every non-degenerate problem of the test set, seen only through products, reaches its
/// known optimum to 1e-6 with ‖c‖∞ ≤ 1e-8 at KKT 1e-9 — the bar the dense method meets. The
/// problems whose LICQ fails at the solution stop with the typed error, as in the dense runs
/// (Lanczos runs the full dimension here, m ≤ 40 steps, so ξ_G is exact).
fn run_matrix_free(method: KktMethod, only: Option<&[&str]>) -> Vec<String> {
    let opts = Options {
        method,
        kkt_tol: 1e-9,
        max_iter: 3000,
        ..Options::default()
    };
    let mut failures = Vec::new();
    for tp in test_set() {
        let p = tp.problem.as_ref();
        if tp.degenerate || only.is_some_and(|o| !o.contains(&p.name())) {
            continue;
        }
        match solve_operator(&MatrixFree::new(p), &opts) {
            Ok(r) => {
                let ok = tp.expect.reached(r.objective, 1e-6) && r.violation <= 1e-8;
                println!(
                    "matrix-free {method:?} {:>6}: {:>3} iterations, {:>6} inner steps, f = {:.12}, |c|∞ = {:.1e}{}",
                    p.name(),
                    r.iterations,
                    r.inner_steps,
                    r.objective,
                    r.violation,
                    if ok { "" } else { " ← MISSED" }
                );
                if !ok {
                    failures.push(format!(
                        "{}: f = {} ({:?})",
                        p.name(),
                        r.objective,
                        tp.expect
                    ));
                }
            }
            Err(SolveError::Singular(msg)) if matches!(tp.expect, Expect::LicqFails(_)) => {
                println!(
                    "matrix-free {method:?} {:>6}: stopped as expected: {msg}",
                    p.name()
                );
            }
            Err(e) => failures.push(format!("{}: {e}", p.name())),
        }
    }
    failures
}

#[test]
fn minres_on_products_reaches_every_known_optimum() {
    let f = run_matrix_free(KktMethod::Minres, None);
    assert!(f.is_empty(), "{f:#?}");
}

/// The paper's Gaussian-vector sketch on products. Each step costs two K products and the
/// sketch needs 1e5–4e5 steps on HS7, HS9, HS52, HS77 and BT2 (measured: HS77 419,848 over 10
/// iterations), too slow for CI at two products per step; these 13 take ≤ 1e5.
#[test]
fn gaussian_vector_sketch_on_products_reaches_the_known_optima() {
    let f = run_matrix_free(
        KktMethod::GaussianVector,
        Some(&[
            "HS6", "HS8", "HS28", "HS40", "HS42", "HS48", "HS51", "HS56", "HS78", "HS79", "BT3",
            "BT5", "BT10",
        ]),
    );
    assert!(f.is_empty(), "{f:#?}");
}

/// The logistic problem at a size where the dense method already forms a 150 × 150 Hessian
/// from N = 1500 samples each iteration: the matrix-free products (O(N·d) each) with MINRES
/// reach the dense direct solve's KKT point.
#[test]
fn matrix_free_logistic_matches_the_dense_method() {
    let p = Logistic::generate(1500, 150, 11);
    let opts = Options {
        kkt_tol: 1e-8,
        max_iter: 500,
        ..Options::default()
    };
    let dense = solve(
        &p,
        &Options {
            method: KktMethod::Direct,
            ..opts
        },
    )
    .unwrap();
    let free = solve_operator(
        &p.products(),
        &Options {
            method: KktMethod::Minres,
            ..opts
        },
    )
    .unwrap();
    let dx = free
        .x
        .iter()
        .zip(&dense.x)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "dense direct: {} iterations, f = {}; products + MINRES: {} iterations, {} products, f = {}, max |Δx| = {dx:.1e}",
        dense.iterations, dense.objective, free.iterations, free.inner_steps, free.objective
    );
    // Both stop at KKT ≤ 1e-8; the objective agrees to that order and x to its square root
    // over the curvature (λ_min of the reduced Hessian here is O(1e-2)).
    assert!((free.objective - dense.objective).abs() <= 1e-8 * dense.objective.abs().max(1.0));
    assert!(dx <= 1e-5, "x differs by {dx}");
    assert!(free.violation <= 1e-8);
}

/// Bad input from a matrix-free problem: typed errors, no panic.
#[test]
fn matrix_free_bad_input_gets_typed_errors() {
    let p = Logistic::generate(60, 20, 3);
    // Kaczmarz and LU need K's entries.
    for method in [KktMethod::Kaczmarz, KktMethod::Direct] {
        let e = solve_operator(
            &p.products(),
            &Options {
                method,
                ..Options::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, SolveError::Invalid(ref m) if m.contains("entries")),
            "{e}"
        );
    }
    /// Wraps the logistic problem and breaks one product.
    struct Broken<'a>(
        wgopt_reference::constrained::logistic::LogisticProducts<'a>,
        bool,
    );
    impl OperatorProblem for Broken<'_> {
        fn name(&self) -> &str {
            "broken"
        }
        fn dims(&self) -> (usize, usize) {
            self.0.dims()
        }
        fn x0(&self) -> Vec<f64> {
            self.0.x0()
        }
        fn lambda0(&self) -> Vec<f64> {
            self.0.lambda0()
        }
        fn objective(&self, x: &[f64]) -> Result<f64, SolveError> {
            self.0.objective(x)
        }
        fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
            self.0.gradient(x)
        }
        fn constraints(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
            self.0.constraints(x)
        }
        fn jacobian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
            self.0.jacobian_product(x, v)
        }
        fn jacobian_transpose_product(&self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, SolveError> {
            self.0.jacobian_transpose_product(x, w)
        }
        fn lagrangian_hvp(
            &self,
            x: &[f64],
            lambda: &[f64],
            v: &[f64],
        ) -> Result<Vec<f64>, SolveError> {
            let mut h = self.0.lagrangian_hvp(x, lambda, v)?;
            if self.1 {
                h[0] = f64::NAN;
            } else {
                h.pop();
            }
            Ok(h)
        }
    }
    let opts = Options {
        method: KktMethod::Minres,
        ..Options::default()
    };
    let e = solve_operator(&Broken(p.products(), true), &opts).unwrap_err();
    assert!(matches!(e, SolveError::NonFinite(_)), "{e}");
    let e = solve_operator(&Broken(p.products(), false), &opts).unwrap_err();
    assert!(matches!(e, SolveError::Dimension(_)), "{e}");
}
