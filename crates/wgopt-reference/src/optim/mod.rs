//! Reference optimizers: one module per algorithm, each a per-tensor `step` over f32 slices that
//! follows the reference implementation's operation order, with per-step scalars computed in f64
//! (PyTorch computes `1 - beta**step` in Python floats on its non-capturable path).
//!
//! [`multi`] runs any of them over many named tensors with parameter groups and the step guard,
//! which is what a GPU optimizer step does as a whole.

pub mod adabelief;
pub mod adagrad;
pub mod adahessian;
pub mod adam;
pub mod adamp;
pub mod adan;
pub mod diffgrad;
pub mod frugal;
pub mod lion;
pub mod mfac;
pub mod multi;
pub mod muon;
pub mod sgd;
pub mod sinkgd;
pub mod sophia;

pub use adabelief::{AdaBeliefConfig, AdaBeliefState};
pub use adagrad::{AdaGradConfig, AdaGradState, NormTest};
pub use adahessian::{AdaHessianConfig, AdaHessianState};
pub use adam::{AdamConfig, AdamState};
pub use adamp::{AdamPConfig, AdamPState, SgdpConfig, SgdpState};
pub use adan::{AdanConfig, AdanState};
pub use diffgrad::{DiffGradConfig, DiffGradState};
pub use frugal::{FrugalConfig, FrugalState, InactiveRule};
pub use lion::{LionConfig, LionState};
pub use mfac::{MfacConfig, MfacState};
pub use multi::{Hparams, MultiOptimizer, TensorState};
pub use muon::{MuonConfig, MuonScale, MuonState};
pub use sgd::{SgdConfig, SgdState};
pub use sinkgd::SinkGdConfig;
pub use sophia::{SophiaConfig, SophiaEstimator, SophiaState};
