//! Numerical ops on the GPU built from wgopt's kernels. Now: [`orthogonalize`] (the
//! Newton–Schulz family: Muon's quintic, Polar Express, ROOT's table, any fixed or per-step
//! coefficients).

pub mod orthogonalize;

pub use orthogonalize::{matrix_view, orthogonalize, orthogonalize_with, MatrixView};
pub use wgopt_reference::linalg::{NsSchedule, Precision};
