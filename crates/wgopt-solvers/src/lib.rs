//! Numerical ops on the GPU built from wgopt's kernels, each named as its CPU twin in
//! `wgopt_reference`:
//!
//! - [`linalg`]: batched GEMM and Gram, and the autotune of their tile core;
//! - [`newton_schulz`]: the approximate polar factor (Muon's quintic, Polar Express, ROOT's
//!   table, any fixed or per-step coefficients), one plan per matrix shape;
//! - [`quantile`]: exact per-matrix quantiles of |x| (ROOT's clamp threshold);
//! - [`pcg`]: the GPU preconditioned conjugate gradient every CG here shares;
//! - [`ot`]: batched log-domain Sinkhorn and Sinkhorn–Newton–Sparse;
//! - [`sketch`], [`sketch_project`], [`lstsq`], [`nystrom`]: sketches and sketched solves;
//! - [`kkt`], [`logistic`]: the constrained Newton method's KKT solves and a GPU-resident
//!   problem for it.
//!
//! Every kernel is declared next to the code that launches it; [`kernels`] lists them all.

pub mod dgc;
pub mod gns;
mod host;
pub mod kkt;
pub mod linalg;
pub mod logistic;
pub mod lstsq;
pub mod newton_schulz;
pub mod nystrom;
pub mod ot;
pub mod pcg;
pub mod quantile;
pub mod sketch;
pub mod sketch_project;

pub use newton_schulz::{matrix_view, orthogonalize, orthogonalize_with, MatrixView};
pub use wgopt_reference::linalg::{NsSchedule, Precision};

use wgopt_scheduler::Kernel;

/// Every kernel this crate declares.
pub fn kernels() -> Vec<&'static Kernel> {
    [
        linalg::matmul::KERNELS,
        newton_schulz::KERNELS,
        quantile::KERNELS,
        dgc::KERNELS,
        pcg::KERNELS,
        ot::kernels::KERNELS,
        ot::sns::kernels::KERNELS,
        sketch::KERNELS,
        &[&sketch_project::GAUSSIAN_SKETCH_PROJECT],
        lstsq::KERNELS,
        nystrom::KERNELS,
        &[&logistic::LOGISTIC_WEIGHTS, &logistic::LOGISTIC_SCALE_ROWS],
    ]
    .concat()
}
