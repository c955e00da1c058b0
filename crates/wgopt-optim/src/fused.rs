//! `Fused<R>`: the machinery every fused elementwise optimizer shares. A [`Rule`] supplies what
//! differs (kernel, state fields, override constants, per-step scalars); `Fused` owns the state
//! arenas, the step guard, the launcher, the schedule and the step counters, and implements
//! [`Optimizer`] once for all of them.
//!
//! Step counting: the host counts `iteration` (every `step` call; drives the schedule, as a
//! PyTorch LR scheduler is stepped whether or not AMP skipped the update) and its expectation of
//! the applied-step count `t`, from which it computes bias corrections in f64. The GPU counts
//! applied and skipped steps itself; after a skip the host has not read yet, kernels fall back
//! to recomputing the scalars from the GPU's count, so results stay right without a readback.

use crate::checkpoint::Stateful;
use crate::optimizer::{counter_methods, guarded_methods, Counters, Optimizer};
use bytemuck::Pod;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::elementwise::ElementwiseKernel;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::{Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder};

/// What distinguishes one fused elementwise optimizer from another.
pub trait Rule: 'static {
    /// Hyperparameters of one group (the reference crate's config struct).
    type Config: Clone + Debug + PartialEq + Serialize + DeserializeOwned;
    /// The kernel's per-segment struct (WGSL twin in the shader).
    type Segment: Pod;
    /// Registry name.
    const NAME: &'static str;
    /// The kernel.
    const SHADER: ShaderId;
    /// Every state binding of the kernel, in binding order after `grad`, by PyTorch name.
    const BOUND_FIELDS: &'static [&'static str];
    /// Per-step inputs the caller fills beside the gradients (bound after the states, checked
    /// for NaN/Inf by the guard, never checkpointed), e.g. AdaHessian's `hvp`.
    const INPUT_FIELDS: &'static [&'static str] = &[];

    fn validate(cfg: &Self::Config) -> Result<()>;
    /// State fields that exist for these groups (a subset of BOUND_FIELDS; others get a dummy).
    fn state_fields(cfgs: &[Self::Config]) -> Vec<&'static str>;
    /// Override constants; flags must agree across groups (checked by `Fused::new`).
    fn constants(cfg: &Self::Config) -> Vec<(&'static str, f64)>;
    fn base_lr(cfg: &Self::Config) -> f64;
    /// The segment struct for `[start, end)` at applied step `t` with learning rate `lr`.
    fn segment(cfg: &Self::Config, lr: f64, t: u64, start: u32, end: u32) -> Self::Segment;
    /// The value a state field starts at (torch's `initial_accumulator_value`; 0 elsewhere).
    fn initial_value(_cfg: &Self::Config, _field: &str) -> f32 {
        0.0
    }
}

/// A fused elementwise optimizer over some groups of a parameter set.
pub struct Fused<R: Rule> {
    engine: Engine,
    param_set: u64,
    /// (layout group index, group label, config)
    groups: Vec<(usize, String, R::Config)>,
    slots: Vec<usize>,
    states: Vec<(&'static str, Arena)>,
    inputs: Vec<(&'static str, Arena)>,
    kernel: ElementwiseKernel,
    guard: Guard,
    recorder: StepRecorder,
    counters: Counters,
    scratch: Vec<R::Segment>,
}

impl<R: Rule> Debug for Fused<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(R::NAME)
            .field("groups", &self.groups)
            .field("iteration", &self.counters.iteration)
            .finish()
    }
}

impl<R: Rule> Fused<R> {
    /// One config for every group of `params`.
    pub fn all(params: &ParamSet, cfg: R::Config) -> Result<Self> {
        let groups: Vec<(String, R::Config)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg.clone()))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }

    /// An optimizer over the named groups, each with its own hyperparameters.
    pub fn new(
        params: &ParamSet,
        groups: &[(String, R::Config)],
        guard: GuardConfig,
    ) -> Result<Self> {
        Self::build(params, groups, guard, None)
    }

    /// As [`Fused::new`], with the step guard covering `guard_slots` (a superset of this
    /// optimizer's parameters): a hybrid's other part reads the same verdict.
    pub(crate) fn new_guarding(
        params: &ParamSet,
        groups: &[(String, R::Config)],
        guard: GuardConfig,
        guard_slots: &[usize],
    ) -> Result<Self> {
        Self::build(params, groups, guard, Some(guard_slots))
    }

    fn build(
        params: &ParamSet,
        groups: &[(String, R::Config)],
        guard: GuardConfig,
        guard_slots: Option<&[usize]>,
    ) -> Result<Self> {
        let engine = params.engine().clone();
        let layout = params.layout();
        if groups.is_empty() {
            return Err(Error::InvalidHyperparameter(format!(
                "{}: no parameter groups given",
                R::NAME
            )));
        }
        let mut resolved = Vec::with_capacity(groups.len());
        for (label, cfg) in groups {
            R::validate(cfg)?;
            if R::constants(cfg) != R::constants(&groups[0].1) {
                return Err(Error::InvalidHyperparameter(format!(
                    "{}: group {label:?} differs from group {:?} in a flag that selects the kernel \
                     variant ({:?} vs {:?}); flags must agree across groups",
                    R::NAME,
                    groups[0].0,
                    R::constants(cfg),
                    R::constants(&groups[0].1)
                )));
            }
            let gi = layout.group_index(label)?;
            if resolved.iter().any(|(g, _, _)| *g == gi) {
                return Err(Error::InvalidHyperparameter(format!(
                    "group {label:?} given twice"
                )));
            }
            resolved.push((gi, label.clone(), cfg.clone()));
        }
        resolved.sort_by_key(|g| g.0);
        let group_ids: Vec<usize> = resolved.iter().map(|g| g.0).collect();
        let slots: Vec<usize> = (0..layout.slots.len())
            .filter(|&i| group_ids.contains(&layout.slots[i].group))
            .collect();
        let cfgs: Vec<R::Config> = resolved.iter().map(|g| g.2.clone()).collect();
        let fields = R::state_fields(&cfgs);
        let states: Vec<(&'static str, Arena)> = fields
            .iter()
            .map(|f| (*f, Arena::new(&engine, layout, f)))
            .collect();
        for (field, arena) in &states {
            for (gi, _, cfg) in &resolved {
                let v = R::initial_value(cfg, field);
                if v != 0.0 {
                    for slot in layout.slots.iter().filter(|s| s.group == *gi) {
                        arena.write(&engine, slot, &vec![v; slot.len])?;
                    }
                }
            }
        }
        let inputs: Vec<(&'static str, Arena)> = R::INPUT_FIELDS
            .iter()
            .map(|f| (*f, Arena::new(&engine, layout, f)))
            .collect();
        let dummy = engine.create_buffer("unused state", 16, wgpu::BufferUsages::STORAGE);
        let input_refs: Vec<&Arena> = inputs.iter().map(|(_, a)| a).collect();
        let guard = Guard::with_inputs(
            &engine,
            params,
            guard_slots.unwrap_or(&slots),
            guard,
            &input_refs,
        )?;
        let stats = guard.stats_buffer().clone();
        let kernel = ElementwiseKernel::new(
            &engine,
            R::SHADER,
            &R::constants(&cfgs[0]),
            layout,
            &group_ids,
            std::mem::size_of::<R::Segment>(),
            |chunk| {
                let mut b = vec![
                    stats.clone(),
                    params.param_arena().chunks[chunk].clone(),
                    params.grad_arena().chunks[chunk].clone(),
                ];
                for f in R::BOUND_FIELDS {
                    b.push(match states.iter().find(|(n, _)| n == f) {
                        Some((_, a)) => a.chunks[chunk].clone(),
                        None => dummy.clone(),
                    });
                }
                b.extend(inputs.iter().map(|(_, a)| a.chunks[chunk].clone()));
                b
            },
        );
        Ok(Fused {
            engine,
            param_set: params.id(),
            groups: resolved,
            slots,
            states,
            inputs,
            kernel,
            guard,
            recorder: StepRecorder::new(),
            counters: Counters::new(),
            scratch: Vec::new(),
        })
    }

    /// Group labels and their hyperparameters.
    pub fn groups(&self) -> impl Iterator<Item = (&str, &R::Config)> {
        self.groups.iter().map(|(_, l, c)| (l.as_str(), c))
    }

    /// The hyperparameters of layout group `g`, if this optimizer updates it.
    pub(crate) fn config_of_group(&self, g: usize) -> Option<&R::Config> {
        self.groups.iter().find(|x| x.0 == g).map(|x| &x.2)
    }

    /// Changes one group's hyperparameters (flags that select the kernel must not change).
    pub fn set_group_config(&mut self, label: &str, cfg: R::Config) -> Result<()> {
        R::validate(&cfg)?;
        let first = self.groups[0].2.clone();
        let g = self
            .groups
            .iter_mut()
            .find(|g| g.1 == label)
            .ok_or_else(|| Error::UnknownName {
                kind: "group",
                name: label.into(),
                known: String::new(),
            })?;
        if R::constants(&cfg) != R::constants(&first) {
            return Err(Error::InvalidHyperparameter(
                "kernel flags cannot change after construction".into(),
            ));
        }
        g.2 = cfg;
        Ok(())
    }

    /// Layout indices of the parameters this optimizer updates.
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// State arenas by field name.
    pub fn state_arenas(&self) -> &[(&'static str, Arena)] {
        &self.states
    }

    /// Input arenas (`Rule::INPUT_FIELDS`) by name.
    pub fn input_arenas(&self) -> &[(&'static str, Arena)] {
        &self.inputs
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `Optimizer::step` with `between` recorded after the guard and before the update.
    pub(crate) fn step_with(
        &mut self,
        params: &mut ParamSet,
        between: impl FnOnce(&mut StepRecorder),
    ) -> Result<()> {
        let mut rec = std::mem::take(&mut self.recorder);
        let engine = self.engine.clone();
        let r = crate::optimizer::submit_step(&engine, &mut rec, params, |p, rec| {
            self.record_with(p, rec, between)
        });
        self.recorder = rec;
        r
    }

    fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(format!(
                "{} was built for another ParamSet",
                R::NAME
            )));
        }
        Ok(())
    }

    /// The guard's statistics buffer (bound by a hybrid's other part).
    pub(crate) fn stats_buffer(&self) -> &wgpu::Buffer {
        self.guard.stats_buffer()
    }

    /// Writes this step's scalars and records the guard and update dispatches into `rec`.
    pub(crate) fn record(&mut self, params: &ParamSet, rec: &mut StepRecorder) -> Result<()> {
        self.record_with(params, rec, |_| {})
    }

    /// As [`Fused::record`], with `between` recording dispatches after the guard and before
    /// the update (they see the guard's verdict in the stats buffer).
    pub(crate) fn record_with(
        &mut self,
        params: &ParamSet,
        rec: &mut StepRecorder,
        between: impl FnOnce(&mut StepRecorder),
    ) -> Result<()> {
        self.check_params(params)?;
        let (mult, t) = self.counters.next();
        let groups = &self.groups;
        self.kernel
            .write_segments(&self.engine, &mut self.scratch, |g, start, end| {
                let cfg = &groups
                    .iter()
                    .find(|x| x.0 == g)
                    .expect("segments are planned from these groups")
                    .2;
                R::segment(cfg, R::base_lr(cfg) * mult, t, start, end)
            });
        self.guard.record(rec);
        between(rec);
        self.kernel.record(rec);
        self.counters.advance();
        Ok(())
    }
}

impl<R: Rule> Stateful for Fused<R> {
    type Config = R::Config;

    fn checkpoint_name(&self) -> &'static str {
        R::NAME
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state_fields(&self) -> Vec<(&'static str, &Arena)> {
        self.states.iter().map(|(n, a)| (*n, a)).collect()
    }

    fn state_slots(&self) -> &[usize] {
        &self.slots
    }

    fn counters(&self) -> (u64, u64, u64) {
        self.counters.tuple()
    }

    fn group_configs(&self) -> Vec<(String, R::Config)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), c.clone()))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &R::Config, ours: &R::Config) -> Result<()> {
        R::validate(saved)?;
        if R::constants(saved) != R::constants(ours) {
            return Err(Error::Checkpoint(format!(
                "group {label:?} was saved with kernel flags {:?}, this optimizer has {:?}",
                R::constants(saved),
                R::constants(ours)
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<R::Config>,
        schedule: Schedule,
    ) {
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.2 = c;
        }
        self.counters.restore(iteration, applied, skipped, schedule);
        self.guard
            .set_counters(&self.engine, applied as u32, skipped as u32);
    }
}

impl<R: Rule> Optimizer for Fused<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    counter_methods!();
    guarded_methods!();

    fn enable_timing(&mut self) -> Result<()> {
        // Per chunk a tile pass per source (gradients and each input), a pass between guard
        // and update (AdaHessian's averaging) and the update, plus the finalize.
        let n = (3 + R::INPUT_FIELDS.len() as u32) * self.kernel.plans().len() as u32 + 1;
        self.recorder.enable_timing(&self.engine, n)
    }
}
