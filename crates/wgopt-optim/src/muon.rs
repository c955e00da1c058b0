//! Muon on the GPU (KellerJordan/Muon semantics; reference twin `wgopt_reference::optim::muon`).
//!
//! A step is: [step guard] → `optim/muon_momentum.wgsl` (momentum and Nesterov blend into the
//! update arena) → Newton–Schulz in place on the update arena (one plan per arena chunk and
//! matrix shape, so same-shape parameters share one dispatch chain) → `optim/muon_apply.wgsl`
//! (decay and the shape-scaled step). All of it one submit; plans, buffers and bind groups are
//! built once.
//!
//! ROOT is this pipeline with [`MuonConfig::root`]: sum-form momentum, and before Newton–Schulz
//! an exact per-matrix quantile of |U| on the GPU (`reduce/quantile_*.wgsl`, radix select) whose
//! soft-threshold is fused into Newton–Schulz's normalisation. [`Root`] / [`RootAdamW`] name it.
//!
//! [`MuonAdamW`] is the standard hybrid: Muon for hidden ≥2-D weights, AdamW for embeddings,
//! the head and 1-D parameters, one step guard over all of them (global clipping, a non-finite
//! gradient anywhere skips both), one submit.

use crate::checkpoint::{self, Contents, File, Stateful};
use crate::fused::Fused;
use crate::matrices::{matrix_batches, MatrixBatch};
use crate::optimizer::{counter_methods, submit_step, Counters, Optimizer};
use crate::routing::{Matcher, Router};
use crate::{Adam, AdamConfig};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::muon::MomentumForm;
use wgopt_reference::optim::MuonConfig;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::elementwise::ElementwiseKernel;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::linalg::{Clamp, NewtonSchulzPlan};
use wgopt_scheduler::quantile::{AbsQuantile, QuantileSource};
use wgopt_scheduler::{
    Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder, StepStats,
};

/// Per-group scalars of muon_momentum.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct MuonMomentumSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub beta: f32,
    pub one_minus_beta: f32,
    pub _pad1: f32,
    pub _pad2: f32,
}

/// Per-parameter scalars of muon_apply.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct MuonApplySegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub scale: f32,
    pub decay: f32,
    pub neg_lr: f32,
    pub _pad1: f32,
}

enum GuardSource {
    Own(Guard),
    /// Another optimizer's guard runs first in the same submit (the hybrid).
    Shared,
}

/// Muon over some groups of a parameter set.
pub struct Muon {
    engine: Engine,
    param_set: u64,
    groups: Vec<(usize, String, MuonConfig)>,
    slots: Vec<usize>,
    shapes: Vec<Vec<usize>>,
    guard: GuardSource,
    momentum: Arena,
    momentum_kernel: ElementwiseKernel,
    /// ROOT's per-matrix thresholds, when some group clamps.
    quantile: Option<AbsQuantile>,
    plans: Vec<NewtonSchulzPlan>,
    apply_kernel: ElementwiseKernel,
    recorder: StepRecorder,
    counters: Counters,
    scratch_momentum: Vec<MuonMomentumSegment>,
    scratch_apply: Vec<MuonApplySegment>,
    _update: Arena,
}

impl std::fmt::Debug for Muon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Muon")
            .field("groups", &self.groups)
            .field("iteration", &self.counters.iteration)
            .finish()
    }
}

impl Muon {
    /// Muon over the named groups, with its own step guard.
    pub fn new(
        params: &ParamSet,
        groups: &[(String, MuonConfig)],
        guard: GuardConfig,
    ) -> Result<Muon> {
        Self::build(params, groups, Some(guard), None)
    }

    fn build(
        params: &ParamSet,
        groups: &[(String, MuonConfig)],
        guard: Option<GuardConfig>,
        shared_stats: Option<&wgpu::Buffer>,
    ) -> Result<Muon> {
        let engine = params.engine().clone();
        let layout = params.layout();
        if groups.is_empty() {
            return Err(Error::InvalidHyperparameter(
                "muon: no parameter groups given".into(),
            ));
        }
        let mut resolved = Vec::new();
        for (label, cfg) in groups {
            cfg.validate()
                .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
            if (cfg.nesterov, cfg.momentum_form)
                != (groups[0].1.nesterov, groups[0].1.momentum_form)
            {
                return Err(Error::InvalidHyperparameter(
                    "muon: nesterov and momentum_form must agree across groups".into(),
                ));
            }
            resolved.push((layout.group_index(label)?, label.clone(), cfg.clone()));
        }
        resolved.sort_by_key(|g| g.0);
        let group_ids: Vec<usize> = resolved.iter().map(|g| g.0).collect();
        let slots: Vec<usize> = (0..layout.slots.len())
            .filter(|&i| group_ids.contains(&layout.slots[i].group))
            .collect();
        let batches = matrix_batches(layout, &slots, "Muon", engine.chunk_bytes())?;
        let momentum = Arena::new(&engine, layout, "momentum_buffer");
        let update = Arena::new(&engine, layout, "muon update");
        let (guard, stats) = match (guard, shared_stats) {
            (_, Some(stats)) => (GuardSource::Shared, stats.clone()),
            (Some(cfg), None) => {
                let g = Guard::new(&engine, params, &slots, cfg)?;
                let s = g.stats_buffer().clone();
                (GuardSource::Own(g), s)
            }
            (None, None) => return Err(Error::InvalidHyperparameter("muon: no guard".into())),
        };
        let first = &resolved[0].2;
        let sum_form = first.momentum_form == MomentumForm::Sum;
        let momentum_kernel = ElementwiseKernel::new(
            &engine,
            ShaderId::MuonMomentum,
            &[
                ("NESTEROV", first.nesterov as u8 as f64),
                ("SUM_FORM", sum_form as u8 as f64),
            ],
            layout,
            &group_ids,
            std::mem::size_of::<MuonMomentumSegment>(),
            |c| {
                vec![
                    stats.clone(),
                    params.grad_arena().chunks[c].clone(),
                    momentum.chunks[c].clone(),
                    update.chunks[c].clone(),
                ]
            },
        );
        let apply_kernel = ElementwiseKernel::per_parameter(
            &engine,
            ShaderId::MuonApply,
            &[],
            layout,
            &group_ids,
            std::mem::size_of::<MuonApplySegment>(),
            |c| {
                vec![
                    stats.clone(),
                    params.param_arena().chunks[c].clone(),
                    update.chunks[c].clone(),
                ]
            },
        );
        let cfg_of = |group: usize| {
            &resolved
                .iter()
                .find(|g| g.0 == group)
                .expect("group resolved above")
                .2
        };
        let (quantile, clamp_bases) = build_quantile(&engine, &update, &batches, cfg_of)?;
        // One Newton–Schulz plan per (chunk, group, matrix shape), in place on the update arena.
        let mut plans = Vec::new();
        for (
            MatrixBatch {
                chunk,
                group,
                rows,
                cols,
                offsets,
            },
            clamp_base,
        ) in batches.iter().zip(&clamp_bases)
        {
            let cfg = cfg_of(*group);
            let coefficients: Vec<(f32, f32, f32)> = cfg
                .schedule
                .coefficients(*rows, *cols, cfg.ns_steps)
                .into_iter()
                .map(|(a, b, c)| (a as f32, b as f32, c as f32))
                .collect();
            let buf = &update.chunks[*chunk];
            let clamp = match (&quantile, clamp_base) {
                (Some(q), Some(base)) => Some(Clamp {
                    thresholds: q.thresholds(),
                    base: *base,
                }),
                _ => None,
            };
            plans.push(NewtonSchulzPlan::new_clamped(
                &engine,
                *rows as u32,
                *cols as u32,
                &coefficients,
                cfg.schedule.norm_factor() as f32,
                (buf, offsets),
                (buf, offsets),
                clamp,
                cfg.ns_precision,
            )?);
        }
        Ok(Muon {
            engine,
            param_set: params.id(),
            groups: resolved,
            slots,
            shapes: layout.slots.iter().map(|s| s.shape.clone()).collect(),
            guard,
            momentum,
            momentum_kernel,
            quantile,
            plans,
            apply_kernel,
            recorder: StepRecorder::new(),
            counters: Counters::new(),
            scratch_momentum: Vec::new(),
            scratch_apply: Vec::new(),
            _update: update,
        })
    }

    /// ROOT's per-matrix thresholds of the last step (`quantile(|U|, q) + 1e-9`, in the order
    /// of the clamped matrices), or `None` when no group clamps. Waits for the GPU.
    pub fn read_thresholds(&self) -> Result<Option<Vec<f32>>> {
        self.quantile
            .as_ref()
            .map(|q| q.read(&self.engine))
            .transpose()
    }

    /// The momentum buffers (state field `momentum_buffer`, same layout as the parameters).
    pub fn momentum_arena(&self) -> &Arena {
        &self.momentum
    }

    fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(
                "muon was built for another ParamSet".into(),
            ));
        }
        Ok(())
    }

    /// Records this step's dispatches into `rec` (the guard too when Muon owns it).
    fn record(&mut self, params: &ParamSet, rec: &mut StepRecorder) -> Result<()> {
        self.check_params(params)?;
        let (mult, t) = self.counters.next();
        let groups = &self.groups;
        let cfg_of = |g: usize| {
            &groups
                .iter()
                .find(|x| x.0 == g)
                .expect("planned from these groups")
                .2
        };
        self.momentum_kernel.write_segments(
            &self.engine,
            &mut self.scratch_momentum,
            |g, start, end| {
                let cfg = cfg_of(g);
                MuonMomentumSegment {
                    start,
                    end,
                    step: t as u32,
                    beta: cfg.momentum as f32,
                    one_minus_beta: (1.0 - cfg.momentum) as f32,
                    ..Default::default()
                }
            },
        );
        let layout = params.layout();
        let shapes = &self.shapes;
        self.apply_kernel.write_segments(
            &self.engine,
            &mut self.scratch_apply,
            |slot, start, end| {
                let cfg = cfg_of(layout.slots[slot].group);
                let lr = cfg.lr * mult;
                MuonApplySegment {
                    start,
                    end,
                    step: t as u32,
                    scale: cfg.scale_for(&shapes[slot]) as f32,
                    decay: (1.0 - lr * cfg.weight_decay) as f32,
                    neg_lr: (-lr) as f32,
                    ..Default::default()
                }
            },
        );
        if let GuardSource::Own(g) = &self.guard {
            g.record(rec);
        }
        self.momentum_kernel.record(rec);
        if let Some(q) = &self.quantile {
            q.record(rec);
        }
        for p in &self.plans {
            p.record(rec);
        }
        self.apply_kernel.record(rec);
        self.counters.advance();
        Ok(())
    }

    fn own_guard(&self) -> Result<&Guard> {
        match &self.guard {
            GuardSource::Own(g) => Ok(g),
            GuardSource::Shared => Err(Error::InvalidHyperparameter(
                "this Muon shares another optimizer's guard".into(),
            )),
        }
    }
}

/// The quantile selection over every clamped matrix, sources in chunk order, and for each batch
/// the index of its first matrix's threshold (`None` for batches that do not clamp).
fn build_quantile<'a>(
    engine: &Engine,
    update: &Arena,
    batches: &[MatrixBatch],
    cfg_of: impl Fn(usize) -> &'a MuonConfig,
) -> Result<(Option<AbsQuantile>, Vec<Option<u32>>)> {
    let mut bases = vec![None; batches.len()];
    let mut sources = Vec::new();
    let mut next = 0u32;
    for (c, buffer) in update.chunks.iter().enumerate() {
        let mut matrices = Vec::new();
        for (b, batch) in batches.iter().enumerate() {
            let Some(q) = cfg_of(batch.group).clamp_quantile else {
                continue;
            };
            if batch.chunk != c {
                continue;
            }
            bases[b] = Some(next);
            let len = (batch.rows * batch.cols) as u32;
            matrices.extend(batch.offsets.iter().map(|&o| (o, len, q)));
            next += batch.offsets.len() as u32;
        }
        if !matrices.is_empty() {
            sources.push(QuantileSource { buffer, matrices });
        }
    }
    if sources.is_empty() {
        return Ok((None, bases));
    }
    // ROOT: `torch.quantile(U.abs(), q) + 1e-9`.
    Ok((Some(AbsQuantile::new(engine, &sources, 1e-9)?), bases))
}

impl Optimizer for Muon {
    fn name(&self) -> &'static str {
        if self.groups.iter().all(|g| g.2.is_root()) {
            "root"
        } else {
            "muon"
        }
    }

    counter_methods!();

    fn stats(&mut self) -> Result<StepStats> {
        let s = self.own_guard()?.read_stats(&self.engine)?;
        self.counters.sync(&s);
        Ok(s)
    }

    fn param_grad_norms(&mut self) -> Result<Vec<f32>> {
        self.own_guard()?.read_param_norms(&self.engine)
    }

    fn set_guard(&mut self, guard: GuardConfig) {
        if let GuardSource::Own(g) = &mut self.guard {
            g.reconfigure(&self.engine, guard);
        }
    }

    fn enable_timing(&mut self) -> Result<()> {
        self.recorder.enable_timing(&self.engine, 1024)
    }

    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>> {
        self.check_params(params)?;
        if let GuardSource::Own(_) = self.guard {
            self.stats()?;
        }
        checkpoint::save(self, params)
    }

    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()> {
        self.check_params(params)?;
        checkpoint::load(self, params, bytes)
    }
}

impl Stateful for Muon {
    type Config = MuonConfig;

    fn checkpoint_name(&self) -> &'static str {
        self.name()
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state_fields(&self) -> Vec<(&'static str, &Arena)> {
        vec![("momentum_buffer", &self.momentum)]
    }

    fn state_slots(&self) -> &[usize] {
        &self.slots
    }

    fn counters(&self) -> (u64, u64, u64) {
        self.counters.tuple()
    }

    fn group_configs(&self) -> Vec<(String, MuonConfig)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), c.clone()))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &MuonConfig, ours: &MuonConfig) -> Result<()> {
        saved
            .validate()
            .map_err(|e| Error::Checkpoint(format!("group {label:?}: {e}")))?;
        let plan_of = |c: &MuonConfig| {
            (
                c.nesterov,
                c.ns_steps,
                c.schedule.clone(),
                c.momentum_form,
                c.clamp_quantile,
                c.ns_precision,
            )
        };
        if plan_of(saved) != plan_of(ours) {
            return Err(Error::Checkpoint(format!(
                "group {label:?} was saved with (nesterov, ns_steps, schedule, momentum_form, clamp_quantile, ns_precision) = {:?}; \
                 this optimizer's kernel flags and Newton–Schulz plans use {:?}",
                plan_of(saved),
                plan_of(ours)
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<MuonConfig>,
        schedule: Schedule,
    ) {
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.2 = c;
        }
        self.counters.restore(iteration, applied, skipped, schedule);
        if let GuardSource::Own(g) = &self.guard {
            g.set_counters(&self.engine, applied as u32, skipped as u32);
        }
    }
}

/// ROOT: [`Muon`] with [`MuonConfig::root`] groups (its name and checkpoints say "root").
pub type Root = Muon;

/// ROOT with its AdamW fallback ([`AdamConfig::root_fallback`]); see [`MuonAdamW::root_router`].
pub type RootAdamW = MuonAdamW;

/// Muon for hidden matrices plus AdamW for the rest, one guard, one submit.
pub struct MuonAdamW {
    engine: Engine,
    pub muon: Muon,
    pub adamw: Adam,
    recorder: StepRecorder,
}

impl std::fmt::Debug for MuonAdamW {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MuonAdamW")
            .field("muon", &self.muon)
            .field("adamw", &self.adamw)
            .finish()
    }
}

impl MuonAdamW {
    /// The standard split: parameters with at least 2 dimensions go to "muon", except
    /// embeddings and the output head (names containing "embed", "wte", "wpe", "lm_head" or
    /// "head"), which join 1-D parameters in "adamw". Add rules before these to override.
    pub fn router() -> Router {
        Router::new("muon")
            .rule(Matcher::NdimAtMost(1), "adamw")
            .rule(Matcher::NameContains("embed".into()), "adamw")
            .rule(Matcher::NameContains("wte".into()), "adamw")
            .rule(Matcher::NameContains("wpe".into()), "adamw")
            .rule(Matcher::NameContains("head".into()), "adamw")
    }

    /// ROOT's split (example_train.py): only 2-D weights are orthogonalised ("muon" group);
    /// 1-D, ≥3-D, embeddings and the head go to the fallback ("adamw" group).
    pub fn root_router() -> Router {
        Self::router().rule(Matcher::NdimAtLeast(3), "adamw")
    }

    /// ROOT with its defaults on the "muon" group and its AdamW fallback on the "adamw" group
    /// (as [`MuonAdamW::root_router`] labels them), both at learning rate `lr`.
    pub fn root(params: &ParamSet, lr: f64, guard: GuardConfig) -> Result<MuonAdamW> {
        Self::new(
            params,
            &[(
                "muon".into(),
                MuonConfig {
                    lr,
                    ..MuonConfig::root()
                },
            )],
            &[(
                "adamw".into(),
                AdamConfig {
                    lr,
                    ..AdamConfig::root_fallback()
                },
            )],
            guard,
        )
    }

    /// Muon on `muon_groups`, AdamW on `adamw_groups`; the guard covers both.
    pub fn new(
        params: &ParamSet,
        muon_groups: &[(String, MuonConfig)],
        adamw_groups: &[(String, AdamConfig)],
        guard: GuardConfig,
    ) -> Result<MuonAdamW> {
        let layout = params.layout();
        let mut ids = Vec::new();
        for g in muon_groups
            .iter()
            .map(|g| &g.0)
            .chain(adamw_groups.iter().map(|g| &g.0))
        {
            let id = layout.group_index(g)?;
            if ids.contains(&id) {
                return Err(Error::InvalidHyperparameter(format!(
                    "group {g:?} given to both Muon and AdamW"
                )));
            }
            ids.push(id);
        }
        let all: Vec<usize> = (0..layout.slots.len())
            .filter(|&i| ids.contains(&layout.slots[i].group))
            .collect();
        let adamw = Fused::new_guarding(params, adamw_groups, guard, &all)?;
        let muon = Muon::build(params, muon_groups, None, Some(adamw.stats_buffer()))?;
        Ok(MuonAdamW {
            engine: params.engine().clone(),
            muon,
            adamw,
            recorder: StepRecorder::new(),
        })
    }
}

impl Optimizer for MuonAdamW {
    fn name(&self) -> &'static str {
        if self.muon.name() == "root" {
            "root+adamw"
        } else {
            "muon+adamw"
        }
    }

    fn step(&mut self, params: &mut ParamSet) -> Result<()> {
        let mut rec = std::mem::take(&mut self.recorder);
        // AdamW records the shared guard first; Muon's kernels read its verdict.
        let (adamw, muon) = (&mut self.adamw, &mut self.muon);
        let r = submit_step(&self.engine, &mut rec, params, |p, rec| {
            adamw.record(p, rec)?;
            muon.record(p, rec)
        });
        self.recorder = rec;
        r
    }

    fn stats(&mut self) -> Result<StepStats> {
        let s = self.adamw.stats()?;
        self.muon.counters.sync(&s);
        Ok(s)
    }

    fn param_grad_norms(&mut self) -> Result<Vec<f32>> {
        self.adamw.param_grad_norms()
    }

    fn set_schedule(&mut self, schedule: Schedule) {
        self.muon.set_schedule(schedule.clone());
        self.adamw.set_schedule(schedule);
    }

    fn lr_multiplier(&self) -> f64 {
        self.adamw.lr_multiplier()
    }

    fn set_guard(&mut self, guard: GuardConfig) {
        self.adamw.set_guard(guard);
    }

    fn iteration(&self) -> u64 {
        self.adamw.iteration()
    }

    fn dispatches_per_step(&self) -> usize {
        self.recorder.last_dispatch_count()
    }

    fn enable_timing(&mut self) -> Result<()> {
        self.recorder.enable_timing(&self.engine, 1024)
    }

    fn timings(&self) -> Result<Vec<(&'static str, f64)>> {
        self.recorder.read_timings(&self.engine)
    }

    /// Both parts in one file: tensors `<param>.<field>` (disjoint parameters), metadata of
    /// the AdamW part under `adam.`, of the Muon part under `muon.`.
    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>> {
        self.muon.check_params(params)?;
        self.stats()?;
        let mut c = Contents::new(self.name());
        c.add(&self.adamw, params, "adam.")?;
        c.add(&self.muon, params, "muon.")?;
        c.serialize()
    }

    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()> {
        self.muon.check_params(params)?;
        let mut file = File::open(bytes, self.name())?;
        let a = file.validate(&self.adamw, params, "adam.")?;
        let m = file.validate(&self.muon, params, "muon.")?;
        file.check_nothing_left()?;
        checkpoint::apply(&mut self.adamw, params, a)?;
        checkpoint::apply(&mut self.muon, params, m)
    }
}
