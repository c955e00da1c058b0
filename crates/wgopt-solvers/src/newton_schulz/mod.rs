//! Newton–Schulz orthogonalisation on the GPU — the approximate polar factor of Muon, ROOT and
//! Polar Express. Reference twin: `wgopt_reference::linalg::newton_schulz`.
//!
//! Shaders (a documented mapping: Newton–Schulz is composed from the linear-algebra kernels,
//! it has no file of its own): `linalg/frobenius_normalize.wgsl` ([`normalize`]: X₀ = X /
//! (factor·‖X‖_F + 1e-7), with ROOT's clamp fused in), then per step `linalg/gram.wgsl` (G =
//! XXᵀ on the short side), `linalg/gram.wgsl` again (B = c·G·Gᵀ + b·G = c·G² + b·G, since G is
//! symmetric: half the tiles) and `linalg/gemm.wgsl` (X' = B·X + a·X, or X·B + a·X for tall
//! X) ([`plan`]). [`batch`] groups any
//! list of matrices by shape, one plan per shape, one submit ([`orthogonalize`]).

pub mod batch;
pub mod normalize;
pub mod plan;

pub use batch::{matrix_view, orthogonalize, orthogonalize_with, MatrixView};
pub use normalize::{Clamp, Normalize, NormalizeOffsets, NormalizeParams, FROBENIUS_NORMALIZE};
pub use plan::{NewtonSchulzPlan, NewtonSchulzSpec};

use wgopt_scheduler::Kernel;

/// Every kernel Newton–Schulz runs (the products are `crate::linalg::matmul`'s).
pub const KERNELS: &[&Kernel] = &[
    &normalize::FROBENIUS_NORMALIZE,
    &normalize::FROBENIUS_NORMALIZE_TO_F16,
];
