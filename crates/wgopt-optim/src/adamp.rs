//! AdamP and SGDP on the GPU: three passes per step after the guard,
//! `shaders/optim/adamp_rows.wgsl` (per-row sums over every projectable parameter),
//! `adamp_decide.wgsl` (the channel/layer scale-invariance test, one workgroup per parameter)
//! and `adamp.wgsl` (moments, projection, decay, step); reference twin
//! `wgopt_reference::optim::adamp`. One submit, no readback.
//!
//! A parameter with more than one dimension must lie in one arena chunk (its rows are
//! reduced inside one binding); 1-D parameters are plain Adam/SGD steps and may be split.

use crate::blocks::{element_blocks, resolve_groups};
use crate::checkpoint::Stateful;
use crate::optimizer::{counter_methods, guarded_methods, Counters, Optimizer};
use bytemuck::{Pod, Zeroable};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;
use wgopt_reference::optim::{AdamPConfig, SgdpConfig};
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::{grid, Guard};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder};

/// Per-parameter scalars. WGSL twin: `AdamPParam` in shaders/optim/adamp_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct AdamPParam {
    pub row_base: u32,
    pub n_rows: u32,
    pub row_len: u32,
    pub projectable: u32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    pub neg_step: f32,
    pub decay: f32,
    pub decay_projected: f32,
    pub delta: f32,
    pub lr: f32,
    pub step: u32,
}

/// What AdamP and SGDP differ in.
pub trait Flavor: Clone + Debug + PartialEq + Serialize + DeserializeOwned + 'static {
    const NAME: &'static str;
    /// State fields by the reference's names, bound as `exp_avg`, `exp_avg_sq`.
    const FIELDS: &'static [&'static str];
    fn validate(&self) -> Result<()>;
    fn nesterov(&self) -> bool;
    fn lr(&self) -> f64;
    /// The step scalars (row fields left to the caller).
    fn scalars(&self, lr: f64, t: u64) -> AdamPParam;
}

impl Flavor for AdamPConfig {
    const NAME: &'static str = "adamp";
    const FIELDS: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];

    fn validate(&self) -> Result<()> {
        AdamPConfig::validate(self).map_err(|e| Error::InvalidHyperparameter(e.to_string()))
    }

    fn nesterov(&self) -> bool {
        self.nesterov
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, lr: f64, t: u64) -> AdamPParam {
        let (beta1, beta2) = self.betas;
        let t_i = t as i32;
        AdamPParam {
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction2_sqrt: (1.0 - beta2.powi(t_i)).sqrt() as f32,
            eps: self.eps as f32,
            neg_step: (-lr / (1.0 - beta1.powi(t_i))) as f32,
            decay: (1.0 - lr * self.weight_decay) as f32,
            decay_projected: (1.0 - lr * self.weight_decay * self.wd_ratio) as f32,
            delta: self.delta as f32,
            lr: lr as f32,
            step: t as u32,
            ..Default::default()
        }
    }
}

impl Flavor for SgdpConfig {
    const NAME: &'static str = "sgdp";
    const FIELDS: &'static [&'static str] = &["momentum"];

    fn validate(&self) -> Result<()> {
        SgdpConfig::validate(self).map_err(|e| Error::InvalidHyperparameter(e.to_string()))
    }

    fn nesterov(&self) -> bool {
        self.nesterov
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, lr: f64, t: u64) -> AdamPParam {
        let decay = |wr: f64| (1.0 - lr * self.weight_decay * wr / (1.0 - self.momentum)) as f32;
        AdamPParam {
            beta1: self.momentum as f32,
            one_minus_beta1: (1.0 - self.dampening) as f32,
            bias_correction2_sqrt: 1.0,
            eps: self.eps as f32,
            neg_step: (-lr) as f32,
            decay: decay(1.0),
            decay_projected: decay(self.wd_ratio),
            delta: self.delta as f32,
            lr: lr as f32,
            step: t as u32,
            ..Default::default()
        }
    }
}

/// AdamP or SGDP over some groups of a parameter set.
#[derive(Debug)]
pub struct Projected<F: Flavor> {
    engine: Engine,
    param_set: u64,
    groups: Vec<(usize, String, F)>,
    slots: Vec<usize>,
    states: Vec<(&'static str, Arena)>,
    guard: Guard,
    /// Per parameter k (= index into `slots`): row fields fixed, scalars rewritten each step.
    host_params: Vec<AdamPParam>,
    param_group: Vec<usize>,
    params_buf: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    recorder: StepRecorder,
    counters: Counters,
}

/// AdamP over a parameter set.
pub type AdamP = Projected<AdamPConfig>;
/// SGDP over a parameter set.
pub type Sgdp = Projected<SgdpConfig>;

impl<F: Flavor> Projected<F> {
    /// One config for every group.
    pub fn all(params: &ParamSet, cfg: F) -> Result<Self> {
        let groups: Vec<(String, F)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg.clone()))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }

    pub fn new(params: &ParamSet, groups: &[(String, F)], guard: GuardConfig) -> Result<Self> {
        let engine = params.engine().clone();
        let layout = params.layout();
        let (resolved, slots) = resolve_groups(F::NAME, layout, groups, |cfg: &F| {
            cfg.validate()?;
            if cfg.nesterov() != groups[0].1.nesterov() {
                return Err(Error::InvalidHyperparameter(format!(
                    "{}: nesterov selects the kernel and must agree across groups",
                    F::NAME
                )));
            }
            Ok(())
        })?;
        let states: Vec<(&'static str, Arena)> = F::FIELDS
            .iter()
            .map(|f| (*f, Arena::new(&engine, layout, f)))
            .collect();
        let guard = Guard::new(&engine, params, &slots, guard)?;
        // Rows of projectable parameters, per chunk: (start, len, global row, param).
        let mut host_params = Vec::with_capacity(slots.len());
        let mut param_group = Vec::with_capacity(slots.len());
        let mut rows: Vec<Vec<[u32; 4]>> = vec![Vec::new(); layout.chunk_lens.len()];
        // `sums` holds the per-parameter decisions first, then the rows.
        let mut row_base = slots.len() as u32;
        for (k, &i) in slots.iter().enumerate() {
            let slot = &layout.slots[i];
            let projectable = slot.shape.len() > 1;
            let n_rows = if projectable { slot.shape[0] } else { 1 };
            let row_len = (slot.len / n_rows.max(1)).max(1);
            if projectable && slot.is_split() {
                return Err(Error::InvalidHyperparameter(format!(
                    "{}: parameter {:?} spans several arena chunks; its rows must be reduced \
                     in one (raise EngineOptions::max_chunk_bytes or route it elsewhere)",
                    F::NAME,
                    slot.name
                )));
            }
            if projectable {
                for r in 0..n_rows {
                    rows[slot.chunk].push([
                        (slot.offset + r * row_len) as u32,
                        row_len as u32,
                        row_base + r as u32,
                        k as u32,
                    ]);
                }
            }
            host_params.push(AdamPParam {
                row_base,
                n_rows: n_rows as u32,
                row_len: row_len as u32,
                projectable: projectable as u32,
                ..Default::default()
            });
            param_group.push(slot.group);
            if projectable {
                row_base += n_rows as u32;
            }
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let params_buf = engine.create_buffer(
            "adamp params",
            (host_params.len().max(1) * std::mem::size_of::<AdamPParam>()) as u64,
            storage,
        );
        let sums = engine.create_buffer("adamp sums", row_base.max(1) as u64 * 16, storage);
        let dummy = engine.create_buffer("unused state", 16, wgpu::BufferUsages::STORAGE);
        let consts = [
            ("SGD", (F::NAME == "sgdp") as u8 as f64),
            ("NESTEROV", groups[0].1.nesterov() as u8 as f64),
        ];
        let rows_k = engine.kernel(ShaderId::AdamPRows, "main", &consts);
        let decide_k = engine.kernel(ShaderId::AdamPDecide, "main", &consts);
        let update_k = engine.kernel(ShaderId::AdamP, "main", &consts);
        let stats = guard.stats_buffer().clone();
        let state = |j: usize, chunk: usize| match states.get(j) {
            Some((_, a)) => a.chunks[chunk].clone(),
            None => dummy.clone(),
        };
        let mut dispatches = Vec::new();
        for (chunk, chunk_rows) in rows.iter().enumerate() {
            if chunk_rows.is_empty() {
                continue;
            }
            let buf = engine.create_buffer("adamp rows", chunk_rows.len() as u64 * 16, storage);
            engine
                .queue()
                .write_buffer(&buf, 0, bytemuck::cast_slice(chunk_rows));
            let bound = [
                params_buf.clone(),
                stats.clone(),
                buf,
                params.param_arena().chunks[chunk].clone(),
                params.grad_arena().chunks[chunk].clone(),
                state(0, chunk),
                state(1, chunk),
                sums.clone(),
            ];
            let refs: Vec<&wgpu::Buffer> = bound.iter().collect();
            dispatches.push(Dispatch {
                label: "optim/adamp_rows.wgsl",
                pipeline: rows_k.pipeline.clone(),
                bind_group: engine.bind_buffers("adamp_rows", &rows_k.layout, &refs),
                workgroups: grid(&engine, chunk_rows.len() as u32),
            });
        }
        if !host_params.is_empty() {
            dispatches.push(Dispatch {
                label: "optim/adamp_decide.wgsl",
                pipeline: decide_k.pipeline.clone(),
                bind_group: engine.bind_buffers(
                    "adamp_decide",
                    &decide_k.layout,
                    &[&params_buf, &stats, &sums],
                ),
                workgroups: grid(&engine, host_params.len() as u32),
            });
        }
        for (chunk, segs) in element_blocks(layout, &slots).iter().enumerate() {
            if segs.is_empty() {
                continue;
            }
            let buf = engine.create_buffer("adamp segments", segs.len() as u64 * 16, storage);
            engine
                .queue()
                .write_buffer(&buf, 0, bytemuck::cast_slice(segs));
            let bound = [
                buf,
                params_buf.clone(),
                stats.clone(),
                params.param_arena().chunks[chunk].clone(),
                params.grad_arena().chunks[chunk].clone(),
                state(0, chunk),
                state(1, chunk),
                sums.clone(),
            ];
            let refs: Vec<&wgpu::Buffer> = bound.iter().collect();
            dispatches.push(Dispatch {
                label: "optim/adamp.wgsl",
                pipeline: update_k.pipeline.clone(),
                bind_group: engine.bind_buffers("adamp", &update_k.layout, &refs),
                workgroups: grid(&engine, segs.len() as u32),
            });
        }
        Ok(Projected {
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
            recorder: StepRecorder::new(),
            counters: Counters::new(),
        })
    }

    fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(format!(
                "{} was built for another ParamSet",
                F::NAME
            )));
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
            let s = cfg.scalars(cfg.lr() * mult, t);
            *q = AdamPParam {
                row_base: q.row_base,
                n_rows: q.n_rows,
                row_len: q.row_len,
                projectable: q.projectable,
                ..s
            };
        }
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

impl<F: Flavor> Stateful for Projected<F> {
    type Config = F;

    fn checkpoint_name(&self) -> &'static str {
        F::NAME
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

    fn group_configs(&self) -> Vec<(String, F)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), c.clone()))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &F, ours: &F) -> Result<()> {
        saved.validate()?;
        if saved.nesterov() != ours.nesterov() {
            return Err(Error::Checkpoint(format!(
                "group {label:?} was saved with nesterov {}, this optimizer has {}",
                saved.nesterov(),
                ours.nesterov()
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<F>,
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

impl<F: Flavor> Optimizer for Projected<F> {
    fn name(&self) -> &'static str {
        F::NAME
    }

    counter_methods!();
    guarded_methods!();

    fn enable_timing(&mut self) -> Result<()> {
        let n = self.dispatches.len() as u32 + 2 * self.engine_chunks() + 1;
        self.recorder.enable_timing(&self.engine, n)
    }
}

impl<F: Flavor> Projected<F> {
    fn engine_chunks(&self) -> u32 {
        self.states
            .first()
            .map_or(1, |(_, a)| a.chunks.len() as u32)
    }
}
