//! FRUGAL on the GPU (column variant): `shaders/optim/frugal_columns.wgsl` rebuilds each 2-D
//! weight's state-full column subset on refresh steps (Philox keys, exact ⌊n·ρ⌋ smallest), then
//! `shaders/optim/frugal.wgsl` applies AdamW on those columns and on every non-2-D parameter,
//! signSGD elsewhere; reference twin `wgopt_reference::optim::frugal`. Refresh timing, the
//! statistics reset and the bias correction all follow the GPU's own applied-step count, so a
//! skipped step needs no readback. Checkpoints hold `exp_avg`/`exp_avg_sq`; the subset is
//! recomputed from (seed, slot, period) after a load.
//!
//! The optimizer state is kept full-size (zero outside the subset): the traffic of a projected
//! weight is 12 + 16ρ bytes per element as in the paper, but its memory is not yet compacted.

use crate::blocks::{element_blocks, resolve_groups};
use crate::checkpoint::Stateful;
use crate::optimizer::{counter_methods, guarded_methods, Counters, Optimizer};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::FrugalConfig;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::{grid, Guard};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder};

/// Per-parameter scalars. WGSL twin: `FrugalParam` in shaders/optim/frugal_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct FrugalParam {
    pub n_cols: u32,
    pub col_base: u32,
    pub update_gap: u32,
    pub active_cols: u32,
    pub slot: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub force_mask: u32,
    pub decay: f32,
    pub lr_scaled: f32,
    pub inactive_step: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub step: u32,
    pub _pad0: u32,
}

/// FRUGAL over some groups of a parameter set.
#[derive(Debug)]
pub struct Frugal {
    engine: Engine,
    param_set: u64,
    groups: Vec<(usize, String, FrugalConfig)>,
    slots: Vec<usize>,
    states: Vec<(&'static str, Arena)>,
    guard: Guard,
    host_params: Vec<FrugalParam>,
    param_group: Vec<usize>,
    params_buf: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    force_mask: bool,
    recorder: StepRecorder,
    counters: Counters,
}

impl Frugal {
    /// One config for every group.
    pub fn all(params: &ParamSet, cfg: FrugalConfig) -> Result<Self> {
        let groups: Vec<(String, FrugalConfig)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }

    pub fn new(
        params: &ParamSet,
        groups: &[(String, FrugalConfig)],
        guard: GuardConfig,
    ) -> Result<Self> {
        let engine = params.engine().clone();
        let layout = params.layout();
        let rule = groups.first().map(|g| g.1.inactive_update_rule);
        let (resolved, slots) = resolve_groups("frugal", layout, groups, |c: &FrugalConfig| {
            c.validate()
                .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
            if Some(c.inactive_update_rule) != rule {
                return Err(Error::InvalidHyperparameter(
                    "frugal: inactive_update_rule selects the kernel and must agree across groups"
                        .into(),
                ));
            }
            Ok(())
        })?;
        let mut host_params = Vec::with_capacity(slots.len());
        let mut param_group = Vec::with_capacity(slots.len());
        let mut col_base = 0u32;
        for &i in &slots {
            let slot = &layout.slots[i];
            let cfg = &resolved
                .iter()
                .find(|g| g.0 == slot.group)
                .expect("slots come from these groups")
                .2;
            let n_cols = if slot.shape.len() == 2 {
                slot.shape[1] as u32
            } else {
                0
            };
            host_params.push(FrugalParam {
                n_cols,
                col_base,
                update_gap: cfg.update_gap,
                active_cols: cfg.active_columns(n_cols as usize) as u32,
                slot: i as u32,
                seed_lo: cfg.seed as u32,
                seed_hi: (cfg.seed >> 32) as u32,
                ..Default::default()
            });
            param_group.push(slot.group);
            col_base += 2 * n_cols;
        }
        let states: Vec<(&'static str, Arena)> = ["exp_avg", "exp_avg_sq"]
            .into_iter()
            .map(|f| (f, Arena::new(&engine, layout, f)))
            .collect();
        let guard = Guard::new(&engine, params, &slots, guard)?;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let params_buf = engine.create_buffer(
            "frugal params",
            (host_params.len().max(1) * std::mem::size_of::<FrugalParam>()) as u64,
            storage,
        );
        let columns = engine.create_buffer("frugal columns", col_base.max(1) as u64 * 4, storage);
        let rule_code = rule.map_or(0, |r| r.code()) as f64;
        let columns_k = engine.kernel(ShaderId::FrugalColumns, "main", &[]);
        let update_k = engine.kernel(ShaderId::Frugal, "main", &[("RULE", rule_code)]);
        let stats = guard.stats_buffer().clone();
        let mut dispatches = vec![Dispatch {
            label: "optim/frugal_columns.wgsl",
            pipeline: columns_k.pipeline.clone(),
            bind_group: engine.bind_buffers(
                "frugal_columns",
                &columns_k.layout,
                &[&params_buf, &stats, &columns],
            ),
            workgroups: grid(&engine, host_params.len().max(1) as u32),
        }];
        for (chunk, blocks) in element_blocks(layout, &slots).iter().enumerate() {
            if blocks.is_empty() {
                continue;
            }
            let buf = engine.create_buffer("frugal blocks", blocks.len() as u64 * 16, storage);
            engine
                .queue()
                .write_buffer(&buf, 0, bytemuck::cast_slice(blocks));
            let bound = [
                buf,
                params_buf.clone(),
                stats.clone(),
                params.param_arena().chunks[chunk].clone(),
                params.grad_arena().chunks[chunk].clone(),
                states[0].1.chunks[chunk].clone(),
                states[1].1.chunks[chunk].clone(),
                columns.clone(),
            ];
            let refs: Vec<&wgpu::Buffer> = bound.iter().collect();
            dispatches.push(Dispatch {
                label: "optim/frugal.wgsl",
                pipeline: update_k.pipeline.clone(),
                bind_group: engine.bind_buffers("frugal", &update_k.layout, &refs),
                workgroups: grid(&engine, blocks.len() as u32),
            });
        }
        Ok(Frugal {
            engine,
            param_set: params.id(),
            groups: resolved,
            slots,
            states,
            guard,
            host_params,
            param_group,
            params_buf,
            dispatches,
            force_mask: false,
            recorder: StepRecorder::new(),
            counters: Counters::new(),
        })
    }

    fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(
                "frugal was built for another ParamSet".into(),
            ));
        }
        Ok(())
    }

    fn record(&mut self, params: &ParamSet, rec: &mut StepRecorder) -> Result<()> {
        self.check_params(params)?;
        let (mult, t) = self.counters.next();
        for (q, g) in self.host_params.iter_mut().zip(&self.param_group) {
            let cfg = &self
                .groups
                .iter()
                .find(|x| x.0 == *g)
                .expect("parameters come from these groups")
                .2;
            let lr = cfg.lr * mult;
            let scale = if q.n_cols > 0 {
                cfg.proj_params_lr_scale
            } else {
                1.0
            };
            q.force_mask = self.force_mask as u32;
            q.decay = (1.0 - lr * cfg.weight_decay) as f32;
            q.lr_scaled = (lr * scale) as f32;
            q.inactive_step = (lr * scale * cfg.inactive_lr_scale) as f32;
            q.beta1 = cfg.betas.0 as f32;
            q.beta2 = cfg.betas.1 as f32;
            q.eps = cfg.eps as f32;
            q.one_minus_beta1 = (1.0 - cfg.betas.0) as f32;
            q.one_minus_beta2 = (1.0 - cfg.betas.1) as f32;
            // Bias correction counts from the last refresh for projected parameters.
            let local = if q.n_cols > 0 {
                (t - 1) % q.update_gap as u64 + 1
            } else {
                t
            } as i32;
            q.step_size = (lr * scale / (1.0 - cfg.betas.0.powi(local))) as f32;
            q.bias_correction2_sqrt = (1.0 - cfg.betas.1.powi(local)).sqrt() as f32;
            q.step = t as u32;
        }
        self.force_mask = false;
        if !self.host_params.is_empty() {
            self.engine.queue().write_buffer(
                &self.params_buf,
                0,
                bytemuck::cast_slice(&self.host_params),
            );
        }
        self.guard.record(rec);
        for d in &self.dispatches {
            rec.push(d.clone());
        }
        self.counters.advance();
        Ok(())
    }
}

impl Stateful for Frugal {
    type Config = FrugalConfig;

    fn checkpoint_name(&self) -> &'static str {
        "frugal"
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

    fn group_configs(&self) -> Vec<(String, FrugalConfig)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), *c))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &FrugalConfig, ours: &FrugalConfig) -> Result<()> {
        saved
            .validate()
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
        if (
            saved.density,
            saved.update_gap,
            saved.seed,
            saved.inactive_update_rule,
        ) != (
            ours.density,
            ours.update_gap,
            ours.seed,
            ours.inactive_update_rule,
        ) {
            return Err(Error::Checkpoint(format!(
                "group {label:?}: density, update_gap, seed and inactive_update_rule fix the \
                 column subsets and kernel; saved {saved:?}, this optimizer {ours:?}"
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<FrugalConfig>,
        schedule: Schedule,
    ) {
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.2 = c;
        }
        self.counters.restore(iteration, applied, skipped, schedule);
        self.guard
            .set_counters(&self.engine, applied as u32, skipped as u32);
        self.force_mask = true;
    }
}

impl Optimizer for Frugal {
    fn name(&self) -> &'static str {
        "frugal"
    }

    counter_methods!();
    guarded_methods!();

    fn enable_timing(&mut self) -> Result<()> {
        let n = self.dispatches.len() as u32 + 2 * self.states[0].1.chunks.len() as u32 + 1;
        self.recorder.enable_timing(&self.engine, n)
    }
}
