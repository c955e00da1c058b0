//! Sinkhorn–Newton–Sparse on the GPU (Tang et al., ICLR 2024; spec A7): a log-domain Sinkhorn
//! warm-up, then Newton steps on the dual potentials with a sparsified Hessian held as CSR and
//! CSC on the GPU, solved by Jacobi-preconditioned conjugate gradient on the GPU, and the
//! safeguarded line search. Kernels: `shaders/ot/sns_*.wgsl`. Reference twin:
//! `wgopt_reference::ot::sns` with [`Sparsify::Binned`](wgopt_reference::ot::Sparsify), which
//! is the rule the GPU runs.
//!
//! The Newton system is `(M + σI) Δ = ε∇D` with `M = [[diag(r), S], [Sᵀ, diag(c)]]`, r = P1 and
//! c = Pᵀ1 exact and S the kept entries of P; σ = ‖∇D‖₁^1.5·mean(r; c) vanishes at the solution.
//! Whatever is dropped, M stays diagonally dominant, so CG always sees a positive definite
//! system. The sparsification is the safe rule in binned form: per row, whole log-mass bins
//! (width ½ nat, relative to the row sum) are dropped from the smallest up while the dropped mass
//! stays ≤ ν·‖∇D‖₁·rᵢ, with at most `cap` entries kept per row so the CSR arrays have a fixed size.
//! Binning avoids a per-row sort on the GPU and keeps at most e^½ times the entries the exact
//! rule would.
//!
//! Host syncs: one small read (32 scalars) per CG chunk (`cg_check_every` iterations) and per
//! line-search trial; nothing else leaves the GPU until the potentials are read at the end.
//!
//! Layout: [`plan`] ([`SnsPlan`]: buffers, pipelines and dispatches, built once), [`solve`]
//! ([`sinkhorn_newton_sparse`]: the warm-up, the Newton loop and the line search).

pub mod kernels;
pub mod plan;
pub mod solve;

pub use kernels::SnsParams;
pub use plan::{SnsPattern, SnsPlan};
pub use solve::sinkhorn_newton_sparse;

/// Solver options. Defaults: 20 Sinkhorn iterations, at most 50 Newton steps, L1 marginal
/// tolerance 1e-5 (f32 potentials floor the error near 1e-6), ν = 0.01, at most 128 kept
/// entries per row, CG to a relative residual of 1e-5 in at most 500 iterations, checked every
/// 20.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnsOptions {
    pub sinkhorn_iterations: usize,
    pub newton_iterations: usize,
    pub tol: f64,
    /// The safe rule's budget: dropped mass ≤ ν·‖∇D‖₁·rᵢ per row.
    pub nu: f64,
    /// Kept entries per row at most (the CSR and CSC arrays hold n·cap entries each).
    pub cap: usize,
    pub cg_tol: f64,
    pub cg_max: usize,
    pub cg_check_every: usize,
}

impl Default for SnsOptions {
    fn default() -> Self {
        SnsOptions {
            sinkhorn_iterations: 20,
            newton_iterations: 50,
            tol: 1e-5,
            nu: 0.01,
            cap: 128,
            cg_tol: 1e-5,
            cg_max: 500,
            cg_check_every: 20,
        }
    }
}

/// What the solver did. Errors and times have one entry after the warm-up and one per Newton
/// step.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsResult {
    pub f: Vec<f32>,
    pub g: Vec<f32>,
    pub sinkhorn_iterations: usize,
    pub newton_iterations: usize,
    pub cg_iterations: Vec<usize>,
    /// Kept entries of P per row (mean) at each Newton step.
    pub kept_per_row: Vec<f64>,
    /// Step length accepted by each Newton step's line search (0 when none was).
    pub step_lengths: Vec<f64>,
    pub errors: Vec<f32>,
    pub seconds: Vec<f64>,
    pub converged: bool,
    pub marginal_error: f32,
    /// ⟨P, C⟩.
    pub cost_linear: f32,
    /// ⟨P, C⟩ + ε KL(P ‖ a⊗b).
    pub cost_kl: f32,
}
