//! wgopt's wgpu runtime: adapter and device choice ([`Engine`]), arenas and the parameter set
//! ([`ParamSet`]), kernel declarations and the pipeline cache ([`kernel`]), the one-submit
//! [`StepRecorder`], GPU timing, and the runtime's own kernels: the step guard ([`guard`]),
//! random probes ([`random`]) and the calibration kernels ([`bench`]). The solver and
//! optimizer kernels are declared and launched by the crates that own them.
//!
//! Invariant: nothing here reads from the GPU unless a function says it waits; a step is
//! recorded and submitted without any host synchronisation.

// The WgslStruct derive names `::wgopt_scheduler`, which must resolve inside this crate too.
extern crate self as wgopt_scheduler;

pub mod arena;
pub mod bench;
pub mod cooperative;
pub mod elementwise;
pub mod engine;
pub mod error;
pub mod files;
pub mod guard;
pub mod kernel;
pub mod layout;
pub mod params;
pub mod pipelines;
pub mod random;
pub mod recorder;
pub mod tuning;

pub use engine::{
    list_adapters, AdapterSummary, Engine, EngineOptions, ObjectCounts, DEFAULT_BACKENDS,
};
pub use error::{Error, Result};
pub use guard::{GuardConfig, StepStats};
pub use kernel::Kernel;
pub use layout::{Layout, ParamSpec, Piece, Slot};
pub use params::{HostFloat, ParamSet, TensorBinding};
pub use recorder::{StepRecorder, MAX_TIMED_DISPATCHES};

/// The runtime's own kernels (guard, probes, calibration).
pub fn kernels() -> Vec<&'static Kernel> {
    vec![
        &guard::TILE_SUMSQ,
        &guard::GUARD_FINALIZE,
        &random::PROBE_FILL,
        &random::PHILOX_BITS,
        &bench::COPY,
        &bench::FMA,
    ]
}

pub use wgpu;
