//! wgopt across processes: data parallelism over MPI (rsmpi over OpenMPI), with the optimizer
//! state sharded over the ranks (ZeRO stage 1), a global step guard, and whole-tensor owners
//! for the optimizers that need whole matrices (Muon, ROOT, Polar Express, AdamP/SGDP,
//! SinkGD).
//!
//! wgpu has no GPU-direct transport, so collectives run on host buffers: gradients are
//! reduce-scattered (half an all-reduce) and each owner's updated parameters all-gathered.
//! Run under `mpirun -np N`; a single process (N = 1) is the plain optimizer.

pub mod checkpoint;
pub mod comm;
pub mod data_parallel;
pub mod dgc;
pub mod error;
pub mod plan;
pub mod support;

pub use comm::{Communicator, Traffic};
pub use data_parallel::{DataParallel, DistStats};
pub use error::{Error, Result};
pub use plan::{Cut, Piece, ShardPlan};
pub use support::{support, Support};
