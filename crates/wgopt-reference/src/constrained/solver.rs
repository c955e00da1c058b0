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
//! ∇_x L_η uses the exact ∇²_x L; `code_merit_gradient` switches to the authors' ∇²f (the two
//! agree for linear constraints). The residual starts at r₀ = −b (the code's r₀ = b is a sign
//! slip its first recomputation hides).

use crate::random::{self, Distribution, StreamId};
use crate::sketch::dense::{dot, lu_solve, norm, sym_eigenvalues, to_faer};
use crate::sketch::SolveError;
use ndarray::{s, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

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

struct Point {
    f: f64,
    grad_l: Vec<f64>,
    c: Vec<f64>,
}

fn finite(what: &str, it: usize, v: &[f64]) -> Result<(), SolveError> {
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

/// f, ∇_x L and c at (x, λ).
fn point<P: Problem + ?Sized>(
    p: &P,
    x: &[f64],
    lambda: &[f64],
    it: usize,
    evals: &mut usize,
) -> Result<Point, SolveError> {
    *evals += 1;
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

/// Runs sketch steps from `z` until ‖r‖ ≤ target or `cap` steps; returns (steps, capped).
/// The residual r = Kz − b is updated incrementally (RK: r −= t·(K²)_{:,i}; GV:
/// r −= t·K(Ks)) and recomputed exactly every 1024 steps against drift.
#[allow(clippy::too_many_arguments)]
fn sketch_steps(
    method: KktMethod,
    k: ArrayView2<'_, f64>,
    b: &[f64],
    z: &mut [f64],
    target: f64,
    cap: usize,
    seed: u64,
    outer: usize,
    counter: &mut usize,
) -> Result<(usize, bool), SolveError> {
    let n = b.len();
    if method == KktMethod::Direct {
        let sol = lu_solve(k, b)?;
        z.copy_from_slice(&sol);
        return Ok((1, false));
    }
    let km: Vec<f64> = k.iter().copied().collect(); // row-major n×n, symmetric
    let mut k2 = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            k2[i * n + j] = (0..n).map(|l| km[i * n + l] * km[l * n + j]).sum();
        }
    }
    let exact = |z: &[f64], r: &mut [f64]| {
        for i in 0..n {
            r[i] = dot(&km[i * n..(i + 1) * n], z) - b[i];
        }
    };
    let mut r = vec![0.0; n];
    exact(z, &mut r);
    let row_norms: Vec<f64> = (0..n).map(|i| k2[i * n + i]).collect();
    let (mut s, mut sv, mut ks) = (vec![0.0f32; n], vec![0.0; n], vec![0.0; n]);
    let mut steps = 0;
    while dot(&r, &r).sqrt() > target {
        if steps == cap {
            return Ok((steps, true));
        }
        let t = *counter;
        *counter += 1;
        steps += 1;
        match method {
            KktMethod::GaussianVector => {
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
                for i in 0..n {
                    ks[i] = dot(&km[i * n..(i + 1) * n], &sv);
                }
                let denom = dot(&ks, &ks);
                if denom > 0.0 {
                    let step = dot(&sv, &r) / denom;
                    for i in 0..n {
                        z[i] -= step * ks[i];
                    }
                    for i in 0..n {
                        r[i] -= step * dot(&km[i * n..(i + 1) * n], &ks);
                    }
                }
            }
            KktMethod::Kaczmarz => {
                let w = random::philox4x32_10(
                    [t as u32, outer as u32, 0, KKT_STREAM],
                    random::key(seed),
                );
                let i = w[0] as usize % n;
                if row_norms[i] > 0.0 {
                    let step = r[i] / row_norms[i];
                    for j in 0..n {
                        z[j] -= step * km[i * n + j];
                        r[j] -= step * k2[j * n + i];
                    }
                }
            }
            KktMethod::Direct => unreachable!("handled above"),
        }
        if steps % 1024 == 0 {
            exact(z, &mut r);
            if !r.iter().all(|v| v.is_finite()) {
                return Err(SolveError::NonFinite("the sketch iterate".into()));
            }
        }
    }
    exact(z, &mut r);
    Ok((steps, false))
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
        k: ArrayView2<'_, f64>,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError>;
}

/// The built-in solvers: the paper's sketches on the host in f64, or dense LU.
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
        k: ArrayView2<'_, f64>,
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
    let (d, m) = problem.dims();
    let mut x = problem.x0();
    let mut lambda = problem.lambda0();
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
    let mut evals = 0;
    let mut log = Vec::new();
    let mut inner_total = 0;
    let mut pt = point(problem, &x, &lambda, 0, &mut evals)?;
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
        let g = problem.jacobian(&x);
        let h = problem.lagrangian_hessian(&x, &lambda);
        finite("Lagrangian Hessian", it, h.as_slice().unwrap_or(&[]))?;
        let xi_g = if m == 0 {
            1.0
        } else {
            sym_eigenvalues(g.dot(&g.t()).view())?[0]
        };
        if m > 0 && (xi_g.is_nan() || xi_g < opts.licq_threshold) {
            return Err(SolveError::Singular(format!(
                "{}: LICQ fails at iteration {it}: λ_min(GGᵀ) = {xi_g:e} < {:e}",
                problem.name(),
                opts.licq_threshold
            )));
        }
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
        let rhs: Vec<f64> = pt.grad_l.iter().chain(&pt.c).map(|v| -v).collect();
        let bnorm = norm(&rhs);
        let psi = 20.0 * fro(bmat.view()).powi(2).max(1.0) / (xi_g.min(1.0) * opts.xi_b.min(1.0));
        let upsilon = fro(g.view()).max(fro(h.view())).max(1.0);
        let kfro = fro(kmat.view());
        let delta_trial = |e1: f64, e2: f64| {
            (0.5 - opts.beta) * e2 / ((1.0 + e1 + e2) * upsilon * upsilon * psi * psi)
        };
        delta = delta.min(delta_trial(eta1, eta2)).max(1e-6);
        let hm = if opts.code_merit_gradient {
            problem.objective_hessian(&x)
        } else {
            h.clone()
        };
        let mut z = vec![0.0; n];
        let mut inner = 0;
        let mut capped = false;
        let (gx, gl) = loop {
            let target = opts.theta * delta * bnorm / (kfro * psi);
            let (steps, hit_cap) = kkt_solver.solve(
                kmat.view(),
                &rhs,
                &mut z,
                target,
                opts.inner_max.saturating_sub(inner),
                it,
            )?;
            inner += steps;
            capped |= hit_cap;
            // ∇L_η.
            let gc = g.t().dot(&ndarray::Array1::from(pt.c.clone()));
            let hgl = hm.dot(&ndarray::Array1::from(pt.grad_l.clone()));
            let gx: Vec<f64> = (0..d)
                .map(|i| pt.grad_l[i] + eta1 * gc[i] + eta2 * hgl[i])
                .collect();
            let ggl = g.dot(&ndarray::Array1::from(pt.grad_l.clone()));
            let gl: Vec<f64> = (0..m).map(|i| pt.c[i] + eta2 * ggl[i]).collect();
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
            let trial = point(problem, &xn, &ln, it, &mut evals);
            if let Ok(t) = trial {
                // Armijo, relaxed by 10·ε·|L_η| as IPOPT does: near the solution the merit's
                // decrease (∝ KKT²) falls below its rounding and the exact test rejects every
                // step (seen on HS77 at KKT 8e-9).
                let relax = 10.0 * f64::EPSILON * m0.abs().max(1.0);
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
            modified_hessian: modified,
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
