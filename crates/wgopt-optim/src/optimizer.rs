//! The interface every wgopt optimizer implements — through the shared
//! [`Stepper`](crate::Stepper), whatever its program.

use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::{GuardConfig, ParamSet, Result, StepStats};

/// A GPU optimizer over one [`ParamSet`].
///
/// `step` records every dispatch of the update into one command buffer and submits it once;
/// it never waits for the GPU. Everything that reads back (`stats`, `save`, `timings`) says so.
pub trait Optimizer {
    /// Registry name ("adamw", "muon+adamw", …).
    fn name(&self) -> &str;

    /// Applies one update from the gradients currently in `params`.
    fn step(&mut self, params: &mut ParamSet) -> Result<()>;

    /// Reads the last step's statistics back from the GPU (waits).
    fn stats(&mut self) -> Result<StepStats>;

    /// Gradient 2-norm per guarded parameter in the last step, in layout order (waits).
    fn param_grad_norms(&mut self) -> Result<Vec<f32>>;

    /// Replaces the learning-rate schedule (a multiplier on each group's base lr); a schedule
    /// with a non-finite or negative floor or factor is refused and the old one kept.
    fn set_schedule(&mut self, schedule: Schedule) -> Result<()>;

    /// The multiplier the next step will use.
    fn lr_multiplier(&self) -> f64;

    /// Changes clipping and the non-finite check; a `max_grad_norm` that is not finite and
    /// > 0 is refused and the old guard kept.
    fn set_guard(&mut self, guard: GuardConfig) -> Result<()>;

    /// Number of `step` calls so far (drives the schedule; includes skipped steps).
    fn iteration(&self) -> u64;

    /// Dispatches the last step submitted.
    fn dispatches_per_step(&self) -> usize;

    /// Bytes of GPU memory the optimizer state occupies (what a checkpoint holds: state arenas
    /// and whole-buffer state, as allocated; scratch and per-step tables not counted).
    fn state_bytes(&self) -> u64;

    /// Turns on per-dispatch GPU timestamps (needs TIMESTAMP_QUERY).
    fn enable_timing(&mut self) -> Result<()>;

    /// GPU nanoseconds of each dispatch of the last step (waits).
    fn timings(&self) -> Result<Vec<(&'static str, f64)>>;

    /// Serialises state, step counters, hyperparameters and schedule to safetensors bytes (waits).
    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>>;

    /// Restores what `save` wrote. Validates everything before changing anything. The
    /// checkpoint's hyperparameters and schedule replace the constructor's (a resume continues
    /// the saved run); [`Optimizer::replaced_by_load`] lists what that changed.
    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()>;

    /// What the last `load` changed from the values this optimizer had before it, one
    /// line per group field or schedule ("group \"all\": lr 0.001 -> 0.0003"); empty when
    /// nothing differed or nothing was loaded.
    fn replaced_by_load(&self) -> &[String] {
        &[]
    }
}
