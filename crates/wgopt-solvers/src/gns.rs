//! Gradient-normalized smoothness Newton with its linear algebra on the GPU: the inner solve
//! `(H + λI) δ = −g` of `wgopt_reference::gns::minimize` by the Nyström-preconditioned CG
//! ([`NystromPcg`], `shaders/sketch/nystrom_*.wgsl` and `shaders/sketch/pcg_*.wgsl`), with H
//! from the problem's Hessian products — on the GPU for `GpuLogistic`
//! (`shaders/constrained/logistic_weights.wgsl` between X·v and Xᵀ·u). Reference twin:
//! [`DenseCholesky`](wgopt_reference::gns::DenseCholesky). The search (γ, λ, the acceptance
//! predicate) is the reference's own code: the faces differ only in the solve.
//!
//! Per iteration: H from the problem — for `GpuLogistic` one submit forms H = Xᵀ·diag(w)·X on
//! the GPU (`shaders/constrained/logistic_scale_rows.wgsl`, then the symmetric Gram kernel) and
//! reads back d² floats; other problems assemble it from d Hessian products (symmetrized) —
//! then one rank-ℓ Nyström factor is built for it, and every trial of the search only moves the shift
//! ([`NystromPcg::set_shift`]): no new buffers or pipelines per trial. The solve refines in
//! f64 against the host copy of H to `tol`, so δ is the f64 step of the f32 H to ~1e-10.

use wgopt_reference::gns::{RegularizedSolve, SmoothProblem};
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::{Engine, Error};

use crate::nystrom::NystromPcg;

/// The GPU inner solve (see the module docs).
#[derive(Debug)]
pub struct NystromSolve {
    engine: Engine,
    /// Nyström rank ℓ (capped at d; 0 is plain CG).
    pub rank: usize,
    pub seed: u64,
    /// Relative residual of each solve, measured in f64 on the host.
    pub tol: f64,
    /// CG iterations between the host's convergence checks.
    pub check_every: usize,
    /// CG iterations over all solves.
    pub iterations: usize,
    h: Vec<f32>,
    d: usize,
    pcg: Option<NystromPcg>,
    products: usize,
}

impl NystromSolve {
    pub fn new(engine: &Engine, rank: usize, seed: u64) -> NystromSolve {
        NystromSolve {
            engine: engine.clone(),
            rank,
            seed,
            tol: 1e-10,
            check_every: 16,
            iterations: 0,
            h: Vec::new(),
            d: 0,
            pcg: None,
            products: 0,
        }
    }
}

fn to_solve(e: Error) -> SolveError {
    match e {
        Error::Solve(s) => s,
        other => SolveError::Invalid(format!("GPU GNS solve: {other}")),
    }
}

impl RegularizedSolve for NystromSolve {
    fn prepare(&mut self, problem: &dyn SmoothProblem, x: &[f64]) -> Result<(), SolveError> {
        let h = problem.hessian(x)?;
        if let Some(v) = h.iter().find(|v| !v.is_finite()) {
            return Err(SolveError::NonFinite(format!("Hessian entry {v}")));
        }
        self.d = problem.dim();
        self.products = problem.hessian_products();
        self.h = h.iter().map(|&v| v as f32).collect();
        // The factor needs a shift; the first trial's λ builds it (see `solve`).
        self.pcg = None;
        Ok(())
    }

    fn solve(&mut self, lambda: f64, g: &[f64]) -> Result<Vec<f64>, SolveError> {
        if self.h.is_empty() {
            return Err(SolveError::Invalid("solve before prepare".into()));
        }
        match self.pcg.as_mut() {
            Some(pcg) => pcg.set_shift(lambda).map_err(to_solve)?,
            None => {
                let rank = self.rank.min(self.d);
                let pcg = NystromPcg::new(&self.engine, &self.h, self.d, lambda, rank, self.seed)
                    .map_err(to_solve)?;
                self.pcg = Some(pcg);
            }
        }
        let pcg = self.pcg.as_mut().expect("built above");
        let b: Vec<f32> = g.iter().map(|&v| -v as f32).collect();
        let max_iter = 50 * self.d.max(1);
        let sol = pcg
            .solve(&b, self.tol, max_iter, self.check_every)
            .map_err(to_solve)?;
        self.iterations += sol.iterations;
        Ok(sol.x64)
    }

    fn products(&self) -> usize {
        self.products
    }
}
