//! Numerical ops on the GPU built from wgopt's kernels: [`orthogonalize`] (the Newton–Schulz
//! family: Muon's quintic, Polar Express, ROOT's table, any fixed or per-step coefficients)
//! and [`ot`] (batched log-domain Sinkhorn, dense or point-cloud costs), [`sketch`] (Gaussian,
//! CountSketch and SRHT sketches applied without materialising S; block Kaczmarz and block
//! Newton solvers).

mod host;
pub mod kkt;
pub mod logistic;
pub mod lstsq;
pub mod nystrom;
pub mod orthogonalize;
pub mod ot;
pub mod sketch;
pub mod sketch_project;
pub mod sns;

pub use orthogonalize::{matrix_view, orthogonalize, orthogonalize_with, MatrixView};
pub use wgopt_reference::linalg::{NsSchedule, Precision};
