//! wgopt's optimizers on the GPU: the [`Optimizer`] trait, fused elementwise optimizers
//! ([`sgd`], [`adam`] for Adam and AdamW, [`lion`]), the orthogonalized ones ([`muon`] for Muon
//! and ROOT, [`sinkgd`]), parameter-group routing ([`routing`]),
//! learning-rate schedules (re-exported from the reference crate, one implementation for both),
//! checkpoints in safetensors ([`checkpoint`]) and creation by name ([`registry`]).
//!
//! Module names mirror the reference crate and the shaders: `wgopt_optim::adam` ↔
//! `wgopt_reference::optim::adam` ↔ `shaders/optim/adam.wgsl`.

pub mod adabelief;
pub mod adagrad;
pub mod adahessian;
pub mod adam;
pub mod adamp;
pub mod adan;
pub mod blocks;
pub mod checkpoint;
pub mod diffgrad;
pub mod frugal;
pub mod fused;
pub mod lion;
mod matrices;
pub mod mfac;
pub mod muon;
pub mod optimizer;
pub mod registry;
pub mod routing;
pub mod sgd;
pub mod sinkgd;
pub mod sophia;

pub use adabelief::{AdaBelief, AdaBeliefRule};
pub use adagrad::{AdaGrad, AdaGradRule};
pub use adahessian::AdaHessian;
pub use adam::{Adam, AdamRule};
pub use adamp::{AdamP, Sgdp};
pub use adan::{Adan, AdanRule};
pub use diffgrad::{DiffGrad, DiffGradRule};
pub use frugal::Frugal;
pub use fused::{Fused, Rule};
pub use lion::{Lion, LionRule};
pub use mfac::Mfac;
pub use muon::{Muon, MuonAdamW, Root, RootAdamW};
pub use optimizer::Optimizer;
pub use registry::{create, OPTIMIZER_NAMES};
pub use routing::{Matcher, Router};
pub use sgd::{Sgd, SgdRule};
pub use sinkgd::SinkGd;
pub use sophia::Sophia;
pub use wgopt_reference::linalg::NsSchedule;
pub use wgopt_reference::optim::{
    muon::MomentumForm, AdaBeliefConfig, AdaGradConfig, AdaHessianConfig, AdamConfig, AdamPConfig,
    AdanConfig, DiffGradConfig, FrugalConfig, InactiveRule, LionConfig, MfacConfig, MuonConfig,
    MuonScale, SgdConfig, SgdpConfig, SinkGdConfig, SophiaConfig, SophiaEstimator,
};
pub use wgopt_reference::schedule::{DecayShape, Schedule};
