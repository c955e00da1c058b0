//! The solve loop: ε-scaling stages, sweeps recorded `check_every` at a time, per-problem
//! retirement, the error history; and the debiased Sinkhorn divergence.

use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

use super::plan::SinkhornPlan;
use super::problem::{bad_option, CostInput, OtProblem};
use wgopt_reference::ot::sinkhorn::scaling_stages;

/// ε-scaling: stages at `eps0·decayᵏ` (each `check_every` sweeps, warm-started) down to ε.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsScaling {
    pub eps0: f64,
    pub decay: f64,
}

/// Solver options (defaults: L1 marginal tolerance 1e-6, the f32 floor; 1000 iterations;
/// checked every 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    pub eps: f64,
    pub tol: f64,
    pub max_iter: usize,
    pub check_every: usize,
    pub eps_scaling: Option<EpsScaling>,
}

impl SinkhornOptions {
    pub fn new(eps: f64) -> Self {
        SinkhornOptions {
            eps,
            tol: 1e-6,
            max_iter: 1000,
            check_every: 10,
            eps_scaling: None,
        }
    }
}

/// One problem's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornResult {
    pub f: Vec<f32>,
    pub g: Vec<f32>,
    /// Iterations (a g and an f update each) at the target ε.
    pub iterations: usize,
    pub converged: bool,
    /// Stopped before `max_iter` because the marginal error stopped improving above `tol`
    /// (no 1% gain over [`STALL_CHECKS`] checks): f32 rounding bounds it near there.
    pub stalled: bool,
    /// L1 marginal error ‖Pᵀ1 − b‖₁ at each check (rows are exact after the f-update).
    pub errors: Vec<f32>,
    pub marginal_error: f32,
    /// ⟨P, C⟩.
    pub cost_linear: f32,
    /// ⟨P, C⟩ + ε Σ P log P.
    pub cost_entropic: f32,
    /// ⟨P, C⟩ + ε KL(P ‖ a⊗b).
    pub cost_kl: f32,
}

/// Checks without a 1% improvement of the best marginal error after which a problem stops as
/// stalled instead of running to `max_iter` (the f32 floor of the L1 error at small ε sits
/// near 1e-6, so a tighter `tol` would otherwise spin).
pub const STALL_CHECKS: usize = 20;

/// True when the last [`STALL_CHECKS`] errors brought no 1% gain over the best before them.
pub fn stalled(errors: &[f32]) -> bool {
    if errors.len() <= STALL_CHECKS {
        return false;
    }
    let (before, window) = errors.split_at(errors.len() - STALL_CHECKS);
    let best_before = before.iter().copied().fold(f32::INFINITY, f32::min);
    let best_now = window.iter().copied().fold(f32::INFINITY, f32::min);
    best_now > 0.99 * best_before
}

/// Solves every problem of the batch (all with the same kind of cost); reads back at each check.
pub fn sinkhorn(
    engine: &Engine,
    problems: &[OtProblem],
    opts: &SinkhornOptions,
) -> Result<Vec<SinkhornResult>> {
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    if opts.check_every == 0 || opts.max_iter == 0 {
        return Err(bad_option("check_every and max_iter must be >= 1".into()));
    }
    let eps = opts.eps;
    let stages = match opts.eps_scaling {
        Some(s) => scaling_stages(s.eps0, s.decay, eps)?,
        None => Vec::new(),
    };
    let mut plan = SinkhornPlan::new(engine, problems, eps)?;
    // ε-scaling stages, warm-starting each from the last.
    for e in stages {
        plan.set_eps(e);
        let mut rec = StepRecorder::new();
        plan.record_sweeps(&mut rec, opts.check_every);
        rec.submit(engine)?;
    }
    plan.set_eps(eps);
    let mut out: Vec<SinkhornResult> = problems
        .iter()
        .map(|_| SinkhornResult {
            f: Vec::new(),
            g: Vec::new(),
            iterations: 0,
            converged: false,
            stalled: false,
            errors: Vec::new(),
            marginal_error: f32::INFINITY,
            cost_linear: 0.0,
            cost_entropic: 0.0,
            cost_kl: 0.0,
        })
        .collect();
    let mut it = 0usize;
    while it < opts.max_iter && (0..problems.len()).any(|k| plan.live(k)) {
        let steps = opts.check_every.min(opts.max_iter - it);
        let mut rec = StepRecorder::new();
        plan.record_sweeps(&mut rec, steps);
        plan.record_check(&mut rec);
        rec.submit(engine)?;
        it += steps;
        let summary = plan.read_summary()?;
        let mut changed = false;
        for (k, row) in summary.iter().enumerate() {
            if !plan.live(k) {
                continue;
            }
            let r = &mut out[k];
            r.errors.push(row[0]);
            r.marginal_error = row[0];
            r.cost_linear = row[2];
            r.cost_entropic = row[3];
            r.cost_kl = row[4];
            r.iterations = it;
            if !row[0].is_finite() {
                return Err(Error::Device(format!(
                    "problem {k}: the marginal error became {} (eps {eps} too small for f32?)",
                    row[0]
                )));
            }
            if (row[0] as f64) <= opts.tol {
                r.converged = true;
                plan.retire(k);
                changed = true;
            } else if stalled(&r.errors) {
                r.stalled = true;
                plan.retire(k);
                changed = true;
            }
        }
        if changed {
            plan.write_problems();
        }
    }
    for (r, (f, g)) in out.iter_mut().zip(plan.read_potentials()?) {
        r.f = f;
        r.g = g;
    }
    Ok(out)
}

/// The debiased Sinkhorn divergence in the KL convention (GeomLoss, OTT):
/// `S_ε(α, β) = OT_ε(α, β) − ½OT_ε(α, α) − ½OT_ε(β, β)`, between point clouds `x` (n×d,
/// weights `a`) and `y` (m×d, weights `b`) with `‖x − y‖²`. The three problems run as one batch.
/// Returns `(S, [the three results])`.
pub fn sinkhorn_divergence(
    engine: &Engine,
    (a, x): (&[f32], &[f32]),
    (b, y): (&[f32], &[f32]),
    d: usize,
    opts: &SinkhornOptions,
) -> Result<(f32, Vec<SinkhornResult>)> {
    let problems = [
        OtProblem {
            a,
            b,
            cost: CostInput::SqEuclidean { x, y, d },
        },
        OtProblem {
            a,
            b: a,
            cost: CostInput::SqEuclidean { x, y: x, d },
        },
        OtProblem {
            a: b,
            b,
            cost: CostInput::SqEuclidean { x: y, y, d },
        },
    ];
    let r = sinkhorn(engine, &problems, opts)?;
    let s = r[0].cost_kl - 0.5 * (r[1].cost_kl + r[2].cost_kl);
    Ok((s, r))
}
