//! SinkGD on the GPU (reference twin `wgopt_reference::optim::sinkgd`): stateless alternating
//! row/column normalisation of each matrix gradient, through the scale-vector trick (the
//! normalised matrix is never stored): per (chunk, group, shape) batch, L row passes
//! (`optim/sinkgd_rows.wgsl`) and L column passes (`optim/sinkgd_cols.wgsl`) update the scale
//! vectors, then `optim/sinkgd_apply.wgsl` applies the step. Embeddings, head and 1-D
//! parameters belong to another optimizer (AdamW), as in the paper's recipe.

use crate::checkpoint::{self, Stateful};
use crate::matrices::{matrix_batches, MatrixBatch};
use crate::optimizer::{counter_methods, Counters, Optimizer};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::SinkGdConfig;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{
    Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder, StepStats,
};

/// Uniform of the SinkGD kernels. WGSL twin in optim/sinkgd_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct SinkGdParams {
    pub rows: u32,
    pub cols: u32,
    pub first: u32,
    pub _pad: u32,
    pub eps: f32,
    pub sqrt_rows: f32,
    pub sqrt_cols: f32,
    pub decay: f32,
    pub neg_lr: f32,
    pub _pad1: f32,
    pub _pad2: f32,
    pub _pad3: f32,
}

/// One batch of same-shape matrices of one group in one chunk.
struct Plan {
    group: usize,
    base: SinkGdParams,
    apply_params: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
}

/// SinkGD over some groups of a parameter set.
pub struct SinkGd {
    engine: Engine,
    param_set: u64,
    groups: Vec<(usize, String, SinkGdConfig)>,
    slots: Vec<usize>,
    guard: Guard,
    plans: Vec<Plan>,
    recorder: StepRecorder,
    counters: Counters,
    _scratch: Vec<wgpu::Buffer>,
}

impl std::fmt::Debug for SinkGd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkGd")
            .field("groups", &self.groups)
            .field("iteration", &self.counters.iteration)
            .finish()
    }
}

impl SinkGd {
    pub fn new(
        params: &ParamSet,
        groups: &[(String, SinkGdConfig)],
        guard: GuardConfig,
    ) -> Result<SinkGd> {
        let engine = params.engine().clone();
        let layout = params.layout();
        let mut resolved = Vec::new();
        for (label, cfg) in groups {
            cfg.validate()
                .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
            if cfg.iterations != groups[0].1.iterations {
                return Err(Error::InvalidHyperparameter(
                    "sinkgd: iterations must agree across groups".into(),
                ));
            }
            resolved.push((layout.group_index(label)?, label.clone(), *cfg));
        }
        if resolved.is_empty() {
            return Err(Error::InvalidHyperparameter(
                "sinkgd: no parameter groups given".into(),
            ));
        }
        resolved.sort_by_key(|g| g.0);
        let ids: Vec<usize> = resolved.iter().map(|g| g.0).collect();
        let slots: Vec<usize> = (0..layout.slots.len())
            .filter(|&i| ids.contains(&layout.slots[i].group))
            .collect();
        let batches = matrix_batches(layout, &slots, "SinkGD", engine.chunk_bytes())?;
        let guard = Guard::new(&engine, params, &slots, guard)?;
        let stats = guard.stats_buffer().clone();
        let limit = engine.limits().max_compute_workgroups_per_dimension as usize;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let (rows_k, cols_k, apply_k) = (
            engine.kernel(ShaderId::SinkGdRows, "main", &[]),
            engine.kernel(ShaderId::SinkGdCols, "main", &[]),
            engine.kernel(ShaderId::SinkGdApply, "main", &[]),
        );
        let mut plans = Vec::new();
        let mut scratch = Vec::new();
        let iterations = resolved[0].2.iterations;
        for MatrixBatch {
            chunk,
            group,
            rows,
            cols,
            offsets,
        } in &batches
        {
            let batch = offsets.len();
            if batch > limit || *rows > limit {
                return Err(Error::OverLimit {
                    what: format!("SinkGD grid for {batch} × {rows}×{cols}"),
                    size: batch.max(*rows) as u64,
                    limit: limit as u64,
                });
            }
            let cfg = resolved
                .iter()
                .find(|g| g.0 == *group)
                .expect("resolved above")
                .2;
            let offs = engine.create_buffer("sinkgd offsets", batch as u64 * 4, storage);
            engine
                .queue()
                .write_buffer(&offs, 0, bytemuck::cast_slice(offsets));
            let r = engine.create_buffer("sinkgd row scales", (batch * rows) as u64 * 4, storage);
            let c =
                engine.create_buffer("sinkgd column scales", (batch * cols) as u64 * 4, storage);
            let grad = &params.grad_arena().chunks[*chunk];
            let base = SinkGdParams {
                rows: *rows as u32,
                cols: *cols as u32,
                eps: cfg.eps as f32,
                sqrt_rows: (*rows as f64).sqrt() as f32,
                sqrt_cols: (*cols as f64).sqrt() as f32,
                ..Default::default()
            };
            let mut dispatches = Vec::new();
            for it in 0..iterations {
                let p = SinkGdParams {
                    first: (it == 0) as u32,
                    ..base
                };
                let ub = engine.create_buffer(
                    "sinkgd params",
                    std::mem::size_of::<SinkGdParams>() as u64,
                    uniform,
                );
                engine.queue().write_buffer(&ub, 0, bytemuck::bytes_of(&p));
                let bg_r = engine.bind_buffers(
                    "sinkgd_rows",
                    &rows_k.layout,
                    &[&ub, &offs, &stats, grad, &r, &c],
                );
                let bg_c = engine.bind_buffers(
                    "sinkgd_cols",
                    &cols_k.layout,
                    &[&ub, &offs, &stats, grad, &r, &c],
                );
                dispatches.push(Dispatch {
                    label: ShaderId::SinkGdRows.path(),
                    pipeline: rows_k.pipeline.clone(),
                    bind_group: bg_r,
                    workgroups: [*rows as u32, batch as u32, 1],
                });
                dispatches.push(Dispatch {
                    label: ShaderId::SinkGdCols.path(),
                    pipeline: cols_k.pipeline.clone(),
                    bind_group: bg_c,
                    workgroups: [(*cols as u32).div_ceil(256), batch as u32, 1],
                });
                scratch.push(ub);
            }
            let apply_params = engine.create_buffer(
                "sinkgd apply params",
                std::mem::size_of::<SinkGdParams>() as u64,
                uniform,
            );
            let bg_a = engine.bind_buffers(
                "sinkgd_apply",
                &apply_k.layout,
                &[
                    &apply_params,
                    &offs,
                    &stats,
                    grad,
                    &r,
                    &c,
                    &params.param_arena().chunks[*chunk],
                ],
            );
            let wg = ((rows * cols) as u32)
                .div_ceil(256)
                .clamp(1, engine.max_workgroups());
            dispatches.push(Dispatch {
                label: ShaderId::SinkGdApply.path(),
                pipeline: apply_k.pipeline.clone(),
                bind_group: bg_a,
                workgroups: [wg, batch as u32, 1],
            });
            scratch.extend([offs, r, c]);
            plans.push(Plan {
                group: *group,
                base,
                apply_params,
                dispatches,
            });
        }
        Ok(SinkGd {
            engine,
            param_set: params.id(),
            groups: resolved,
            slots,
            guard,
            plans,
            recorder: StepRecorder::new(),
            counters: Counters::new(),
            _scratch: scratch,
        })
    }

    fn record(&mut self, params: &ParamSet, rec: &mut StepRecorder) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(
                "sinkgd was built for another ParamSet".into(),
            ));
        }
        let (mult, _) = self.counters.next();
        self.guard.record(rec);
        for plan in &self.plans {
            let cfg = &self
                .groups
                .iter()
                .find(|g| g.0 == plan.group)
                .expect("planned from these groups")
                .2;
            let lr_s = cfg.lr * mult * cfg.lr_scale;
            let p = SinkGdParams {
                decay: (1.0 - lr_s * cfg.weight_decay) as f32,
                neg_lr: (-lr_s) as f32,
                ..plan.base
            };
            self.engine
                .queue()
                .write_buffer(&plan.apply_params, 0, bytemuck::bytes_of(&p));
            for d in &plan.dispatches {
                rec.push(d.clone());
            }
        }
        self.counters.advance();
        Ok(())
    }
}

impl Optimizer for SinkGd {
    fn name(&self) -> &'static str {
        "sinkgd"
    }

    counter_methods!();

    fn stats(&mut self) -> Result<StepStats> {
        let s = self.guard.read_stats(&self.engine)?;
        self.counters.sync(&s);
        Ok(s)
    }

    fn param_grad_norms(&mut self) -> Result<Vec<f32>> {
        self.guard.read_param_norms(&self.engine)
    }

    fn set_guard(&mut self, guard: GuardConfig) {
        self.guard.reconfigure(&self.engine, guard);
    }

    fn enable_timing(&mut self) -> Result<()> {
        self.recorder.enable_timing(&self.engine, 1024)
    }

    fn save(&mut self, params: &ParamSet) -> Result<Vec<u8>> {
        self.stats()?;
        checkpoint::save(self, params)
    }

    fn load(&mut self, params: &ParamSet, bytes: &[u8]) -> Result<()> {
        checkpoint::load(self, params, bytes)
    }
}

/// Stateless: a checkpoint holds only counters, hyperparameters and the schedule.
impl Stateful for SinkGd {
    type Config = SinkGdConfig;

    fn checkpoint_name(&self) -> &'static str {
        "sinkgd"
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state_fields(&self) -> Vec<(&'static str, &Arena)> {
        Vec::new()
    }

    fn state_slots(&self) -> &[usize] {
        &self.slots
    }

    fn counters(&self) -> (u64, u64, u64) {
        self.counters.tuple()
    }

    fn group_configs(&self) -> Vec<(String, SinkGdConfig)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), *c))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &SinkGdConfig, ours: &SinkGdConfig) -> Result<()> {
        saved
            .validate()
            .map_err(|e| Error::Checkpoint(format!("group {label:?}: {e}")))?;
        if (saved.iterations, saved.eps) != (ours.iterations, ours.eps) {
            return Err(Error::Checkpoint(format!(
                "group {label:?} was saved with iterations={}, eps={}; this optimizer's plans use iterations={}, eps={}",
                saved.iterations, saved.eps, ours.iterations, ours.eps
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<SinkGdConfig>,
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
