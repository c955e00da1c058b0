//! wgopt's optimizers inside burn training loops, on burn's own wgpu device.
//!
//! ```ignore
//! let shared = wgopt_burn::SharedDevice::init()?;          // one wgpu device for both
//! let device = shared.autodiff_device();
//! let mut model = MyModel::new(&device);
//! let mut optim = WgoptConfig::new("muon+adamw").init(&shared)?;
//! for batch in batches {
//!     let loss = model.forward(batch);
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = optim.step(lr, model, grads)?;                // one wgopt submit, GPU to GPU
//! }
//! ```
//!
//! The step never moves a parameter or gradient through the host: gradients are copied from
//! burn's buffers into wgopt's arena, the update runs, and parameters are copied back into
//! burn's buffers (in place when burn holds the only reference), all in one submit on the
//! queue burn uses. Parameters are named by their burn module paths, which route them to groups
//! (decay / no-decay, Muon's matrices) and key checkpoints.

mod apply;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod optimizer;
mod tensor;
mod walk;

pub use apply::CopyReport;
pub use device::SharedDevice;
pub use error::{Error, Rejected, Result};
pub use optimizer::{WgoptConfig, WgoptOptimizer};
