//! The SNS driver: the Sinkhorn warm-up, then Newton steps (system, CG in chunks, line search)
//! on an [`SnsPlan`], reading 32 scalars per CG chunk and per trial.

use std::time::Instant;

use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::recorder::Dispatch;
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
    let mut err = warm_up(&plan, sinkhorn_iterations)?;
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
    if !err.is_finite() {
        return Err(non_finite(eps, "marginal error after the warm-up", err));
    }
    while out.newton_iterations < opts.newton_iterations && (err as f64) > opts.tol {
        let s = newton_system(&plan, opts.cg_check_every)?;
        out.cg_iterations.push(s[slot::ITS] as usize);
        out.kept_per_row.push(s[slot::NNZ] as f64 / plan.n as f64);
        let accepted = line_search(&mut plan, &mut err, s[slot::DUAL] as f64)?;
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
    submit(&plan, &plan.objective)?;
    let summary = read_range(&plan.engine, &plan.bufs.summary, 0, 20)?;
    out.cost_linear = summary[2];
    out.cost_kl = summary[4];
    (out.f, out.g) = plan.read_potentials()?;
    Ok(out)
}

fn non_finite(eps: f64, what: &str, v: f32) -> Error {
    Error::Device(format!(
        "SNS: the {what} became {v} (eps {eps} too small for f32 potentials?)"
    ))
}

/// Records `dispatches` and submits them.
fn submit(plan: &SnsPlan, dispatches: &[Dispatch]) -> Result<()> {
    let mut rec = StepRecorder::new();
    for d in dispatches {
        rec.push(d.clone());
    }
    rec.submit(&plan.engine)?;
    Ok(())
}

/// The Sinkhorn warm-up and the first evaluation; the marginal error.
fn warm_up(plan: &SnsPlan, iterations: usize) -> Result<f32> {
    let mut rec = StepRecorder::new();
    plan.record_sinkhorn(&mut rec, iterations);
    plan.record_evaluate(&mut rec);
    rec.submit(&plan.engine)?;
    Ok(plan.read_scalars()?[slot::ERR])
}

/// The Newton system and CG, in chunks of `chunk` iterations until CG reports done; the
/// scalars after.
fn newton_system(plan: &SnsPlan, chunk: usize) -> Result<Vec<f32>> {
    let mut rec = StepRecorder::new();
    plan.record_newton_system(&mut rec);
    plan.record_cg(&mut rec, chunk);
    rec.submit(&plan.engine)?;
    let mut s = plan.read_scalars()?;
    while s[slot::DONE] == 0.0 {
        let mut rec = StepRecorder::new();
        plan.record_cg(&mut rec, chunk);
        rec.submit(&plan.engine)?;
        s = plan.read_scalars()?;
    }
    Ok(s)
}

/// Line search from α = 1, halving: accepts the first trial that lowers the marginal error
/// `err` or, failing that, satisfies Armijo on the (smooth, concave) dual, whose value at the
/// current potentials is `d0`. The accepted α (0: none).
fn line_search(plan: &mut SnsPlan, err: &mut f32, d0: f64) -> Result<f64> {
    let eps32 = plan.eps as f64;
    let mut alpha = 1.0;
    while alpha > 1e-6 {
        plan.set_alpha(alpha);
        submit(plan, &plan.trial)?;
        let s = plan.read_scalars()?;
        let (err2, dual2) = (
            s[slot::TRIAL + slot::ERR],
            s[slot::TRIAL + slot::DUAL] as f64,
        );
        let slope = s[slot::SLOPE] as f64 / eps32;
        if err2 < *err || dual2 > d0 + 1e-4 * alpha * slope {
            submit(plan, std::slice::from_ref(&plan.accept))?;
            *err = err2;
            return Ok(alpha);
        }
        alpha *= 0.5;
    }
    Ok(0.0)
}
