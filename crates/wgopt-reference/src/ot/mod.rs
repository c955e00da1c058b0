//! Entropic optimal transport, the CPU oracle of `shaders/ot/` and `wgopt_solvers::ot`:
//! log-domain Sinkhorn in f64 ([`sinkhorn`]), costs from matrices or point clouds
//! ([`cost`]), the exact assignment solver for uniform weights ([`hungarian`]), and closed
//! forms used as test oracles ([`gaussian`]).
//!
//! Conventions (POT `sinkhorn_log` / OTT): potentials f, g with
//! `P_ij = exp((f_i + g_j − C_ij)/ε)`; the error reported is the L1 marginal violation
//! `‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁` (after a full sweep the row term is 0).

pub mod cost;
pub mod gaussian;
pub mod hungarian;
pub mod sinkhorn;
pub mod sns;

pub use cost::Cost;
pub use sinkhorn::{sinkhorn_log, SinkhornOptions, SinkhornResult};
pub use sns::{
    binned_cut, sinkhorn_newton_sparse, sns_bin, SnsOptions, SnsResult, Sparsify, SNS_BINS,
    SNS_BIN_WIDTH,
};
