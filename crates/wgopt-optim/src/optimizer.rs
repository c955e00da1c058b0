//! The interface every wgopt optimizer implements, elementwise or not (Muon, Sophia, … later).

use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::{Engine, GuardConfig, ParamSet, Result, StepRecorder, StepStats};

/// A GPU optimizer over (some groups of) one [`ParamSet`].
///
/// `step` records every dispatch of the update into one command buffer and submits it once;
/// it never waits for the GPU. Everything that reads back (`stats`, `save`, `timings`) says so.
pub trait Optimizer {
    /// Registry name ("adamw", "sgd", …).
    fn name(&self) -> &'static str;

    /// Applies one update from the gradients currently in `params`.
    fn step(&mut self, params: &mut ParamSet) -> Result<()>;

    /// Reads the last step's statistics back from the GPU (waits).
    fn stats(&mut self) -> Result<StepStats>;

    /// Gradient 2-norm per guarded parameter in the last step, in layout order (waits).
    fn param_grad_norms(&mut self) -> Result<Vec<f32>>;

    /// Replaces the learning-rate schedule (a multiplier on each group's base lr).
    fn set_schedule(&mut self, schedule: Schedule);

    /// The multiplier the next step will use.
    fn lr_multiplier(&self) -> f64;

    /// Changes clipping and the non-finite check.
    fn set_guard(&mut self, guard: GuardConfig);

    /// Number of `step` calls so far (drives the schedule; includes skipped steps).
    fn iteration(&self) -> u64;

    /// Dispatches the last step submitted.
    fn dispatches_per_step(&self) -> usize;

    /// Turns on per-dispatch GPU timestamps (needs TIMESTAMP_QUERY).
    fn enable_timing(&mut self) -> Result<()>;

    /// GPU nanoseconds of each dispatch of the last step (waits).
    fn timings(&self) -> Result<Vec<(&'static str, f64)>>;

    /// Serialises state, step counters, hyperparameters and schedule to safetensors bytes (waits).
    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>>;

    /// Restores what `save` wrote. Validates everything before changing anything.
    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()>;
}

/// The body of every `Optimizer::step`: pending gradient copies first, then what `record`
/// records, then one submit. The recorder is reused from step to step.
pub(crate) fn submit_step(
    engine: &Engine,
    recorder: &mut StepRecorder,
    params: &mut ParamSet,
    record: impl FnOnce(&ParamSet, &mut StepRecorder) -> Result<()>,
) -> Result<()> {
    recorder.take_copies(params);
    record(params, recorder)?;
    recorder.submit(engine)?;
    Ok(())
}

/// Host-side step bookkeeping every optimizer keeps: the schedule, the number of `step` calls
/// (`iteration`, drives the schedule), the applied-step count the host expects (its bias
/// corrections use it; the GPU's own count wins after an unread skip) and the skips last read.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub schedule: Schedule,
    pub iteration: u64,
    pub expected_applied: u64,
    pub skipped: u64,
}

impl Counters {
    pub fn new() -> Counters {
        Counters {
            schedule: Schedule::Constant,
            iteration: 0,
            expected_applied: 0,
            skipped: 0,
        }
    }

    /// (lr multiplier, applied step `t`) of the step about to be recorded.
    pub fn next(&self) -> (f64, u64) {
        (
            self.schedule.multiplier(self.iteration),
            self.expected_applied + 1,
        )
    }

    /// After recording a step.
    pub fn advance(&mut self) {
        self.iteration += 1;
        self.expected_applied += 1;
    }

    /// After reading the GPU's statistics.
    pub fn sync(&mut self, s: &StepStats) {
        self.expected_applied = s.applied_steps as u64;
        self.skipped = s.skipped_steps as u64;
    }

    /// (iteration, applied, skipped) for checkpoints.
    pub fn tuple(&self) -> (u64, u64, u64) {
        (self.iteration, self.expected_applied, self.skipped)
    }

    pub fn restore(&mut self, iteration: u64, applied: u64, skipped: u64, schedule: Schedule) {
        *self = Counters {
            schedule,
            iteration,
            expected_applied: applied,
            skipped,
        };
    }
}

/// `step` and the `Optimizer` methods that only touch `self.counters`, `self.recorder`, `self.engine` and
/// the optimizer's own `self.record(params, rec)`.
macro_rules! counter_methods {
    () => {
        fn step(&mut self, params: &mut wgopt_scheduler::ParamSet) -> wgopt_scheduler::Result<()> {
            // The recorder is moved out while `record` borrows `self`, then put back.
            let mut rec = std::mem::take(&mut self.recorder);
            let engine = self.engine.clone();
            let r = $crate::optimizer::submit_step(&engine, &mut rec, params, |p, rec| {
                self.record(p, rec)
            });
            self.recorder = rec;
            r
        }

        fn set_schedule(&mut self, schedule: wgopt_reference::schedule::Schedule) {
            self.counters.schedule = schedule;
        }

        fn lr_multiplier(&self) -> f64 {
            self.counters.next().0
        }

        fn iteration(&self) -> u64 {
            self.counters.iteration
        }

        fn dispatches_per_step(&self) -> usize {
            self.recorder.last_dispatch_count()
        }

        fn timings(&self) -> wgopt_scheduler::Result<Vec<(&'static str, f64)>> {
            self.recorder.read_timings(&self.engine)
        }
    };
}
pub(crate) use counter_methods;

/// `stats`, `param_grad_norms`, `set_guard`, `save` and `load` of an optimizer that owns its
/// step guard (`self.guard`), `self.engine`, `self.counters`, a `check_params` method, and
/// implements `Stateful` (checkpoints go through `checkpoint::save` / `load`).
macro_rules! guarded_methods {
    () => {
        fn stats(&mut self) -> wgopt_scheduler::Result<wgopt_scheduler::StepStats> {
            let s = self.guard.read_stats(&self.engine)?;
            self.counters.sync(&s);
            Ok(s)
        }

        fn param_grad_norms(&mut self) -> wgopt_scheduler::Result<Vec<f32>> {
            self.guard.read_param_norms(&self.engine)
        }

        fn set_guard(&mut self, guard: wgopt_scheduler::GuardConfig) {
            self.guard.reconfigure(&self.engine, guard);
        }

        fn save(&mut self, params: &wgopt_scheduler::ParamSet) -> wgopt_scheduler::Result<Vec<u8>> {
            self.check_params(params)?;
            self.stats()?;
            $crate::checkpoint::save(self, params)
        }

        fn load(
            &mut self,
            params: &wgopt_scheduler::ParamSet,
            bytes: &[u8],
        ) -> wgopt_scheduler::Result<()> {
            self.check_params(params)?;
            $crate::checkpoint::load(self, params, bytes)
        }
    };
}
pub(crate) use guarded_methods;

/// The `Optimizer` methods of a wrapper (Sophia, AdaHessian) that forwards them to the fused
/// optimizer in `self.$inner`; the wrapper writes `name`, `step` and `set_guard` itself, and
/// `probe_draws` / `restore_probe_draws` for its checkpoint.
macro_rules! delegated_methods {
    ($inner:ident) => {
        fn stats(&mut self) -> wgopt_scheduler::Result<wgopt_scheduler::StepStats> {
            self.$inner.stats()
        }

        fn param_grad_norms(&mut self) -> wgopt_scheduler::Result<Vec<f32>> {
            self.$inner.param_grad_norms()
        }

        fn set_schedule(&mut self, schedule: wgopt_reference::schedule::Schedule) {
            self.$inner.set_schedule(schedule)
        }

        fn lr_multiplier(&self) -> f64 {
            self.$inner.lr_multiplier()
        }

        fn iteration(&self) -> u64 {
            self.$inner.iteration()
        }

        fn dispatches_per_step(&self) -> usize {
            self.$inner.dispatches_per_step()
        }

        fn enable_timing(&mut self) -> wgopt_scheduler::Result<()> {
            self.$inner.enable_timing()
        }

        fn timings(&self) -> wgopt_scheduler::Result<Vec<(&'static str, f64)>> {
            self.$inner.timings()
        }

        /// The fused state plus the probe draw number (`probe_draws`).
        fn save(&mut self, params: &wgopt_scheduler::ParamSet) -> wgopt_scheduler::Result<Vec<u8>> {
            $crate::checkpoint::save_with_counters(
                &self.$inner,
                params,
                &[("probe_draws", self.probe_draws() as u64)],
            )
        }

        fn load(
            &mut self,
            params: &wgopt_scheduler::ParamSet,
            bytes: &[u8],
        ) -> wgopt_scheduler::Result<()> {
            let v = $crate::checkpoint::load_with_counters(
                &mut self.$inner,
                params,
                bytes,
                &["probe_draws"],
            )?;
            let draws = u32::try_from(v[0]).map_err(|_| {
                wgopt_scheduler::Error::Checkpoint("probe_draws exceeds u32".into())
            })?;
            self.restore_probe_draws(draws);
            Ok(())
        }
    };
}
pub(crate) use delegated_methods;
