//! What an optimizer is made of: a [`Program`] — its config, its state, how it builds its
//! kernels and what it records each step — run by the shared [`Stepper`](crate::Stepper),
//! which owns everything programs have in common (groups, the guard, the recorder, counters,
//! the schedule, checkpoints).
//!
//! A program sees its groups already resolved and validated ([`Groups`]), and builds from a
//! [`Build`] context (the engine, the parameters, the guard's `StepStats` buffer to bind, the
//! declared per-step inputs). Each step it gets a [`Step`] context (the group configs, the
//! schedule's multiplier and the applied step `t` the host expects) and records its
//! dispatches; the stepper has recorded the guard before it and submits after it.

use crate::registry::Driver;
use crate::Stepper;
use std::fmt::Debug;
use wgopt_reference::optim::OptimizerConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::{
    Engine, Error, GuardConfig, Kernel, Layout, ParamSet, Result, StepRecorder, StepStats,
};

/// Named values that select kernels or plans (compared, and printed in errors).
pub type Flags = Vec<(&'static str, String)>;

/// One entry of [`Flags`].
pub fn flag(name: &'static str, value: impl Debug) -> (&'static str, String) {
    (name, format!("{value:?}"))
}

/// One parameter group of a program: its index in the layout, its label and its config.
#[derive(Debug, Clone, PartialEq)]
pub struct Group<C> {
    pub index: usize,
    pub label: String,
    pub config: C,
}

/// A program's groups, sorted by layout index, and the layout slots they cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups<C> {
    groups: Vec<Group<C>>,
    slots: Vec<usize>,
}

impl<C> Groups<C> {
    pub fn iter(&self) -> impl Iterator<Item = &Group<C>> {
        self.groups.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Layout indices of the groups.
    pub fn ids(&self) -> Vec<usize> {
        self.groups.iter().map(|g| g.index).collect()
    }

    /// Layout indices of the parameters these groups hold.
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    pub fn configs(&self) -> Vec<&C> {
        self.groups.iter().map(|g| &g.config).collect()
    }

    /// The config of layout group `index`. Every plan is made from these groups, so a miss is
    /// a bug in wgopt.
    pub fn config(&self, index: usize) -> &C {
        &self
            .groups
            .iter()
            .find(|g| g.index == index)
            .expect("plans are made from these groups")
            .config
    }

    pub(crate) fn get_mut(&mut self, label: &str) -> Option<&mut Group<C>> {
        self.groups.iter_mut().find(|g| g.label == label)
    }
}

/// Resolves `given` against the layout for optimizer `who`: every label must exist and appear
/// once over all parts (`taken` collects the layout groups claimed so far), every config must
/// validate, and `flags` must agree across the groups.
pub(crate) fn resolve<C: OptimizerConfig>(
    who: &str,
    layout: &Layout,
    given: &[(String, C)],
    taken: &mut Vec<usize>,
    flags: impl Fn(&C) -> Flags,
) -> Result<Groups<C>> {
    let mut groups: Vec<Group<C>> = Vec::with_capacity(given.len());
    for (label, config) in given {
        let index = layout
            .groups
            .iter()
            .position(|g| g == label)
            .ok_or_else(|| Error::UnknownGroup {
                optimizer: who.into(),
                group: label.clone(),
                known: layout.groups.join(", "),
            })?;
        if taken.contains(&index) {
            return Err(Error::DuplicateGroup {
                optimizer: who.into(),
                group: label.clone(),
            });
        }
        config.validate()?;
        if let Some(first) = groups.first() {
            check_flags(who, first, label, &flags(&first.config), &flags(config))?;
        }
        taken.push(index);
        groups.push(Group {
            index,
            label: label.clone(),
            config: config.clone(),
        });
    }
    groups.sort_by_key(|g| g.index);
    let slots = (0..layout.slots.len())
        .filter(|&i| groups.iter().any(|g| g.index == layout.slots[i].group))
        .collect();
    Ok(Groups { groups, slots })
}

fn check_flags<C>(who: &str, first: &Group<C>, label: &str, a: &Flags, b: &Flags) -> Result<()> {
    if a == b {
        return Ok(());
    }
    Err(Error::InvalidHyperparameter(format!(
        "{who}: group {label:?} has kernel flags {b:?} but group {:?} has {a:?}; flags that \
         select the kernel must agree across groups",
        first.label
    )))
}

/// After resolving every part: a layout group no part claimed is an error (its parameters
/// would never change).
pub(crate) fn check_all_claimed(who: &str, layout: &Layout, taken: &[usize]) -> Result<()> {
    match (0..layout.groups.len()).find(|g| !taken.contains(g)) {
        Some(g) => Err(Error::MissingGroup {
            optimizer: who.into(),
            group: layout.groups[g].clone(),
        }),
        None => Ok(()),
    }
}

/// What a program builds from.
#[derive(Debug)]
pub struct Build<'a, C> {
    pub engine: &'a Engine,
    pub params: &'a ParamSet,
    pub groups: &'a Groups<C>,
    /// The guard's `StepStats` buffer: every update kernel binds it and does nothing on a
    /// skipped step.
    pub stats: &'a wgpu::Buffer,
    /// The per-step inputs declared by [`Program::INPUTS`] (arenas shaped like the parameters).
    pub inputs: &'a [(&'static str, Arena)],
    /// Seed of the program's random probes, if it draws any.
    pub seed: u64,
    /// The step guard's configuration (for a program that guards a second operation, as
    /// Sophia guards its Hessian update).
    pub guard: GuardConfig,
}

impl<C> Build<'_, C> {
    pub fn layout(&self) -> &Layout {
        self.params.layout()
    }

    /// The input arena `name` (declared in [`Program::INPUTS`]).
    pub fn input(&self, name: &str) -> Result<&Arena> {
        self.inputs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a)
            .ok_or_else(|| Error::Internal(format!("input {name:?} was not declared")))
    }
}

/// What a program records one step from.
#[derive(Debug)]
pub struct Step<'a, C> {
    pub engine: &'a Engine,
    pub params: &'a ParamSet,
    pub groups: &'a Groups<C>,
    /// The schedule's multiplier of every base learning rate.
    pub lr_multiplier: f64,
    /// The applied step the host expects (bias corrections); kernels recompute from the GPU's
    /// own count after a skip the host has not read.
    pub t: u64,
}

impl<C: OptimizerConfig> Step<'_, C> {
    /// The config of layout group `index`.
    pub fn config(&self, index: usize) -> &C {
        self.groups.config(index)
    }

    /// `cfg`'s learning rate this step.
    pub fn lr(&self, cfg: &C) -> f64 {
        cfg.lr() * self.lr_multiplier
    }
}

/// An optimizer's own part: everything the [`Stepper`](crate::Stepper) does not do for it.
pub trait Program: Sized + Send + 'static {
    type Config: OptimizerConfig;

    /// Prefix of this program's metadata in a hybrid's checkpoint (`muon.`, `adam.`).
    const PART: &'static str;
    /// Per-step inputs the caller fills beside the gradients (arenas shaped like the
    /// parameters, checked for NaN/Inf by the guard, never checkpointed), e.g. AdaHessian's
    /// `hvp`.
    const INPUTS: &'static [&'static str] = &[];
    /// Names of the program's own counters, saved as checkpoint metadata.
    const COUNTERS: &'static [&'static str] = &[];

    /// The registry name for these groups' configs (by default the part's name).
    fn name(_configs: &[&Self::Config]) -> &'static str {
        Self::PART
    }

    /// The optimizer name a checkpoint records (kept from the first format).
    fn checkpoint_name(configs: &[&Self::Config]) -> &'static str {
        Self::name(configs)
    }

    /// What selects kernel variants: must agree across groups.
    fn kernel_flags(config: &Self::Config) -> Flags;

    /// What shapes the state and the plans: a checkpoint must match it (by default the kernel
    /// flags).
    fn plan_flags(config: &Self::Config) -> Flags {
        Self::kernel_flags(config)
    }

    /// Every kernel the program may launch (for validation and `check-shaders`).
    fn kernels() -> Vec<&'static Kernel>;

    /// Creates the state, pipelines, bind groups and plans — everything, once.
    fn build(cx: &Build<'_, Self::Config>) -> Result<Self>;

    /// Refuses a step before anything is recorded (a call out of order, a missing input);
    /// `t` is the applied step the host expects this step to be.
    fn ready(&self, _t: u64) -> Result<()> {
        Ok(())
    }

    /// Whether this step may need host work between the guard and the program's dispatches
    /// (FRUGAL's SVD refresh, every `update_gap` steps). `t` is the applied step the host
    /// expects; it may run ahead of the GPU's count after skips the host has not read.
    fn host_work_due(&self, _t: u64) -> bool {
        false
    }

    /// The host work: called with the guard's stats of this step (already on the GPU, so
    /// `applied_steps` is exact); the stepper then records [`Program::record`] in a second
    /// submit. Only on the rare steps [`Program::host_work_due`] asks for.
    fn host_work(&mut self, _cx: &Step<'_, Self::Config>, _stats: &StepStats) -> Result<()> {
        Ok(())
    }

    /// Writes this step's scalars and records its dispatches (after the guard's).
    fn record(&mut self, cx: &Step<'_, Self::Config>, rec: &mut StepRecorder);

    /// State arenas by PyTorch field name (checkpointed per parameter).
    fn state(&self) -> Vec<(&'static str, &Arena)> {
        Vec::new()
    }

    /// Whole buffers of state not shaped like the parameters (M-FAC's window), checkpointed
    /// as tensors `(name, buffer, shape)`.
    fn whole_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
        Vec::new()
    }

    /// Bytes of [`Program::state`] and [`Program::whole_buffers`] as allocated.
    fn state_bytes(&self) -> u64 {
        let arenas: u64 = self
            .state()
            .iter()
            .flat_map(|(_, a)| a.chunks.iter().map(|c| c.size()))
            .sum();
        let whole: u64 = self.whole_buffers().iter().map(|(_, b, _)| b.size()).sum();
        arenas + whole
    }

    /// Values of [`Program::COUNTERS`].
    fn counters(&self) -> Vec<u64> {
        Vec::new()
    }

    /// The step guard was reconfigured (a program with a guard of its own follows).
    fn guard_changed(&mut self, _engine: &Engine, _guard: GuardConfig) {}

    /// After a checkpoint load: the saved [`Program::COUNTERS`], and whatever the program
    /// rebuilds from restored state.
    fn restored(&mut self, _counters: &[u64]) -> Result<()> {
        Ok(())
    }

    /// Minimal f32 traffic of one step in bytes per parameter (reads of the parameter, the
    /// gradient, every state and input; writes of the parameter and every state it changes),
    /// for a single-pass elementwise program; `None` for the structured ones.
    fn bytes_per_element(_config: &Self::Config) -> Option<usize> {
        None
    }

    /// How a training loop drives the optimizer: most need only `step`; Sophia and AdaHessian
    /// have calls of their own.
    fn driver(stepper: Stepper<Self>) -> Driver {
        Driver::Plain(Box::new(stepper))
    }
}
