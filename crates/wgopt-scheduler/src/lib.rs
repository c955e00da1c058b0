//! wgopt's wgpu runtime: adapter and device choice ([`Engine`]), arenas and the parameter set
//! ([`ParamSet`]), the pipeline cache, the one-submit [`StepRecorder`], GPU timing, and the
//! host-side launchers of every shader family ([`elementwise`], [`guard`], [`bench`]).
//!
//! Invariant: nothing here reads from the GPU unless a function says it waits; a step is
//! recorded and submitted without any host synchronisation.

pub mod arena;
pub mod bench;
pub mod elementwise;
pub mod engine;
pub mod error;
pub mod guard;
pub mod layout;
pub mod linalg;
pub mod params;
pub mod pipelines;
pub mod quantile;
pub mod random;
pub mod recorder;
pub mod shaders;
pub mod tuning;

pub use engine::{
    list_adapters, AdapterSummary, Engine, EngineOptions, ObjectCounts, DEFAULT_BACKENDS,
};
pub use error::{Error, Result};
pub use guard::{GuardConfig, StepStats};
pub use layout::{Layout, ParamSpec, Piece, Slot};
pub use params::{HostFloat, ParamSet, TensorBinding};
pub use recorder::StepRecorder;
pub use shaders::ShaderId;

pub use wgpu;
