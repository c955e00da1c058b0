//! Unit tests of the GNS reference: Newton steps on small problems with known optima.

use super::*;

/// f(x) = Σ a_i x_i⁴/4 + x_i²/2 − b_i x_i: strictly convex, H diagonal.
struct Quartic {
    a: Vec<f64>,
    b: Vec<f64>,
}

impl SmoothProblem for Quartic {
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn x0(&self) -> Vec<f64> {
        vec![3.0; self.a.len()]
    }
    fn objective(&self, x: &[f64]) -> Result<f64, SolveError> {
        Ok((0..x.len())
            .map(|i| self.a[i] * x[i].powi(4) / 4.0 + x[i] * x[i] / 2.0 - self.b[i] * x[i])
            .sum())
    }
    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok((0..x.len())
            .map(|i| self.a[i] * x[i].powi(3) + x[i] - self.b[i])
            .collect())
    }
    fn hessian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok((0..x.len())
            .map(|i| (3.0 * self.a[i] * x[i] * x[i] + 1.0) * v[i])
            .collect())
    }
}

fn quartic() -> Quartic {
    Quartic {
        a: vec![0.5, 1.0, 2.0, 0.1],
        b: vec![1.0, -2.0, 0.5, 3.0],
    }
}

#[test]
fn converges_and_every_accepted_step_meets_the_predicate() {
    let p = quartic();
    let r = minimize(&p, &mut DenseCholesky::default(), &GnsOptions::default()).unwrap();
    assert!(r.converged, "‖g‖ = {}", r.grad_norm);
    let g = p.gradient(&r.x).unwrap();
    assert!(norm(&g) <= 1e-8);
    for w in r.log.windows(2) {
        let (before, after) = (w[0], w[1]);
        if after.accepted {
            // The predicate, up to the noise grant of f64 rounding (4e-16·|f|).
            let noise = 2.0 * f64::EPSILON * before.f.abs().max(after.f.abs());
            assert!(before.f - after.f + noise >= after.grad_norm.powi(2) / (8.0 * after.lambda));
        }
    }
    // Superlinear at the end: far fewer iterations than gradient descent needs.
    // (GD to 1e-6: below that its Armijo test meets f64 rounding of f.)
    let gd = gradient_descent(&p, 0.1, 10_000, 1e-6).unwrap();
    assert!(
        gd.converged && r.iterations * 2 < gd.iterations,
        "{} vs {}",
        r.iterations,
        gd.iterations
    );
}

#[test]
fn first_trial_is_the_regularized_newton_step() {
    // One iteration, one trial: x1 = x0 − (H + λI)⁻¹ g with λ = ‖g‖/(1 + 1e-8).
    let p = quartic();
    let opts = GnsOptions {
        max_iter: 1,
        ..GnsOptions::default()
    };
    let r = minimize(&p, &mut DenseCholesky::default(), &opts).unwrap();
    assert_eq!(r.log[1].trials, 1);
    let x0 = p.x0();
    let g = p.gradient(&x0).unwrap();
    let lambda = norm(&g) / (1.0 + 1e-8);
    for i in 0..4 {
        let h = 3.0 * p.a[i] * x0[i] * x0[i] + 1.0;
        let want = x0[i] - g[i] / (h + lambda);
        assert!(
            (r.x[i] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{i}: {} vs {want}",
            r.x[i]
        );
    }
    assert_eq!(r.log[1].gamma, 2.0);
}

/// A solver whose every factorization fails: each trial halves γ, and after max_trials the
/// iterate stays where it was.
struct Failing;
impl RegularizedSolve for Failing {
    fn prepare(&mut self, _: &dyn SmoothProblem, _: &[f64]) -> Result<(), SolveError> {
        Ok(())
    }
    fn solve(&mut self, _: f64, _: &[f64]) -> Result<Vec<f64>, SolveError> {
        Err(SolveError::NotSpd("test".into()))
    }
}

#[test]
fn failed_factorizations_are_rejected_trials() {
    let p = quartic();
    let opts = GnsOptions {
        max_iter: 1,
        max_trials: 5,
        ..GnsOptions::default()
    };
    let r = minimize(&p, &mut Failing, &opts).unwrap();
    assert_eq!(r.x, p.x0());
    assert_eq!(r.log[1].gamma, 1.0 / 32.0);
    assert!(!r.log[1].accepted && !r.converged);
}

#[test]
fn bad_options_are_typed_errors() {
    let p = quartic();
    for opts in [
        GnsOptions {
            gamma0: 0.0,
            ..GnsOptions::default()
        },
        GnsOptions {
            eps: f64::NAN,
            ..GnsOptions::default()
        },
        GnsOptions {
            max_trials: 0,
            ..GnsOptions::default()
        },
        GnsOptions {
            grad_tol: -1.0,
            ..GnsOptions::default()
        },
    ] {
        let e = minimize(&p, &mut DenseCholesky::default(), &opts).unwrap_err();
        assert!(matches!(e, SolveError::Invalid(_)), "{e}");
    }
}
