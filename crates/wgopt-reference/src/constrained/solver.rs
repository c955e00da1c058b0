//! The exact-augmented-Lagrangian inexact Newton method (spec B2.1–B2.4), one outer
//! iteration:
//!
//! 1. f, ∇f, c, G, H = ∇²_x L at (x, λ); stop when ‖(∇_x L, c)‖ ≤ `kkt_tol`. LICQ check:
//!    ξ_G = λ_min(G Gᵀ) ≥ `licq_threshold`, else a typed error.
//! 2. B = H, or H + (ξ_B + ‖H‖_F) I when the reduced Hessian ZᵀHZ (Z: an orthonormal basis
//!    of null(G) from the QR of Gᵀ) has λ_min below `reduced_hessian_threshold`.
//! 3. K = [[B, Gᵀ], [G, 0]], b = −(∇_x L, c); Ψ = 20·max(‖B‖_F², 1)/(min(ξ_G, 1)·min(ξ_B, 1)),
//!    Υ = max(‖G‖_F, ‖H‖_F, 1), δ_trial = (½ − β)·η₂/((1 + η₁ + η₂)·Υ²·Ψ²),
//!    δ ← max(1e-6, min(δ, δ_trial)).
//! 4. Sketch steps on K z = b from z = 0 until ‖K‖_F·Ψ·‖r‖ ≤ θ·δ·‖b‖ (or the inner cap);
//!    descent test g_ηᵀ z ≤ −(η₂/2)‖b‖² with g_η = ∇L_η; on failure η₁ ← η₁ν², η₂ ← η₂/ν,
//!    δ ← max(1e-6, min(δ/ν⁴, δ_trial)), and the sketch continues from the same z.
//! 5. Armijo on L_η(x, λ) = f + λᵀc + (η₁/2)‖c‖² + (η₂/2)‖∇_x L‖² along (Δx, Δλ), halving α
//!    (with IPOPT's 10·ε·|L_η| allowance for rounding, which the reference code lacks).
//!
//! The loop ([`run`]) is written once over a linearisation ([`Model`]): a dense [`Problem`]
//! gives exact norms and eigenvalues and the assembled K; a matrix-free
//! [`super::OperatorProblem`] estimates them from products ([`super::operator`]).
//!
//! ∇_x L_η uses the exact ∇²_x L; `code_merit_gradient` switches to the authors' ∇²f (the two
//! agree for linear constraints). The residual starts at r₀ = −b (the code's r₀ = b is a sign
//! slip its first recomputation hides).

use crate::sketch::dense::{dot, norm, sym_eigenvalues, to_faer};
use crate::sketch::SolveError;
use ndarray::{s, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::kkt::{BuiltinKkt, KktMethod, KktOperator, KktSolver};
use super::problem::Problem;

/// Constants of the method (defaults: the authors' Param.jl, except `kkt_tol`, tightened from
/// 1e-4 so results can be checked against known optima to 1e-6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub method: KktMethod,
    /// Stop when ‖(∇_x L, c)‖ ≤ kkt_tol …
    pub kkt_tol: f64,
    /// … and ‖c‖∞ ≤ constraint_tol (`None`: no separate test). Degenerate problems reach
    /// feasibility long before stationarity, so a loose `kkt_tol` with a tight feasibility test
    /// ends them feasible.
    #[serde(default)]
    pub constraint_tol: Option<f64>,
    pub max_iter: usize,
    /// Sketch steps per outer iteration at most (1e5 on CUTEst in the code).
    pub inner_max: usize,
    pub eta1: f64,
    pub eta2: f64,
    pub delta: f64,
    pub beta: f64,
    pub nu: f64,
    pub xi_b: f64,
    pub theta: f64,
    pub reduced_hessian_threshold: f64,
    /// Failure when λ_min(GGᵀ) falls below this (the code's 1e-2).
    pub licq_threshold: f64,
    /// Use ∇²f instead of ∇²_x L in ∇_x L_η, as the authors' code does.
    pub code_merit_gradient: bool,
    pub max_halvings: usize,
    pub seed: u64,
    /// Matrix-free problems ([`super::OperatorProblem`]): Gaussian probes per Newton iteration
    /// for the Hutchinson estimates of ‖∇²L‖_F, ‖B‖_F and ‖G‖_F in Ψ and Υ.
    #[serde(default = "default_probes")]
    pub probes: usize,
    /// Matrix-free problems: Lanczos steps for λ_min(GGᵀ) and for λ_min of the reduced
    /// Hessian on null(G) (exact once it reaches m, resp. d − m).
    #[serde(default = "default_lanczos_steps")]
    pub lanczos_steps: usize,
}

fn default_probes() -> usize {
    8
}

fn default_lanczos_steps() -> usize {
    40
}

impl Default for Options {
    fn default() -> Self {
        Options {
            method: KktMethod::GaussianVector,
            kkt_tol: 1e-8,
            constraint_tol: None,
            max_iter: 10_000,
            inner_max: 100_000,
            eta1: 1.0,
            eta2: 0.1,
            delta: 0.1,
            beta: 0.1,
            nu: 1.5,
            xi_b: 0.1,
            theta: 1.0,
            reduced_hessian_threshold: 1e-6,
            licq_threshold: 1e-2,
            code_merit_gradient: false,
            max_halvings: 60,
            seed: 2023,
            probes: default_probes(),
            lanczos_steps: default_lanczos_steps(),
        }
    }
}

impl Options {
    /// The authors' settings for CUTEst, KKT tolerance 1e-4 and their merit gradient.
    pub fn paper() -> Self {
        Options {
            kkt_tol: 1e-4,
            code_merit_gradient: true,
            ..Options::default()
        }
    }
}

/// One outer iteration, as the reference code logs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct IterationLog {
    pub kkt: f64,
    pub inner_steps: usize,
    pub eta1: f64,
    pub eta2: f64,
    pub delta: f64,
    pub alpha: f64,
    /// The inner loop stopped at its cap rather than the accuracy test.
    pub inner_capped: bool,
    pub modified_hessian: bool,
}

/// The result of [`solve`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub x: Vec<f64>,
    pub lambda: Vec<f64>,
    pub objective: f64,
    /// ‖c(x)‖∞.
    pub violation: f64,
    /// ‖(∇_x L, c)‖₂.
    pub kkt: f64,
    pub iterations: usize,
    pub inner_steps: usize,
    /// Objective/constraint and derivative evaluations.
    pub evaluations: usize,
    pub log: Vec<IterationLog>,
}

/// What the outer iteration needs at a point: f, ∇_x L = ∇f + Gᵀλ and c.
pub(crate) struct Point {
    pub(crate) f: f64,
    pub(crate) grad_l: Vec<f64>,
    pub(crate) c: Vec<f64>,
}

pub(crate) fn finite(what: &str, it: usize, v: &[f64]) -> Result<(), SolveError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(SolveError::NonFinite(format!(
            "the problem's {what} at iteration {it}"
        )))
    }
}

fn fro(a: ArrayView2<'_, f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// The exact augmented Lagrangian.
fn merit(pt: &Point, lambda: &[f64], eta1: f64, eta2: f64) -> f64 {
    pt.f + dot(lambda, &pt.c)
        + 0.5 * eta1 * dot(&pt.c, &pt.c)
        + 0.5 * eta2 * dot(&pt.grad_l, &pt.grad_l)
}

/// λ_min of the reduced Hessian ZᵀHZ (Z from the full QR of Gᵀ); `None` when null(G) = {0}.
fn reduced_hessian_min(
    h: ArrayView2<'_, f64>,
    g: ArrayView2<'_, f64>,
) -> Result<Option<f64>, SolveError> {
    let (m, d) = g.dim();
    if m >= d {
        return Ok(None);
    }
    let qr = to_faer(g.t()).qr();
    let q = qr.compute_Q();
    let z = Array2::from_shape_fn((d, d - m), |(i, j)| q[(i, m + j)]);
    let red = z.t().dot(&h).dot(&z);
    let red = (&red + &red.t()) * 0.5;
    Ok(Some(sym_eigenvalues(red.view())?[0]))
}

/// One linearisation of the problem at (x, λ): the KKT operator with B's shift, the constants
/// of the accuracy test, and the products the merit gradient needs. Dense problems compute
/// it exactly; matrix-free ones estimate the norms and eigenvalues
/// ([`super::operator`]).
pub(crate) struct Model<'a> {
    pub(crate) kkt: Box<dyn KktOperator + 'a>,
    /// λ_min(G Gᵀ) (1 without constraints).
    pub(crate) xi_g: f64,
    pub(crate) modified: bool,
    pub(crate) fro_b: f64,
    pub(crate) fro_g: f64,
    pub(crate) fro_h: f64,
    pub(crate) fro_k: f64,
    /// Gᵀc, H_m·∇_x L (H_m: ∇²_x L, or ∇²f for the code's merit gradient) and G·∇_x L.
    pub(crate) gc: Vec<f64>,
    pub(crate) hgl: Vec<f64>,
    pub(crate) ggl: Vec<f64>,
}

/// The LICQ test: a typed error when λ_min(GGᵀ) is below the threshold (or not a number).
pub(crate) fn check_licq(
    name: &str,
    m: usize,
    xi_g: f64,
    it: usize,
    opts: &Options,
) -> Result<(), SolveError> {
    if m > 0 && (xi_g.is_nan() || xi_g < opts.licq_threshold) {
        return Err(SolveError::Singular(format!(
            "{name}: LICQ fails at iteration {it}: λ_min(GGᵀ) = {xi_g:e} < {:e}",
            opts.licq_threshold
        )));
    }
    Ok(())
}

/// The problem as the outer iteration evaluates it at trial points.
pub(crate) trait Evaluate {
    fn name(&self) -> &str;
    fn dims(&self) -> (usize, usize);
    fn start(&self) -> (Vec<f64>, Vec<f64>);
    /// Relative accuracy of the objective's values (f64 rounding unless the problem says
    /// otherwise): the line search's allowance for noise in the merit function.
    fn relative_accuracy(&self) -> f64 {
        f64::EPSILON
    }
    /// f, ∇_x L and c at (x, λ), all finite.
    fn point(&self, x: &[f64], lambda: &[f64], it: usize) -> Result<Point, SolveError>;
    /// The linearisation at (x, λ) (`pt` is the point there).
    fn model(
        &self,
        x: &[f64],
        lambda: &[f64],
        pt: &Point,
        it: usize,
        opts: &Options,
    ) -> Result<Model<'_>, SolveError>;
}

/// A dense [`Problem`]: exact norms, eigenvalues and the assembled K.
pub(crate) struct Dense<'a, P: ?Sized>(pub(crate) &'a P);

impl<P: Problem + ?Sized> Evaluate for Dense<'_, P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn dims(&self) -> (usize, usize) {
        self.0.dims()
    }

    fn start(&self) -> (Vec<f64>, Vec<f64>) {
        (self.0.x0(), self.0.lambda0())
    }

    fn point(&self, x: &[f64], lambda: &[f64], it: usize) -> Result<Point, SolveError> {
        let p = self.0;
        let f = p.objective(x);
        let g = p.gradient(x);
        let c = p.constraints(x);
        let jac = p.jacobian(x);
        finite("objective", it, &[f])?;
        finite("gradient", it, &g)?;
        finite("constraints", it, &c)?;
        finite("Jacobian", it, jac.as_slice().unwrap_or(&[]))?;
        let gtl = jac.t().dot(&ndarray::Array1::from(lambda.to_vec()));
        let grad_l = g.iter().zip(gtl.iter()).map(|(a, b)| a + b).collect();
        Ok(Point { f, grad_l, c })
    }

    fn model(
        &self,
        x: &[f64],
        lambda: &[f64],
        pt: &Point,
        it: usize,
        opts: &Options,
    ) -> Result<Model<'_>, SolveError> {
        let p = self.0;
        let (d, m) = p.dims();
        let g = p.jacobian(x);
        let h = p.lagrangian_hessian(x, lambda);
        finite("Lagrangian Hessian", it, h.as_slice().unwrap_or(&[]))?;
        let xi_g = if m == 0 {
            1.0
        } else {
            sym_eigenvalues(g.dot(&g.t()).view())?[0]
        };
        check_licq(p.name(), m, xi_g, it, opts)?;
        let mut bmat = h.clone();
        let modified = matches!(reduced_hessian_min(h.view(), g.view())?, Some(l) if l < opts.reduced_hessian_threshold);
        if modified {
            let shift = opts.xi_b + fro(h.view());
            for i in 0..d {
                bmat[[i, i]] += shift;
            }
        }
        let n = d + m;
        let mut kmat = Array2::<f64>::zeros((n, n));
        kmat.slice_mut(s![..d, ..d]).assign(&bmat);
        kmat.slice_mut(s![..d, d..]).assign(&g.t());
        kmat.slice_mut(s![d.., ..d]).assign(&g);
        let hm = if opts.code_merit_gradient {
            p.objective_hessian(x)
        } else {
            h.clone()
        };
        let gl = ndarray::Array1::from(pt.grad_l.clone());
        Ok(Model {
            xi_g,
            modified,
            fro_b: fro(bmat.view()),
            fro_g: fro(g.view()),
            fro_h: fro(h.view()),
            fro_k: fro(kmat.view()),
            gc: g.t().dot(&ndarray::Array1::from(pt.c.clone())).to_vec(),
            hgl: hm.dot(&gl).to_vec(),
            ggl: g.dot(&gl).to_vec(),
            kkt: Box::new(kmat),
        })
    }
}

/// Solves `problem` from its starting point with the KKT solver `opts.method`.
pub fn solve<P: Problem + ?Sized>(problem: &P, opts: &Options) -> Result<Report, SolveError> {
    solve_with(problem, opts, &mut BuiltinKkt::new(opts))
}

/// Solves `problem` from its starting point with the caller's KKT solver (`opts.method` is
/// ignored).
pub fn solve_with<P: Problem + ?Sized>(
    problem: &P,
    opts: &Options,
    kkt_solver: &mut dyn KktSolver,
) -> Result<Report, SolveError> {
    run(&Dense(problem), opts, kkt_solver)
}

/// The outer iteration over any [`Evaluate`].
pub(crate) fn run(
    problem: &dyn Evaluate,
    opts: &Options,
    kkt_solver: &mut dyn KktSolver,
) -> Result<Report, SolveError> {
    let (mut x, mut lambda) = problem.start();
    check_inputs(problem, opts, &x, &lambda)?;
    let mut penalty = Penalty {
        eta1: opts.eta1,
        eta2: opts.eta2,
        delta: opts.delta,
    };
    let mut evals = 1;
    let mut log = Vec::new();
    let mut inner_total = 0;
    let mut pt = problem.point(&x, &lambda, 0)?;
    for it in 0..opts.max_iter {
        let kkt = (dot(&pt.grad_l, &pt.grad_l) + dot(&pt.c, &pt.c)).sqrt();
        let feasible = opts
            .constraint_tol
            .is_none_or(|t| pt.c.iter().all(|v| v.abs() <= t));
        if kkt <= opts.kkt_tol && feasible {
            return Ok(Report {
                objective: pt.f,
                violation: pt.c.iter().fold(0.0, |a, v| a.max(v.abs())),
                kkt,
                iterations: it,
                inner_steps: inner_total,
                evaluations: evals,
                log,
                x,
                lambda,
            });
        }
        let model = problem.model(&x, &lambda, &pt, it, opts)?;
        let dir = direction(kkt_solver, &model, &pt, opts, it, &mut penalty)?;
        inner_total += dir.inner;
        let trial = Trial {
            x: &x,
            lambda: &lambda,
            pt: &pt,
            kkt,
            it,
        };
        let (alpha, xn, ln, ptn) = line_search(problem, opts, &trial, &dir, &penalty, &mut evals)?;
        log.push(IterationLog {
            kkt,
            inner_steps: dir.inner,
            eta1: penalty.eta1,
            eta2: penalty.eta2,
            delta: penalty.delta,
            alpha,
            inner_capped: dir.capped,
            modified_hessian: model.modified,
        });
        x = xn;
        lambda = ln;
        pt = ptn;
    }
    let kkt = (dot(&pt.grad_l, &pt.grad_l) + dot(&pt.c, &pt.c)).sqrt();
    Err(SolveError::IterationCap {
        iterations: opts.max_iter,
        residual: kkt,
        tolerance: opts.kkt_tol,
    })
}

/// The starting point's sizes and the options' ranges.
fn check_inputs(
    problem: &dyn Evaluate,
    opts: &Options,
    x: &[f64],
    lambda: &[f64],
) -> Result<(), SolveError> {
    let (d, m) = problem.dims();
    if x.len() != d || lambda.len() != m || d == 0 {
        return Err(SolveError::Dimension(format!(
            "{}: dims ({d}, {m}) but x0 has {} and λ0 {} entries",
            problem.name(),
            x.len(),
            lambda.len()
        )));
    }
    if !(opts.beta > 0.0 && opts.beta < 0.5 && opts.nu > 1.0 && opts.kkt_tol > 0.0) {
        return Err(SolveError::Invalid(
            "need 0 < β < ½, ν > 1, kkt_tol > 0".into(),
        ));
    }
    Ok(())
}

/// The penalty parameters η₁, η₂ and the inexactness δ, carried across iterations.
struct Penalty {
    eta1: f64,
    eta2: f64,
    delta: f64,
}

/// One Newton direction z = (dx, dλ) of the KKT system, with ∇L_η = (gx, gl) at the penalty
/// it was accepted at, the inner steps it took, and whether the inner solver hit its cap.
struct Direction {
    z: Vec<f64>,
    gx: Vec<f64>,
    gl: Vec<f64>,
    inner: usize,
    capped: bool,
}

impl Direction {
    /// ⟨∇L_η, z⟩.
    fn slope(&self) -> f64 {
        let d = self.gx.len();
        dot(&self.gx, &self.z[..d]) + dot(&self.gl, &self.z[d..])
    }
}

/// Solves the KKT system to the inexactness δ allows, raising the penalty (η₁ up, η₂ and δ
/// down) until the direction descends the merit by at least η₂‖b‖²/2.
fn direction(
    kkt_solver: &mut dyn KktSolver,
    model: &Model<'_>,
    pt: &Point,
    opts: &Options,
    it: usize,
    pen: &mut Penalty,
) -> Result<Direction, SolveError> {
    let (d, m) = (pt.grad_l.len(), pt.c.len());
    let rhs: Vec<f64> = pt.grad_l.iter().chain(&pt.c).map(|v| -v).collect();
    let bnorm = norm(&rhs);
    let psi = 20.0 * model.fro_b.powi(2).max(1.0) / (model.xi_g.min(1.0) * opts.xi_b.min(1.0));
    let upsilon = model.fro_g.max(model.fro_h).max(1.0);
    let delta_trial = |e1: f64, e2: f64| {
        (0.5 - opts.beta) * e2 / ((1.0 + e1 + e2) * upsilon * upsilon * psi * psi)
    };
    pen.delta = pen.delta.min(delta_trial(pen.eta1, pen.eta2)).max(1e-6);
    let mut z = vec![0.0; d + m];
    let (mut inner, mut capped) = (0, false);
    loop {
        let target = opts.theta * pen.delta * bnorm / (model.fro_k * psi);
        let (steps, hit_cap) = kkt_solver.solve(
            model.kkt.as_ref(),
            &rhs,
            &mut z,
            target,
            opts.inner_max.saturating_sub(inner),
            it,
        )?;
        inner += steps;
        capped |= hit_cap;
        // ∇L_η.
        let gx: Vec<f64> = (0..d)
            .map(|i| pt.grad_l[i] + pen.eta1 * model.gc[i] + pen.eta2 * model.hgl[i])
            .collect();
        let gl: Vec<f64> = (0..m).map(|i| pt.c[i] + pen.eta2 * model.ggl[i]).collect();
        let slope = dot(&gx, &z[..d]) + dot(&gl, &z[d..]);
        if pen.eta1 > 1e8 || pen.eta2 < 1e-8 || slope <= -0.5 * pen.eta2 * bnorm * bnorm {
            return Ok(Direction {
                z,
                gx,
                gl,
                inner,
                capped,
            });
        }
        pen.eta1 *= opts.nu * opts.nu;
        pen.eta2 /= opts.nu;
        pen.delta = (pen.delta / opts.nu.powi(4))
            .min(delta_trial(pen.eta1, pen.eta2))
            .max(1e-6);
    }
}

/// Where a line search starts: the iterate, its evaluation, its KKT residual and iteration.
struct Trial<'a> {
    x: &'a [f64],
    lambda: &'a [f64],
    pt: &'a Point,
    kkt: f64,
    it: usize,
}

/// Armijo backtracking on the merit L_η along `dir`: (α, x, λ, point) of the accepted step.
fn line_search(
    problem: &dyn Evaluate,
    opts: &Options,
    at: &Trial<'_>,
    dir: &Direction,
    pen: &Penalty,
    evals: &mut usize,
) -> Result<(f64, Vec<f64>, Vec<f64>, Point), SolveError> {
    let d = at.x.len();
    let slope = dir.slope();
    let m0 = merit(at.pt, at.lambda, pen.eta1, pen.eta2);
    let mut alpha = 1.0;
    for _ in 0..=opts.max_halvings {
        let step = |v: &[f64], dz: &[f64]| -> Vec<f64> {
            v.iter().zip(dz).map(|(a, dz)| a + alpha * dz).collect()
        };
        let (xn, ln) = (step(at.x, &dir.z[..d]), step(at.lambda, &dir.z[d..]));
        *evals += 1;
        if let Ok(t) = problem.point(&xn, &ln, at.it) {
            // Armijo, relaxed by 10·ε·|L_η| as IPOPT does: near the solution the merit's
            // decrease (∝ KKT²) falls below its rounding and the exact test rejects every
            // step (seen on HS77 at KKT 8e-9). ε is the problem's accuracy: f64 rounding,
            // or e.g. f32 sums for a GPU-resident problem.
            let relax = 10.0 * problem.relative_accuracy() * m0.abs().max(1.0);
            if merit(&t, &ln, pen.eta1, pen.eta2) <= m0 + opts.beta * alpha * slope + relax {
                return Ok((alpha, xn, ln, t));
            }
        }
        alpha *= 0.5;
    }
    Err(SolveError::Invalid(format!(
        "{}: line search failed at iteration {} (KKT {:e}, slope {slope:e})",
        problem.name(),
        at.it,
        at.kkt
    )))
}
