//! Gradient-normalized smoothness Newton ("Gradient-Normalized Smoothness for Optimization
//! with Approximate Hessians", 2025; the authors' `grad_norm_smooth`, Algorithm 1, read through
//! the refactored copy fecheteluca/agns-epfl `methods/gns.py` and `common/gns_search.py`).
//!
//! Each iteration solves the regularized Newton system `(H_k + λ_k I) δ = −g_k` with
//! `λ_k = ‖g_k‖ / (γ_k + ε)` and accepts `x + δ` when
//! `f(x) − f(x + δ) ≥ ‖∇f(x + δ)‖² / (8 λ_k)`; then `γ ← max(2γ, γ_min)`. A rejected trial halves
//! γ (no floor, as upstream) and solves again, at most [`GnsOptions::max_trials`] times; on
//! exhaustion the last trial is kept (upstream's default). A failed factorization counts as a
//! rejected trial (upstream catches `LinAlgError` and tightens γ).
//!
//! The inner solve is a [`RegularizedSolve`]: [`DenseCholesky`] here (the Hessian assembled from
//! products when the problem has no dense one), `wgopt_solvers::gns::NystromSolve` on the GPU
//! (Nyström-preconditioned CG, shift λ per trial, one preconditioner per iteration).
//!
//! Where this differs from upstream: a trial whose f or ∇f is not finite is rejected instead of
//! ending the run (upstream stops with DIVERGED_NONFINITE after accepting it), the run stops
//! at `grad_tol` on ‖∇f‖ or after `max_iter` iterations, and the acceptance test grants f's
//! own noise, `2·relative_accuracy·|f|` ([`SmoothProblem::relative_accuracy`]: f64 rounding for
//! host problems, 1e-6 for the GPU logistic loss, whose f is a sum of f32 losses). Without it
//! an f evaluated low by rounding near the optimum rejected every later trial (seen on the GPU
//! at N = 200, d = 20: γ fell to 1e-47 over 160 rejected trials at ‖∇f‖ = 1.8e-6).

use crate::constrained::OperatorProblem;
use crate::sketch::dense::{cholesky, norm};
use crate::sketch::SolveError;
use ndarray::Array2;

/// An unconstrained smooth problem with Hessian products (and optionally the dense Hessian).
pub trait SmoothProblem {
    fn dim(&self) -> usize;
    fn x0(&self) -> Vec<f64>;
    fn objective(&self, x: &[f64]) -> Result<f64, SolveError>;
    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `∇²f(x)·v`.
    fn hessian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// `∇²f(x)` when the problem has it densely; by default assembled from d products.
    fn hessian(&self, x: &[f64]) -> Result<Array2<f64>, SolveError> {
        assemble(self, x)
    }
    /// Hessian products one [`hessian`](Self::hessian) call takes (d when assembled, 0 when
    /// the problem forms H itself).
    fn hessian_products(&self) -> usize {
        self.dim()
    }
    /// Relative accuracy of [`objective`](Self::objective): f64 rounding by default; a problem
    /// evaluated in f32 says so (~1e-6), and the acceptance test allows that much noise.
    fn relative_accuracy(&self) -> f64 {
        f64::EPSILON
    }
}

/// `∇²f(x)` from d products `∇²f·e_j`, symmetrized (products in f32 or from finite
/// differences are symmetric only to their rounding).
pub fn assemble<P: SmoothProblem + ?Sized>(p: &P, x: &[f64]) -> Result<Array2<f64>, SolveError> {
    let d = p.dim();
    let mut h = Array2::<f64>::zeros((d, d));
    let mut e = vec![0.0; d];
    for j in 0..d {
        e[j] = 1.0;
        let col = p.hessian_product(x, &e)?;
        e[j] = 0.0;
        if col.len() != d {
            return Err(SolveError::Dimension(format!(
                "∇²f·e_{j} has {} entries, the problem {d}",
                col.len()
            )));
        }
        h.column_mut(j)
            .iter_mut()
            .zip(&col)
            .for_each(|(o, v)| *o = *v);
    }
    Ok((&h + &h.t()) * 0.5)
}

/// The objective of an [`OperatorProblem`] without its constraints (e.g. the plain logistic
/// loss of `constrained::logistic`, on the host or the GPU).
#[derive(Debug, Clone, Copy)]
pub struct Unconstrained<'a, P: ?Sized>(pub &'a P);

impl<P: OperatorProblem + ?Sized> SmoothProblem for Unconstrained<'_, P> {
    fn dim(&self) -> usize {
        self.0.dims().0
    }
    fn x0(&self) -> Vec<f64> {
        self.0.x0()
    }
    fn objective(&self, x: &[f64]) -> Result<f64, SolveError> {
        self.0.objective(x)
    }
    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        self.0.gradient(x)
    }
    fn hessian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        self.0.objective_hvp(x, v)
    }
    /// The problem's own dense ∇²f when it forms one, else d products.
    fn hessian(&self, x: &[f64]) -> Result<Array2<f64>, SolveError> {
        match self.0.objective_hessian(x) {
            Some(h) => h,
            None => assemble(self, x),
        }
    }
    fn hessian_products(&self) -> usize {
        if self.0.forms_objective_hessian() {
            0
        } else {
            self.dim()
        }
    }
    fn relative_accuracy(&self) -> f64 {
        self.0.relative_accuracy()
    }
}

/// The solve of `(H + λI) δ = −g` at one point for any number of shifts λ.
pub trait RegularizedSolve {
    /// Called once per iteration at its point `x` (build H or its preconditioner here).
    fn prepare(&mut self, problem: &dyn SmoothProblem, x: &[f64]) -> Result<(), SolveError>;
    /// δ with `(H + λI) δ = −g`. `NotSpd`/`Singular`/`NonFinite` count as a rejected trial.
    fn solve(&mut self, lambda: f64, g: &[f64]) -> Result<Vec<f64>, SolveError>;
    /// Hessian products the last `prepare` took (0 when the problem gave H densely).
    fn products(&self) -> usize {
        0
    }
}

/// The reference inner solve: H densely (from the problem, or d products), a Cholesky
/// factorization of `H + λI` per trial (faer, f64).
#[derive(Debug, Clone, Default)]
pub struct DenseCholesky {
    h: Option<Array2<f64>>,
    products: usize,
}

impl RegularizedSolve for DenseCholesky {
    fn prepare(&mut self, problem: &dyn SmoothProblem, x: &[f64]) -> Result<(), SolveError> {
        let h = problem.hessian(x)?;
        if let Some(v) = h.iter().find(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite(format!("Hessian entry {v}")));
        }
        self.products = problem.hessian_products();
        self.h = Some(h);
        Ok(())
    }

    fn solve(&mut self, lambda: f64, g: &[f64]) -> Result<Vec<f64>, SolveError> {
        let h = self
            .h
            .as_ref()
            .ok_or_else(|| SolveError::Invalid("solve before prepare".into()))?;
        let mut shifted = h.clone();
        shifted.diag_mut().iter_mut().for_each(|v| *v += lambda);
        let l = cholesky(shifted.view())?;
        Ok(cholesky_solve(&l, g).into_iter().map(|v| -v).collect())
    }

    fn products(&self) -> usize {
        self.products
    }
}

/// x with L Lᵀ x = b (forward, then backward substitution).
fn cholesky_solve(l: &Array2<f64>, b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut y = b.to_vec();
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[[i, k]] * y[k]).sum();
        y[i] = (y[i] - s) / l[[i, i]];
    }
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[[k, i]] * y[k]).sum();
        y[i] = (y[i] - s) / l[[i, i]];
    }
    y
}

/// GNS's knobs; defaults are the authors'.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnsOptions {
    pub gamma0: f64,
    pub gamma_min: f64,
    /// ε in λ = ‖g‖ / (γ + ε).
    pub eps: f64,
    /// Trials per iteration before the last one is kept (upstream: 40).
    pub max_trials: usize,
    pub max_iter: usize,
    /// Stop when ‖∇f‖ ≤ grad_tol.
    pub grad_tol: f64,
}

impl Default for GnsOptions {
    fn default() -> Self {
        GnsOptions {
            gamma0: 1.0,
            gamma_min: 1e-9,
            eps: 1e-8,
            max_trials: 40,
            max_iter: 100,
            grad_tol: 1e-8,
        }
    }
}

impl GnsOptions {
    pub fn validate(&self) -> Result<(), SolveError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(SolveError::Invalid(format!(
                    "{name} must be finite and > 0, got {v}"
                )))
            }
        };
        positive("gamma0", self.gamma0)?;
        positive("gamma_min", self.gamma_min)?;
        positive("eps", self.eps)?;
        if !(self.grad_tol.is_finite() && self.grad_tol >= 0.0) {
            return Err(SolveError::Invalid(format!(
                "grad_tol must be finite and ≥ 0, got {}",
                self.grad_tol
            )));
        }
        if self.max_trials == 0 {
            return Err(SolveError::Invalid("max_trials must be ≥ 1".into()));
        }
        Ok(())
    }
}

/// One outer iteration, after its search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnsIteration {
    pub f: f64,
    pub grad_norm: f64,
    /// γ after the search (doubled on accept).
    pub gamma: f64,
    /// λ of the trial that was kept.
    pub lambda: f64,
    pub trials: usize,
    pub accepted: bool,
}

/// A run's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct GnsReport {
    pub x: Vec<f64>,
    pub f: f64,
    pub grad_norm: f64,
    pub iterations: usize,
    /// Regularized solves over all iterations.
    pub solves: usize,
    /// f and ∇f evaluations (one each per trial, plus the start).
    pub evaluations: usize,
    /// Hessian products over all iterations (d per iteration when H is assembled).
    pub hessian_products: usize,
    pub converged: bool,
    /// The start, then one entry per iteration.
    pub log: Vec<GnsIteration>,
}

impl GnsReport {
    /// A run at its start: one evaluation, the start's log entry (`gamma`: GNS's γ₀, or
    /// gradient descent's first step).
    fn start(at: &Point, grad_norm: f64, gamma: f64) -> GnsReport {
        GnsReport {
            x: Vec::new(),
            f: at.f,
            grad_norm,
            iterations: 0,
            solves: 0,
            evaluations: 1,
            hessian_products: 0,
            converged: false,
            log: vec![log_entry(at, grad_norm, gamma, f64::NAN, 0, true)],
        }
    }
}

/// Where the search stands at one iterate.
struct Point {
    x: Vec<f64>,
    f: f64,
    g: Vec<f64>,
}

fn evaluate(p: &dyn SmoothProblem, x: Vec<f64>) -> Result<Point, SolveError> {
    let f = p.objective(&x)?;
    let g = p.gradient(&x)?;
    if g.len() != x.len() {
        return Err(SolveError::Dimension(format!(
            "∇f has {} entries, x {}",
            g.len(),
            x.len()
        )));
    }
    Ok(Point { x, f, g })
}

/// Minimizes `problem` from its `x0` by GNS with `solver` for the regularized systems. Errors:
/// bad options, a non-finite start, dimension mismatches, and solver errors other than a
/// trial's failed factorization.
pub fn minimize(
    problem: &dyn SmoothProblem,
    solver: &mut dyn RegularizedSolve,
    opts: &GnsOptions,
) -> Result<GnsReport, SolveError> {
    opts.validate()?;
    let x0 = problem.x0();
    if x0.len() != problem.dim() {
        return Err(SolveError::Dimension(format!(
            "x0 has {} entries, the problem {}",
            x0.len(),
            problem.dim()
        )));
    }
    let mut at = evaluate(problem, x0)?;
    let gnorm = norm(&at.g);
    if !at.f.is_finite() || !gnorm.is_finite() {
        return Err(SolveError::NonFinite("f or ∇f at the start".into()));
    }
    let mut report = GnsReport::start(&at, gnorm, opts.gamma0);
    let mut gamma = opts.gamma0;
    while report.iterations < opts.max_iter && report.grad_norm > opts.grad_tol {
        solver.prepare(problem, &at.x)?;
        report.hessian_products += solver.products();
        let (next, entry) = search(problem, solver, opts, &at, gamma, &mut report)?;
        gamma = entry.gamma;
        at = next;
        report.f = entry.f;
        report.grad_norm = entry.grad_norm;
        report.iterations += 1;
        report.log.push(entry);
    }
    report.converged = report.grad_norm <= opts.grad_tol;
    report.x = at.x;
    Ok(report)
}

/// The adaptive search of one iteration: the accepted (or last finite) trial and its log entry.
fn search(
    problem: &dyn SmoothProblem,
    solver: &mut dyn RegularizedSolve,
    opts: &GnsOptions,
    at: &Point,
    mut gamma: f64,
    report: &mut GnsReport,
) -> Result<(Point, GnsIteration), SolveError> {
    let gnorm = norm(&at.g);
    let mut last: Option<(Point, f64, f64)> = None;
    for trial in 1..=opts.max_trials {
        let lambda = gnorm / (gamma + opts.eps);
        let step = match solver.solve(lambda, &at.g) {
            Ok(step) => step,
            Err(SolveError::NotSpd(_) | SolveError::Singular(_) | SolveError::NonFinite(_)) => {
                gamma *= 0.5;
                continue;
            }
            Err(e) => return Err(e),
        };
        report.solves += 1;
        let x: Vec<f64> = at.x.iter().zip(&step).map(|(a, b)| a + b).collect();
        let trial_point = evaluate(problem, x)?;
        report.evaluations += 1;
        let tnorm = norm(&trial_point.g);
        let finite = trial_point.f.is_finite() && tnorm.is_finite();
        // f's own noise (twice: both values carry it) is granted, so a value that came out low
        // by rounding cannot reject every later trial: f64 problems grant ~4e-16·|f|.
        let noise = 2.0 * problem.relative_accuracy() * at.f.abs().max(trial_point.f.abs());
        if finite && at.f - trial_point.f + noise >= tnorm * tnorm / (8.0 * lambda) {
            gamma = (2.0 * gamma).max(opts.gamma_min);
            let entry = log_entry(&trial_point, tnorm, gamma, lambda, trial, true);
            return Ok((trial_point, entry));
        }
        gamma *= 0.5;
        if finite {
            last = Some((trial_point, tnorm, lambda));
        }
    }
    // Exhausted: keep the last finite trial (upstream keeps the last trial), else stay.
    let entry;
    let point = match last {
        Some((p, tnorm, lambda)) => {
            entry = log_entry(&p, tnorm, gamma, lambda, opts.max_trials, false);
            p
        }
        None => {
            entry = log_entry(at, gnorm, gamma, f64::NAN, opts.max_trials, false);
            Point {
                x: at.x.clone(),
                f: at.f,
                g: at.g.clone(),
            }
        }
    };
    Ok((point, entry))
}

fn log_entry(
    p: &Point,
    grad_norm: f64,
    gamma: f64,
    lambda: f64,
    trials: usize,
    accepted: bool,
) -> GnsIteration {
    GnsIteration {
        f: p.f,
        grad_norm,
        gamma,
        lambda,
        trials,
        accepted,
    }
}

/// Plain gradient descent with Armijo backtracking (c = 1e-4, halving from the last accepted
/// step doubled): the first-order baseline GNS is compared with. Returns the same report
/// (`solves` = 0; `log` per iteration).
pub fn gradient_descent(
    problem: &dyn SmoothProblem,
    step0: f64,
    max_iter: usize,
    grad_tol: f64,
) -> Result<GnsReport, SolveError> {
    let mut at = evaluate(problem, problem.x0())?;
    let mut gnorm = norm(&at.g);
    let mut report = GnsReport::start(&at, gnorm, step0);
    let mut step = step0;
    while report.iterations < max_iter && gnorm > grad_tol {
        step *= 2.0;
        let mut trials = 0;
        loop {
            trials += 1;
            let x: Vec<f64> = at.x.iter().zip(&at.g).map(|(a, g)| a - step * g).collect();
            let f = problem.objective(&x)?;
            report.evaluations += 1;
            if f.is_finite() && at.f - f >= 1e-4 * step * gnorm * gnorm {
                at = evaluate(problem, x)?;
                break;
            }
            step *= 0.5;
            if step < 1e-20 {
                return Err(SolveError::Stalled {
                    iterations: report.iterations,
                    residual: gnorm,
                    tolerance: grad_tol,
                    window: trials,
                });
            }
        }
        gnorm = norm(&at.g);
        report.iterations += 1;
        report
            .log
            .push(log_entry(&at, gnorm, step, f64::NAN, trials, true));
    }
    report.f = at.f;
    report.grad_norm = gnorm;
    report.converged = gnorm <= grad_tol;
    report.x = at.x;
    Ok(report)
}

#[cfg(test)]
mod tests;
