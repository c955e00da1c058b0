//! wgopt's optimizers on the GPU. Every optimizer is a [`Stepper`] running a [`Program`]: the
//! stepper owns what they all share (groups, the step guard, the recorder, counters, the
//! schedule, checkpoints, the [`Optimizer`] interface); a program is an optimizer's own part
//! (its state, its kernels, what it records per step). A hybrid is a stepper of two programs.
//!
//! Programs: [`fused::Fused`] over an elementwise [`Rule`] ([`sgd`], [`adam`] for Adam and
//! AdamW, [`lion`], [`adabelief`], [`adan`], [`diffgrad`], [`adagrad`]), [`muon`] (Muon and
//! ROOT), [`sinkgd`], [`sophia`], [`adahessian`], [`adamp`] (AdamP, SGDP), [`mfac`],
//! [`frugal`]. [`table`] lists every optimizer by name; [`registry`] builds them.
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
pub mod mkor;
pub mod muon;
pub mod optimizer;
pub mod program;
pub mod radam;
pub mod registry;
pub mod routing;
pub mod sgd;
pub mod sinkgd;
pub mod sophia;
pub mod stepper;
pub mod table;

pub use adabelief::{AdaBelief, AdaBeliefRule};
pub use adagrad::{AdaGrad, AdaGradRule};
pub use adahessian::{AdaHessian, AdaHessianProgram};
pub use adam::{Adam, AdamRule};
pub use adamp::{AdamP, Sgdp};
pub use adan::{Adan, AdanRule};
pub use diffgrad::{DiffGrad, DiffGradRule};
pub use frugal::{Frugal, FrugalProgram};
pub use fused::{Fused, Rule};
pub use lion::{Lion, LionRule};
pub use mfac::{Mfac, MfacProgram};
pub use mkor::{Mkor, MkorProgram};
pub use muon::{Muon, MuonAdamW, MuonProgram, Root, RootAdamW};
pub use optimizer::Optimizer;
pub use program::{Build, Program, Step};
pub use radam::{RAdam, RAdamRule};
pub use registry::{create, find, names, Driver, Request};
pub use routing::{Matcher, Router};
pub use sgd::{Sgd, SgdRule};
pub use sinkgd::{SinkGd, SinkGdAdamW, SinkGdProgram};
pub use sophia::{Sophia, SophiaProgram};
pub use stepper::{Alone, Stepper};
pub use wgopt_reference::linalg::NsSchedule;
pub use wgopt_reference::optim::{
    muon::MomentumForm, AdaBeliefConfig, AdaGradConfig, AdaHessianConfig, AdamConfig, AdamPConfig,
    AdanConfig, DiffGradConfig, FrugalConfig, InactiveRule, LionConfig, MfacConfig, MkorBase,
    MkorConfig, MuonConfig, MuonScale, RAdamConfig, SgdConfig, SgdpConfig, SinkGdConfig,
    SophiaConfig, SophiaEstimator,
};
pub use wgopt_reference::schedule::{DecayShape, Schedule};

use wgopt_scheduler::Kernel;

/// Every kernel the optimizers may launch (each once).
pub fn kernels() -> Vec<&'static Kernel> {
    let mut all: Vec<&'static Kernel> = Vec::new();
    for e in table::OPTIMIZERS {
        for k in e.recipe.kernels() {
            if !all.iter().any(|a| std::ptr::eq(*a, k)) {
                all.push(k);
            }
        }
    }
    all
}
