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

use crate::random::{self, Distribution, StreamId};
use crate::sketch::dense::{dot, lu_solve, norm, sym_eigenvalues, to_faer};
use crate::sketch::SolveError;
use ndarray::{s, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::krylov::minres;
use super::problem::Problem;

/// Philox stream of the KKT sketches.
pub const KKT_STREAM: u32 = 0x5E7C_0010;

/// How the Newton system is solved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KktMethod {
    /// The paper's GV sketch: s ~ N(0, I), z ← z − (sᵀr)/(‖Kᵀs‖²)·Kᵀs.
    GaussianVector,
    /// The paper's RK sketch: uniform row i, z ← z − r_i/‖K_i‖²·K_iᵀ.
    Kaczmarz,
    /// MINRES on K (Krylov, symmetric indefinite): not the paper's, but the solver of choice
    /// for large matrix-free problems, where a Gaussian-vector step costs two K products and
    /// removes only ~σ_min(K)²/‖K‖_F² of the error.
    Minres,
    /// Dense LU (the comparison the examples print; accuracy test trivially met).
    Direct,
}

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

/// The Newton system's matrix `K = [[B, Gᵀ], [G, 0]]` ((d + m) × (d + m), symmetric) as a
/// KKT solver sees it: products always, entries when the problem is dense.
pub trait KktOperator {
    fn dim(&self) -> usize;
    /// `out = K·v`.
    fn apply(&self, v: &[f64], out: &mut [f64]) -> Result<(), SolveError>;
    /// K's entries (row-major), for the solvers that need rows or a factorisation.
    fn dense(&self) -> Option<ArrayView2<'_, f64>> {
        None
    }
}

impl KktOperator for Array2<f64> {
    fn dim(&self) -> usize {
        self.nrows()
    }

    fn apply(&self, v: &[f64], out: &mut [f64]) -> Result<(), SolveError> {
        if v.len() != self.ncols() || out.len() != self.nrows() {
            return Err(SolveError::Dimension(format!(
                "K is {:?}; got vectors of {} and {}",
                self.dim(),
                v.len(),
                out.len()
            )));
        }
        for (o, row) in out.iter_mut().zip(self.rows()) {
            *o = row.iter().zip(v).map(|(a, b)| a * b).sum();
        }
        Ok(())
    }

    fn dense(&self) -> Option<ArrayView2<'_, f64>> {
        Some(self.view())
    }
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

/// Runs sketch steps from `z` until ‖r‖ ≤ target or `cap` steps; returns (steps, capped).
/// The residual r = Kz − b is updated incrementally (RK: r −= t·(K²)_{:,i}; GV:
/// r −= t·K(Ks)) and recomputed exactly every 1024 steps against drift.
#[allow(clippy::too_many_arguments)]
fn sketch_steps(
    method: KktMethod,
    k: &dyn KktOperator,
    b: &[f64],
    z: &mut [f64],
    target: f64,
    cap: usize,
    seed: u64,
    outer: usize,
    counter: &mut usize,
) -> Result<(usize, bool), SolveError> {
    let n = b.len();
    let needs_entries = |what: &str| {
        SolveError::Invalid(format!(
            "{what} needs K's entries, and this problem gives only products (use the \
             Gaussian-vector sketch or MINRES)"
        ))
    };
    let exact = |z: &[f64], r: &mut [f64]| -> Result<(), SolveError> {
        k.apply(z, r)?;
        r.iter_mut().zip(b).for_each(|(ri, bi)| *ri -= bi);
        Ok(())
    };
    match method {
        KktMethod::Direct => {
            let kd = k.dense().ok_or_else(|| needs_entries("a direct solve"))?;
            let sol = lu_solve(kd, b)?;
            z.copy_from_slice(&sol);
            return Ok((1, false));
        }
        KktMethod::Minres => return minres_steps(k, b, z, target, cap),
        _ => {}
    }
    // RK's incremental residual needs the columns of K² = KKᵀ.
    let k2 = match method {
        KktMethod::Kaczmarz => {
            let km = k
                .dense()
                .ok_or_else(|| needs_entries("randomised Kaczmarz"))?;
            Some(Array2::from_shape_fn((n, n), |(i, j)| {
                (0..n).map(|l| km[[i, l]] * km[[l, j]]).sum::<f64>()
            }))
        }
        _ => None,
    };
    let mut r = vec![0.0; n];
    exact(z, &mut r)?;
    let (mut s, mut sv, mut ks, mut kks) =
        (vec![0.0f32; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut steps = 0;
    while dot(&r, &r).sqrt() > target {
        if steps == cap {
            return Ok((steps, true));
        }
        let t = *counter;
        *counter += 1;
        steps += 1;
        match (&k2, k.dense()) {
            (Some(k2), Some(km)) => {
                let w = random::philox4x32_10(
                    [t as u32, outer as u32, 0, KKT_STREAM],
                    random::key(seed),
                );
                let i = w[0] as usize % n;
                let row_norm = k2[[i, i]];
                if row_norm > 0.0 {
                    let step = r[i] / row_norm;
                    for j in 0..n {
                        z[j] -= step * km[[i, j]];
                        r[j] -= step * k2[[j, i]];
                    }
                }
            }
            _ => {
                random::fill(
                    Distribution::Gaussian,
                    StreamId {
                        seed,
                        slot: outer as u32,
                        draw: t as u32,
                        stream: KKT_STREAM,
                    },
                    &mut s,
                );
                for (a, &v) in sv.iter_mut().zip(&s) {
                    *a = v as f64;
                }
                // Kᵀs = K s (K is symmetric).
                k.apply(&sv, &mut ks)?;
                let denom = dot(&ks, &ks);
                if denom > 0.0 {
                    let step = dot(&sv, &r) / denom;
                    k.apply(&ks, &mut kks)?;
                    for i in 0..n {
                        z[i] -= step * ks[i];
                        r[i] -= step * kks[i];
                    }
                }
            }
        }
        if steps % 1024 == 0 {
            exact(z, &mut r)?;
            if !r.iter().all(|v| v.is_finite()) {
                return Err(SolveError::NonFinite("the sketch iterate".into()));
            }
        }
    }
    exact(z, &mut r)?;
    Ok((steps, false))
}

/// MINRES on the correction `K δ = b − K z`, restarted from the exact residual until it meets
/// `target` or `cap` products (the recurrence's residual estimate drifts from the truth in
/// floating point, so each restart re-anchors it), or until a restart stalls.
fn minres_steps(
    k: &dyn KktOperator,
    b: &[f64],
    z: &mut [f64],
    target: f64,
    cap: usize,
) -> Result<(usize, bool), SolveError> {
    let n = b.len();
    let mut kz = vec![0.0; n];
    let mut steps = 0;
    let mut last = f64::INFINITY;
    loop {
        k.apply(z, &mut kz)?;
        let r: Vec<f64> = b.iter().zip(&kz).map(|(p, q)| p - q).collect();
        if !r.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFinite("the MINRES iterate".into()));
        }
        let rn = norm(&r);
        if rn <= target {
            return Ok((steps, false));
        }
        // A restart that gains less than half a digit means the target is below what
        // rounding in K's products allows: stop as if capped, as the sketches do at the cap.
        if steps >= cap || rn > 0.3 * last {
            return Ok((steps, true));
        }
        last = rn;
        let mut op = |v: &[f64]| {
            let mut out = vec![0.0; n];
            k.apply(v, &mut out).map(|()| out)
        };
        // Aim a little below the target so rounding in the estimate does not force a restart.
        let (dz, taken, _) = minres(&mut op, &r, 0.5 * target, cap - steps)?;
        z.iter_mut().zip(&dz).for_each(|(zi, di)| *zi += di);
        steps += taken.max(1);
    }
}

/// Solves the Newton system `K z = b` (K symmetric, (d + m) × (d + m)) to the adaptive
/// accuracy the method asks for. The built-in [`KktMethod`]s implement it, and a caller can
/// supply another, e.g. on the GPU (`wgopt_solvers::kkt::GpuKkt`), through [`solve_with`].
pub trait KktSolver {
    /// Improves `z` in place (a warm start: the method continues from the same z after a
    /// failed descent test) until ‖K z − b‖ ≤ `target` or `cap` steps. Returns (steps taken,
    /// whether the cap stopped it). `outer` is the Newton iteration, for seeding.
    fn solve(
        &mut self,
        k: &dyn KktOperator,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError>;
}

/// The built-in solvers: the paper's sketches on the host in f64, MINRES, or dense LU.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinKkt {
    pub method: KktMethod,
    pub seed: u64,
    /// Sketch draws so far (each outer iteration continues the stream).
    pub counter: usize,
}

impl KktSolver for BuiltinKkt {
    fn solve(
        &mut self,
        k: &dyn KktOperator,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError> {
        sketch_steps(
            self.method,
            k,
            b,
            z,
            target,
            cap,
            self.seed,
            outer,
            &mut self.counter,
        )
    }
}

/// Solves `problem` from its starting point with the KKT solver `opts.method`.
pub fn solve<P: Problem + ?Sized>(problem: &P, opts: &Options) -> Result<Report, SolveError> {
    let mut kkt = BuiltinKkt {
        method: opts.method,
        seed: opts.seed,
        counter: 0,
    };
    solve_with(problem, opts, &mut kkt)
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
    let (d, m) = problem.dims();
    let (mut x, mut lambda) = problem.start();
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
    let (mut eta1, mut eta2, mut delta) = (opts.eta1, opts.eta2, opts.delta);
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
        let n = d + m;
        let rhs: Vec<f64> = pt.grad_l.iter().chain(&pt.c).map(|v| -v).collect();
        let bnorm = norm(&rhs);
        let psi = 20.0 * model.fro_b.powi(2).max(1.0) / (model.xi_g.min(1.0) * opts.xi_b.min(1.0));
        let upsilon = model.fro_g.max(model.fro_h).max(1.0);
        let delta_trial = |e1: f64, e2: f64| {
            (0.5 - opts.beta) * e2 / ((1.0 + e1 + e2) * upsilon * upsilon * psi * psi)
        };
        delta = delta.min(delta_trial(eta1, eta2)).max(1e-6);
        let mut z = vec![0.0; n];
        let mut inner = 0;
        let mut capped = false;
        let (gx, gl) = loop {
            let target = opts.theta * delta * bnorm / (model.fro_k * psi);
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
                .map(|i| pt.grad_l[i] + eta1 * model.gc[i] + eta2 * model.hgl[i])
                .collect();
            let gl: Vec<f64> = (0..m).map(|i| pt.c[i] + eta2 * model.ggl[i]).collect();
            let slope = dot(&gx, &z[..d]) + dot(&gl, &z[d..]);
            if eta1 > 1e8 || eta2 < 1e-8 || slope <= -0.5 * eta2 * bnorm * bnorm {
                break (gx, gl);
            }
            eta1 *= opts.nu * opts.nu;
            eta2 /= opts.nu;
            delta = (delta / opts.nu.powi(4))
                .min(delta_trial(eta1, eta2))
                .max(1e-6);
        };
        inner_total += inner;
        let slope = dot(&gx, &z[..d]) + dot(&gl, &z[d..]);
        let m0 = merit(&pt, &lambda, eta1, eta2);
        let mut alpha = 1.0;
        let mut halvings = 0;
        let (xn, ln, ptn) = loop {
            let xn: Vec<f64> = x
                .iter()
                .zip(&z[..d])
                .map(|(a, dz)| a + alpha * dz)
                .collect();
            let ln: Vec<f64> = lambda
                .iter()
                .zip(&z[d..])
                .map(|(a, dz)| a + alpha * dz)
                .collect();
            evals += 1;
            let trial = problem.point(&xn, &ln, it);
            if let Ok(t) = trial {
                // Armijo, relaxed by 10·ε·|L_η| as IPOPT does: near the solution the merit's
                // decrease (∝ KKT²) falls below its rounding and the exact test rejects every
                // step (seen on HS77 at KKT 8e-9). ε is the problem's accuracy: f64 rounding,
                // or e.g. f32 sums for a GPU-resident problem.
                let relax = 10.0 * problem.relative_accuracy() * m0.abs().max(1.0);
                if merit(&t, &ln, eta1, eta2) <= m0 + opts.beta * alpha * slope + relax {
                    break (xn, ln, t);
                }
            }
            halvings += 1;
            if halvings > opts.max_halvings {
                return Err(SolveError::Invalid(format!(
                    "{}: line search failed at iteration {it} (KKT {kkt:e}, slope {slope:e})",
                    problem.name()
                )));
            }
            alpha *= 0.5;
        };
        log.push(IterationLog {
            kkt,
            inner_steps: inner,
            eta1,
            eta2,
            delta,
            alpha,
            inner_capped: capped,
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
