//! The SNS driver: the Sinkhorn warm-up, then Newton steps (system, CG in chunks, line search)
//! on an [`SnsPlan`], reading 32 scalars per CG chunk and per trial.

use std::time::Instant;

use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

use super::plan::{slot, SnsPlan};
use super::{SnsOptions, SnsResult};
use crate::ot::OtProblem;

/// Sinkhorn–Newton–Sparse for one problem (dense cost or point clouds) from zero potentials.
pub fn sinkhorn_newton_sparse(
    engine: &Engine,
    problem: &OtProblem,
    eps: f64,
    opts: &SnsOptions,
) -> Result<SnsResult> {
    let start = Instant::now();
    let mut plan = SnsPlan::new(engine, problem, eps, opts)?;
    let sinkhorn_iterations = opts.sinkhorn_iterations.max(1);
    let mut rec = StepRecorder::new();
    plan.record_sinkhorn(&mut rec, sinkhorn_iterations);
    plan.record_evaluate(&mut rec);
    rec.submit(engine)?;
    let s = plan.read_scalars()?;
    let mut err = s[slot::ERR];
    let mut out = SnsResult {
        f: Vec::new(),
        g: Vec::new(),
        sinkhorn_iterations,
        newton_iterations: 0,
        cg_iterations: Vec::new(),
        kept_per_row: Vec::new(),
        step_lengths: Vec::new(),
        errors: vec![err],
        seconds: vec![start.elapsed().as_secs_f64()],
        converged: false,
        marginal_error: err,
        cost_linear: 0.0,
        cost_kl: 0.0,
    };
    let non_finite = |what: &str, v: f32| {
        Error::Device(format!(
            "SNS: the {what} became {v} (eps {eps} too small for f32 potentials?)"
        ))
    };
    if !err.is_finite() {
        return Err(non_finite("marginal error after the warm-up", err));
    }
    let eps32 = plan.eps as f64;
    while out.newton_iterations < opts.newton_iterations && (err as f64) > opts.tol {
        // The Newton system and CG, in chunks until CG reports done.
        let mut rec = StepRecorder::new();
        plan.record_newton_system(&mut rec);
        let chunk = opts.cg_check_every;
        plan.record_cg(&mut rec, chunk);
        rec.submit(engine)?;
        let mut s = plan.read_scalars()?;
        while s[slot::DONE] == 0.0 {
            let mut rec = StepRecorder::new();
            plan.record_cg(&mut rec, chunk);
            rec.submit(engine)?;
            s = plan.read_scalars()?;
        }
        out.cg_iterations.push(s[slot::ITS] as usize);
        out.kept_per_row.push(s[slot::NNZ] as f64 / plan.n as f64);
        let d0 = s[slot::DUAL] as f64;
        // Line search from α = 1, halving: accept the first trial that lowers the marginal
        // error or, failing that, satisfies Armijo on the (smooth, concave) dual.
        let mut alpha = 1.0;
        let mut accepted = 0.0;
        while alpha > 1e-6 {
            plan.set_alpha(alpha);
            let mut rec = StepRecorder::new();
            for d in &plan.trial {
                rec.push(d.clone());
            }
            rec.submit(engine)?;
            let s = plan.read_scalars()?;
            let (err2, dual2) = (
                s[slot::TRIAL + slot::ERR],
                s[slot::TRIAL + slot::DUAL] as f64,
            );
            let slope = s[slot::SLOPE] as f64 / eps32;
            if err2 < err || dual2 > d0 + 1e-4 * alpha * slope {
                let mut rec = StepRecorder::new();
                rec.push(plan.accept.clone());
                rec.submit(engine)?;
                err = err2;
                accepted = alpha;
                break;
            }
            alpha *= 0.5;
        }
        out.newton_iterations += 1;
        out.step_lengths.push(accepted);
        out.errors.push(err);
        out.seconds.push(start.elapsed().as_secs_f64());
        if accepted == 0.0 {
            break;
        }
    }
    out.converged = (err as f64) <= opts.tol;
    out.marginal_error = err;
    let mut rec = StepRecorder::new();
    for d in &plan.objective {
        rec.push(d.clone());
    }
    rec.submit(engine)?;
    let summary = read_range(&plan.engine, &plan.bufs.summary, 0, 20)?;
    out.cost_linear = summary[2];
    out.cost_kl = summary[4];
    (out.f, out.g) = plan.read_potentials()?;
    Ok(out)
}
