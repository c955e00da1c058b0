//! Entropic optimal transport on the GPU: batched log-domain Sinkhorn
//! (`shaders/ot/sinkhorn_update.wgsl`, `sinkhorn_columns.wgsl`, `sinkhorn_summary.wgsl`), with
//! dense costs or costs evaluated from point clouds inside the kernels (O(n + m) memory),
//! optional ε-scaling, and the L1 marginal error computed on the GPU and read every
//! `check_every` iterations (the only host syncs). Reference twin:
//! `wgopt_reference::ot::sinkhorn` (f64).
//!
//! Named as a POT user expects: weights `a`, `b`, a cost, `eps` (POT's `reg`); the result has
//! the potentials `f`, `g` with `P_ij = exp((f_i + g_j − C_ij)/ε)` (POT `sinkhorn_log` / OTT),
//! `⟨P, C⟩` (POT `sinkhorn2`), the entropic objective (POT's) and the KL one (OTT
//! `reg_ot_cost`, GeomLoss), iterations and the error history.
//!
//! Layout: [`problem`] (inputs, validation and the GPU layout), [`kernels`] (the Sinkhorn
//! kernels), [`plan`] ([`SinkhornPlan`]: buffers and dispatches, the plan on request), [`solve`]
//! ([`sinkhorn`], the divergence), and [`sns`] (Sinkhorn–Newton–Sparse for small ε).

pub mod kernels;
pub mod plan;
pub mod problem;
pub mod sns;
pub mod solve;

pub use plan::SinkhornPlan;
pub(crate) use problem::{bad_option, pack, Packed};
pub use problem::{CostInput, OtProblem, OtProblemGpu};
pub use solve::{sinkhorn, sinkhorn_divergence, EpsScaling, SinkhornOptions, SinkhornResult};
