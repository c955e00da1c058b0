//! Reference optimizers: one module per algorithm, each a per-tensor `step` over f32 slices that
//! follows the reference implementation's operation order, with per-step scalars computed in f64
//! (PyTorch computes `1 - beta**step` in Python floats on its non-capturable path).
//!
//! Each config implements [`OptimizerConfig`] and, except M-FAC's, [`PerTensor`] ([`tensor`]);
//! [`multi`] runs any of them — or a mix — over many tensors with the step guard, which is what
//! a GPU optimizer step does as a whole.

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
pub mod mkor;
pub mod multi;
pub mod muon;
pub mod radam;
pub mod sgd;
pub mod sinkgd;
pub mod sophia;
pub mod tensor;

pub use adabelief::{AdaBeliefConfig, AdaBeliefState};
pub use adagrad::{AdaGradConfig, AdaGradState, NormTest};
pub use adahessian::{AdaHessianConfig, AdaHessianState};
pub use adam::{AdamConfig, AdamState};
pub use adamp::{AdamPConfig, AdamPState, SgdpConfig, SgdpState};
pub use adan::{AdanConfig, AdanState};
pub use diffgrad::{DiffGradConfig, DiffGradState};
pub use frugal::{FrugalConfig, FrugalState, InactiveRule, Projection};
pub use lion::{LionConfig, LionState};
pub use mfac::{MfacConfig, MfacState};
pub use mkor::{MkorBase, MkorConfig};
pub use multi::{MultiOptimizer, ReferenceOptimizer};
pub use muon::{MuonConfig, MuonScale, MuonState};
pub use radam::{RAdamConfig, RAdamState};
pub use sgd::{SgdConfig, SgdState};
pub use sinkgd::SinkGdConfig;
pub use sophia::{SophiaConfig, SophiaEstimator, SophiaState};
pub(crate) use tensor::{optimizer_config, per_tensor};
pub use tensor::{OptimizerConfig, PerTensor, Tensor, TensorRule};
