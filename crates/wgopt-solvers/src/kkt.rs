//! The constrained Newton method's KKT solves on the GPU: a [`KktSolver`] for
//! `wgopt_reference::constrained::solve_with` that runs randomised block Kaczmarz
//! ([`BlockSolver`]) on `K z = b` in f32, inside mixed-precision refinement. The residual
//! `b − K z` is recomputed in f64 on the host between rounds, and each round solves for the
//! correction to `round_tol` relative, until the method's adaptive accuracy target is met.
//!
//! One [`BlockSolver`] is built per Newton iteration (K changes every iteration); its block
//! factors are made on the GPU once and reused by every refinement round, which only replaces
//! the right-hand side.

use wgopt_reference::constrained::{KktOperator, KktSolver};
use wgopt_reference::sketch::dense::norm;
use wgopt_reference::sketch::project::IterOptions;
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::{Engine, Error};

use crate::sketch::BlockSolver;

/// GPU block Kaczmarz with f64 refinement for the KKT systems.
#[derive(Debug)]
pub struct GpuKkt {
    engine: Engine,
    /// Rows per Kaczmarz block (1..=32; capped at the system's size).
    pub block: usize,
    pub seed: u64,
    /// Relative residual each f32 round aims for (f32 floors near 1e-6).
    pub round_tol: f64,
    /// Kaczmarz steps between residual checks (each check is a submit, a readback and an
    /// f64 residual on the host, ~50–100 µs; a step of a KKT system of a few hundred rows
    /// costs a few µs). One pass over the blocks, as the plain solver checks, made the checks
    /// the whole cost: 100 µs a step for d + m = 111 on an H100.
    pub check_every: usize,
    /// Refinement rounds so far (all Newton iterations).
    pub rounds: usize,
}

impl GpuKkt {
    pub fn new(engine: &Engine, block: usize, seed: u64) -> GpuKkt {
        GpuKkt {
            engine: engine.clone(),
            block,
            seed,
            round_tol: 1e-4,
            check_every: 256,
            rounds: 0,
        }
    }
}

fn to_solve(e: Error) -> SolveError {
    match e {
        Error::Solve(s) => s,
        other => SolveError::Invalid(format!("GPU KKT solve: {other}")),
    }
}

impl KktSolver for GpuKkt {
    fn solve(
        &mut self,
        k: &dyn KktOperator,
        b: &[f64],
        z: &mut [f64],
        target: f64,
        cap: usize,
        outer: usize,
    ) -> Result<(usize, bool), SolveError> {
        let n = b.len();
        let k = k.dense().ok_or_else(|| {
            SolveError::Invalid(
                "GPU block Kaczmarz needs K's entries; a matrix-free problem takes the \
                 Gaussian-vector sketch or MINRES"
                    .into(),
            )
        })?;
        let kf: Vec<f32> = k.iter().map(|&v| v as f32).collect();
        let residual = |z: &[f64]| -> Vec<f64> {
            (0..n)
                .map(|i| b[i] - k.row(i).iter().zip(z).map(|(p, q)| p * q).sum::<f64>())
                .collect()
        };
        let mut r = residual(z);
        let mut steps = 0;
        let mut solver: Option<BlockSolver> = None;
        while norm(&r) > target {
            if steps >= cap {
                return Ok((steps, true));
            }
            let rf: Vec<f32> = r.iter().map(|&v| v as f32).collect();
            let s = match &mut solver {
                Some(s) => {
                    s.set_b(&rf).map_err(to_solve)?;
                    s
                }
                None => solver.insert(
                    BlockSolver::new(&self.engine, &kf, &rf, n, n, self.block.min(n), false)
                        .map_err(to_solve)?,
                ),
            };
            let opts = IterOptions {
                tol: self.round_tol,
                max_steps: cap - steps,
                check_every: self.check_every.max(1),
                seed: self
                    .seed
                    .wrapping_add((outer as u64) << 20)
                    .wrapping_add(self.rounds as u64),
            };
            self.rounds += 1;
            let (dx, taken): (Vec<f64>, usize) = match s.solve(&opts) {
                Ok(sol) => (sol.x, sol.steps),
                Err(Error::Solve(SolveError::IterationCap { iterations, .. })) => (
                    s.x()
                        .map_err(to_solve)?
                        .into_iter()
                        .map(f64::from)
                        .collect(),
                    iterations,
                ),
                Err(e) => return Err(to_solve(e)),
            };
            for (zi, d) in z.iter_mut().zip(&dx) {
                *zi += d;
            }
            steps += taken.max(1);
            r = residual(z);
            if !r.iter().all(|v| v.is_finite()) {
                return Err(SolveError::NonFinite("the GPU KKT iterate".into()));
            }
        }
        Ok((steps, false))
    }
}
