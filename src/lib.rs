//! # wgopt
//!
//! Fused, verified neural-network optimizer updates on any GPU through wgpu (Vulkan, Metal,
//! DX12; Mesa's lavapipe without a GPU). Hand wgopt your parameters and gradients, call
//! `step`, get PyTorch-exact updates; every kernel has a CPU twin in [`reference`] that checks it.
//!
//! ```no_run
//! use wgopt::prelude::*;
//! # fn main() -> wgopt::Result<()> {
//! let engine = Engine::new()?;
//! let specs = Router::decay_split().specs([("w", &[64, 32][..]), ("b", &[32][..])]);
//! let mut params = ParamSet::new(&engine, &specs)?;
//! params.write_param("w", &vec![0.01f32; 64 * 32])?;
//! let mut opt = Adam::new(
//!     &params,
//!     &[
//!         ("decay".into(), AdamConfig { lr: 1e-3, ..AdamConfig::adamw() }),
//!         ("no_decay".into(), AdamConfig { lr: 1e-3, weight_decay: 0.0, ..AdamConfig::adamw() }),
//!     ],
//!     GuardConfig { max_grad_norm: Some(1.0), skip_non_finite: true },
//! )?;
//! opt.set_schedule(Schedule::warmup(100, Schedule::Cosine { total: 900, floor: 0.1 }))?;
//! params.write_grad("w", &vec![0.5f32; 64 * 32])?;
//! params.write_grad("b", &vec![0.1f32; 32])?;
//! opt.step(&mut params)?; // one submit, no readback
//! let w = params.read_param("w")?; // reads back when asked
//! # Ok(()) }
//! ```

/// Data parallelism over MPI (feature `dist`): sharded optimizer state, a global guard.
#[cfg(feature = "dist")]
pub use wgopt_dist as dist;
pub use wgopt_optim as optim;
pub use wgopt_reference as reference;
pub use wgopt_scheduler as scheduler;
pub use wgopt_solvers as solvers;

pub use wgopt_optim::{
    Adam, AdamConfig, Lion, LionConfig, Optimizer, Router, Schedule, Sgd, SgdConfig,
};
pub use wgopt_scheduler::{
    Engine, EngineOptions, Error, GuardConfig, ParamSet, ParamSpec, Result, StepStats,
};

/// Every WGSL kernel wgopt declares: the runtime's, the solvers' and the optimizers' (each
/// once). The shader tests and `cargo xtask check-shaders` walk this list.
pub fn kernels() -> Vec<&'static scheduler::Kernel> {
    let mut all = scheduler::kernels();
    for k in solvers::kernels().into_iter().chain(optim::kernels()) {
        if !all.iter().any(|a| std::ptr::eq(*a, k)) {
            all.push(k);
        }
    }
    all
}

/// Everything a training loop needs.
pub mod prelude {
    pub use crate::{
        Adam, AdamConfig, Engine, EngineOptions, Error, GuardConfig, Lion, LionConfig, Optimizer,
        ParamSet, ParamSpec, Result, Router, Schedule, Sgd, SgdConfig, StepStats,
    };
}
