//! [`Stepper`]: what every optimizer has, written once. It resolves the groups (unknown,
//! duplicate or missing groups are typed errors, for every optimizer), owns the step guard
//! over all of its parameters, the recorder, the counters and the schedule, checks the
//! parameter set, and implements [`Optimizer`] — stats, timing, checkpoints included. A
//! [`Program`] brings the rest.
//!
//! A hybrid (Muon + AdamW, ROOT + AdamW) is `Stepper<A, B>`: two programs over disjoint
//! groups, one guard over both (global clipping; a non-finite gradient anywhere skips both),
//! one submit. A single optimizer is `Stepper<A>`, whose second part is [`Alone`].
//!
//! Step counting: the host counts `iteration` (every `step` call; drives the schedule, as a
//! PyTorch LR scheduler is stepped whether or not AMP skipped the update) and its expectation
//! of the applied-step count `t`, from which programs compute bias corrections in f64. The GPU
//! counts applied and skipped steps itself; after a skip the host has not read yet, kernels
//! recompute the scalars from the GPU's count, so results stay right without a readback.

use crate::checkpoint;
use crate::optimizer::Optimizer;
use crate::program::{check_all_claimed, resolve, Build, Flags, Groups, Program, Step};
use serde::{Deserialize, Serialize};
use wgopt_reference::optim::OptimizerConfig;
use wgopt_reference::schedule::Schedule;
use wgopt_reference::RefError;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::{
    Engine, Error, GuardConfig, Kernel, ParamSet, Result, StepRecorder, StepStats,
    MAX_TIMED_DISPATCHES,
};

/// Host-side step bookkeeping: the schedule, the number of `step` calls (`iteration`, drives
/// the schedule), the applied-step count the host expects and the skips last read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Counters {
    pub schedule: Schedule,
    pub iteration: u64,
    pub expected_applied: u64,
    pub skipped: u64,
}

impl Counters {
    fn new() -> Counters {
        Counters {
            schedule: Schedule::Constant,
            iteration: 0,
            expected_applied: 0,
            skipped: 0,
        }
    }

    /// (lr multiplier, applied step `t`) of the step about to be recorded.
    fn next(&self) -> (f64, u64) {
        (
            self.schedule.multiplier(self.iteration),
            self.expected_applied + 1,
        )
    }

    fn sync(&mut self, s: &StepStats) {
        self.expected_applied = s.applied_steps as u64;
        self.skipped = s.skipped_steps as u64;
    }
}

/// (engine, parameters, lr multiplier, expected applied step) of the step being recorded.
type StepArgs<'a> = (&'a Engine, &'a ParamSet, f64, u64);

/// One program and its groups.
#[derive(Debug)]
pub(crate) struct Part<P: Program> {
    pub(crate) groups: Groups<P::Config>,
    pub(crate) program: P,
}

impl<P: Program> Part<P> {
    fn record(&mut self, cx: StepArgs<'_>, rec: &mut StepRecorder) {
        let t = cx.3;
        let (step, program) = self.step_view(cx, t);
        program.record(&step, rec);
    }

    /// Host work with this step's guard stats; `t` becomes the GPU's exact count.
    fn host_work(&mut self, cx: StepArgs<'_>, stats: &StepStats) -> Result<()> {
        let (step, program) = self.step_view(cx, stats.applied_steps as u64);
        program.host_work(&step, stats)
    }

    /// What a program sees of step `t`, beside the program itself (borrowed apart from the
    /// groups the view holds).
    fn step_view<'a>(&'a mut self, cx: StepArgs<'a>, t: u64) -> (Step<'a, P::Config>, &'a mut P) {
        let (engine, params, lr_multiplier, _) = cx;
        let step = Step {
            engine,
            params,
            groups: &self.groups,
            lr_multiplier,
            t,
        };
        (step, &mut self.program)
    }

    /// Replaces one group's config; flags that chose kernels and plans must stay.
    fn set_config(&mut self, label: &str, config: P::Config) -> Result<()> {
        config.validate()?;
        let g = self
            .groups
            .get_mut(label)
            .ok_or_else(|| Error::UnknownGroup {
                optimizer: P::name(&[&config]).into(),
                group: label.into(),
                known: String::new(),
            })?;
        if P::plan_flags(&g.config) != P::plan_flags(&config) {
            return Err(Error::InvalidHyperparameter(format!(
                "group {label:?}: {:?} cannot change after construction (now {:?})",
                P::plan_flags(&config),
                P::plan_flags(&g.config)
            )));
        }
        g.config = config;
        Ok(())
    }
}

/// The group config of [`Alone`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoConfig;

impl OptimizerConfig for NoConfig {
    fn validate(&self) -> Result<(), RefError> {
        Ok(())
    }

    fn lr(&self) -> f64 {
        0.0
    }
}

/// No second program: `Stepper<A>` (= `Stepper<A, Alone>`) is a single optimizer.
#[derive(Debug)]
pub enum Alone {}

impl Program for Alone {
    type Config = NoConfig;
    const PART: &'static str = "";

    fn name(_: &[&NoConfig]) -> &'static str {
        ""
    }

    fn kernel_flags(_: &NoConfig) -> Flags {
        Vec::new()
    }

    fn kernels() -> Vec<&'static Kernel> {
        Vec::new()
    }

    fn build(_: &Build<'_, NoConfig>) -> Result<Self> {
        Err(Error::Internal("Alone has no program to build".into()))
    }

    fn record(&mut self, _: &Step<'_, NoConfig>, _: &mut StepRecorder) {
        match *self {}
    }
}

/// What every part's [`Build`] context shares.
struct Shared<'a> {
    engine: &'a Engine,
    params: &'a ParamSet,
    stats: &'a wgpu::Buffer,
    inputs: &'a [(&'static str, Arena)],
    seed: u64,
    guard: GuardConfig,
}

impl Shared<'_> {
    fn program<P: Program>(&self, groups: &Groups<P::Config>) -> Result<P> {
        P::build(&Build {
            engine: self.engine,
            params: self.params,
            groups,
            stats: self.stats,
            inputs: self.inputs,
            seed: self.seed,
            guard: self.guard,
        })
    }
}

/// The shared stepper: programs `A` (and `B`, for a hybrid) with one guard and one submit.
pub struct Stepper<A: Program, B: Program = Alone> {
    pub(crate) engine: Engine,
    param_set: u64,
    name: String,
    pub(crate) guard: Guard,
    inputs: Vec<(&'static str, Arena)>,
    recorder: StepRecorder,
    pub(crate) counters: Counters,
    pub(crate) first: Part<A>,
    pub(crate) second: Option<Part<B>>,
    /// What the last `load` changed (see [`Optimizer::replaced_by_load`]).
    pub(crate) replaced: Vec<String>,
}

impl<A: Program, B: Program> std::fmt::Debug for Stepper<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(&self.name)
            .field("groups", &self.first.groups)
            .field("partner", &self.second.as_ref().map(|p| &p.groups))
            .field("iteration", &self.counters.iteration)
            .finish()
    }
}

impl<A: Program> Stepper<A> {
    /// The optimizer over the named groups, each with its own hyperparameters. Every group of
    /// the parameter set must be given exactly once.
    pub fn new(
        params: &ParamSet,
        groups: &[(String, A::Config)],
        guard: GuardConfig,
    ) -> Result<Self> {
        Self::with_seed(params, groups, guard, 0)
    }

    /// As [`Stepper::new`], with the seed of the program's random probes (SophiaH,
    /// AdaHessian).
    pub fn with_seed(
        params: &ParamSet,
        groups: &[(String, A::Config)],
        guard: GuardConfig,
        seed: u64,
    ) -> Result<Self> {
        Self::assemble(params, groups, None, guard, seed)
    }

    /// One config for every group of `params`, the default guard.
    pub fn all(params: &ParamSet, config: A::Config) -> Result<Self> {
        let groups: Vec<(String, A::Config)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), config.clone()))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }
}

impl<A: Program, B: Program> Stepper<A, B> {
    /// A hybrid: `A` on `first`, `B` on `second` (disjoint groups covering the set), one guard.
    pub fn pair(
        params: &ParamSet,
        first: &[(String, A::Config)],
        second: &[(String, B::Config)],
        guard: GuardConfig,
    ) -> Result<Self> {
        Self::assemble(params, first, Some(second), guard, 0)
    }

    fn assemble(
        params: &ParamSet,
        first: &[(String, A::Config)],
        second: Option<&[(String, B::Config)]>,
        guard: GuardConfig,
        seed: u64,
    ) -> Result<Self> {
        let engine = params.engine().clone();
        let layout = params.layout();
        let name = match second {
            None => A::name(&first.iter().map(|g| &g.1).collect::<Vec<_>>()).to_string(),
            Some(s) => format!(
                "{}+{}",
                A::name(&first.iter().map(|g| &g.1).collect::<Vec<_>>()),
                B::name(&s.iter().map(|g| &g.1).collect::<Vec<_>>())
            ),
        };
        let mut taken = Vec::new();
        let groups_a = resolve(&name, layout, first, &mut taken, A::kernel_flags)?;
        let groups_b = second
            .map(|s| resolve(&name, layout, s, &mut taken, B::kernel_flags))
            .transpose()?;
        check_all_claimed(&name, layout, &taken)?;
        let inputs: Vec<(&'static str, Arena)> = A::INPUTS
            .iter()
            .chain(if second.is_some() { B::INPUTS } else { &[] })
            .map(|n| (*n, Arena::new(&engine, layout, n)))
            .collect();
        let mut slots: Vec<usize> = groups_a.slots().to_vec();
        slots.extend(groups_b.iter().flat_map(|g| g.slots().iter().copied()));
        slots.sort_unstable();
        let refs: Vec<&Arena> = inputs.iter().map(|(_, a)| a).collect();
        let guard_config = guard;
        let guard = Guard::with_inputs(&engine, params, &slots, guard, &refs)?;
        let build = Shared {
            engine: &engine,
            params,
            stats: guard.stats_buffer(),
            inputs: &inputs,
            seed,
            guard: guard_config,
        };
        let program_a = build.program::<A>(&groups_a)?;
        let second = match groups_b {
            Some(g) => Some(Part {
                program: build.program::<B>(&g)?,
                groups: g,
            }),
            None => None,
        };
        Ok(Stepper {
            param_set: params.id(),
            name,
            guard,
            inputs,
            recorder: StepRecorder::new(),
            counters: Counters::new(),
            first: Part {
                groups: groups_a,
                program: program_a,
            },
            second,
            engine,
            replaced: Vec::new(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The first (or only) program.
    pub fn program(&self) -> &A {
        &self.first.program
    }

    pub(crate) fn program_mut(&mut self) -> &mut A {
        &mut self.first.program
    }

    /// The first program's groups and configs.
    pub fn groups(&self) -> &Groups<A::Config> {
        &self.first.groups
    }

    /// Layout indices of every parameter this optimizer updates.
    pub fn slots(&self) -> Vec<usize> {
        let mut s = self.first.groups.slots().to_vec();
        s.extend(
            self.second
                .iter()
                .flat_map(|p| p.groups.slots().iter().copied()),
        );
        s.sort_unstable();
        s
    }

    /// The per-step input arena `name` (e.g. AdaHessian's `hvp`): fill it on the GPU, or with
    /// `Arena::write`.
    pub fn input_arena(&self, name: &str) -> Option<&Arena> {
        self.inputs.iter().find(|(n, _)| *n == name).map(|(_, a)| a)
    }

    /// Changes one group's hyperparameters (flags that select kernels or plans must stay).
    pub fn set_group_config(&mut self, label: &str, config: A::Config) -> Result<()> {
        self.first.set_config(label, config)
    }

    /// Changes one group of a hybrid's second part.
    pub fn set_partner_config(&mut self, label: &str, config: B::Config) -> Result<()> {
        match &mut self.second {
            Some(p) => p.set_config(label, config),
            None => Err(Error::UnknownGroup {
                optimizer: self.name.clone(),
                group: label.into(),
                known: "(no second part)".into(),
            }),
        }
    }

    pub(crate) fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::WrongParamSet {
                optimizer: self.name.clone(),
            });
        }
        Ok(())
    }

    /// The optimizer name a checkpoint carries.
    pub(crate) fn checkpoint_name(&self) -> String {
        match &self.second {
            None => A::checkpoint_name(&self.first.groups.configs()).to_string(),
            Some(_) => self.name.clone(),
        }
    }

    /// Sets every counter (after a checkpoint load).
    pub(crate) fn restore_counters(&mut self, counters: Counters) {
        self.guard.set_counters(
            &self.engine,
            counters.expected_applied as u32,
            counters.skipped as u32,
        );
        self.counters = counters;
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl<A: Program, B: Program> Optimizer for Stepper<A, B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn step(&mut self, params: &mut ParamSet) -> Result<()> {
        self.check_params(params)?;
        let (lr_multiplier, t) = self.counters.next();
        self.first.program.ready(t)?;
        if let Some(p) = &self.second {
            p.program.ready(t)?;
        }
        if !(lr_multiplier.is_finite() && lr_multiplier >= 0.0) {
            return Err(Error::InvalidHyperparameter(format!(
                "the schedule gives lr multiplier {lr_multiplier} at step {}",
                self.counters.iteration
            )));
        }
        params.take_fresh_grads()?;
        let rec = &mut self.recorder;
        rec.take_copies(params);
        self.guard.record(rec);
        let cx = (&self.engine, &*params, lr_multiplier, t);
        let host_work = self.first.program.host_work_due(t)
            || self
                .second
                .as_ref()
                .is_some_and(|p| p.program.host_work_due(t));
        let synced = if host_work {
            // The guard (and the gradient copies) first, so the host work sees this step's
            // gradients and the GPU's exact step count.
            rec.submit(&self.engine)?;
            let s = self.guard.read_stats(&self.engine)?;
            self.first.host_work(cx, &s)?;
            if let Some(p) = &mut self.second {
                p.host_work(cx, &s)?;
            }
            Some(s)
        } else {
            None
        };
        let cx = match synced {
            Some(s) if s.found_inf == 0 => (cx.0, cx.1, cx.2, s.applied_steps as u64),
            _ => cx,
        };
        self.first.record(cx, rec);
        if let Some(p) = &mut self.second {
            p.record(cx, rec);
        }
        rec.submit(&self.engine)?;
        self.counters.iteration += 1;
        match synced {
            // The stats already count this step.
            Some(s) => self.counters.sync(&s),
            None => self.counters.expected_applied += 1,
        }
        Ok(())
    }

    fn state_bytes(&self) -> u64 {
        let mut bytes = self.first.program.state_bytes();
        if let Some(p) = &self.second {
            bytes += p.program.state_bytes();
        }
        bytes
    }

    fn stats(&mut self) -> Result<StepStats> {
        let s = self.guard.read_stats(&self.engine)?;
        self.counters.sync(&s);
        Ok(s)
    }

    fn param_grad_norms(&mut self) -> Result<Vec<f32>> {
        self.guard.read_param_norms(&self.engine)
    }

    fn set_schedule(&mut self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.counters.schedule = schedule;
        Ok(())
    }

    fn lr_multiplier(&self) -> f64 {
        self.counters.next().0
    }

    fn set_guard(&mut self, guard: GuardConfig) -> Result<()> {
        guard.validate()?;
        self.guard.reconfigure(&self.engine, guard);
        self.first.program.guard_changed(&self.engine, guard);
        if let Some(p) = &mut self.second {
            p.program.guard_changed(&self.engine, guard);
        }
        Ok(())
    }

    fn iteration(&self) -> u64 {
        self.counters.iteration
    }

    fn dispatches_per_step(&self) -> usize {
        self.recorder.last_dispatch_count()
    }

    fn enable_timing(&mut self) -> Result<()> {
        self.recorder
            .enable_timing(&self.engine, MAX_TIMED_DISPATCHES)
    }

    fn timings(&self) -> Result<Vec<(&'static str, f64)>> {
        self.recorder.read_timings(&self.engine)
    }

    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>> {
        self.check_params(params)?;
        self.stats()?;
        checkpoint::save(self, params)
    }

    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()> {
        self.check_params(params)?;
        checkpoint::load(self, params, bytes)
    }

    fn replaced_by_load(&self) -> &[String] {
        &self.replaced
    }
}
