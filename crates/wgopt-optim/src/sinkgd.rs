//! SinkGD on the GPU (reference twin `wgopt_reference::optim::sinkgd`): stateless alternating
//! row/column normalisation of each matrix gradient, through the scale-vector trick (the
//! normalised matrix is never stored): per (chunk, group, shape) batch, L row passes
//! (`optim/sinkgd_rows.wgsl`) and L column passes (`optim/sinkgd_cols.wgsl`) update the scale
//! vectors, then `optim/sinkgd_apply.wgsl` applies the step. Embeddings, head and 1-D
//! parameters belong to another optimizer (AdamW), as in the paper's recipe: `SinkGdAdamW`.

use crate::adam::AdamRule;
use crate::fused::Fused;
use crate::matrices::{matrix_batches, MatrixBatch};
use crate::program::{flag, Build, Flags, Program, Step};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::SinkGdConfig;
use wgopt_scheduler::kernel::common::STEP_STATS;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder, StepStats};

/// `SinkGdParams`.
pub static COMMON: Wgsl = wgsl!("optim/sinkgd_common.wgsl");

/// `optim/sinkgd_rows.wgsl`: params, offsets, stats, grad, row_scale, col_scale.
pub static ROWS: Kernel = Kernel::new(
    wgsl!("optim/sinkgd_rows.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, W, R],
)
.twins(&[SinkGdParams::LAYOUT, StepStats::LAYOUT]);

/// `optim/sinkgd_cols.wgsl`: params, offsets, stats, grad, row_scale, col_scale.
pub static COLS: Kernel = Kernel::new(
    wgsl!("optim/sinkgd_cols.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, R, W],
)
.twins(&[SinkGdParams::LAYOUT, StepStats::LAYOUT]);

/// `optim/sinkgd_apply.wgsl`: params, offsets, stats, grad, row_scale, col_scale, param.
pub static APPLY: Kernel = Kernel::new(
    wgsl!("optim/sinkgd_apply.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, R, R, W],
)
.twins(&[SinkGdParams::LAYOUT, StepStats::LAYOUT]);

/// Uniform of the SinkGD kernels. WGSL twin in optim/sinkgd_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
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
#[derive(Debug)]
struct Plan {
    group: usize,
    base: SinkGdParams,
    apply_params: wgpu::Buffer,
    dispatches: Vec<Dispatch>,
    _buffers: Vec<wgpu::Buffer>,
}

/// SinkGD's program.
#[derive(Debug)]
pub struct SinkGdProgram {
    plans: Vec<Plan>,
}

/// SinkGD over a parameter set (≥2-D parameters only).
pub type SinkGd = Stepper<SinkGdProgram>;
/// SinkGD on the hidden matrices, AdamW on the rest (the paper's recipe).
pub type SinkGdAdamW = Stepper<SinkGdProgram, Fused<AdamRule>>;

impl Program for SinkGdProgram {
    type Config = SinkGdConfig;
    const PART: &'static str = "sinkgd";

    fn kernel_flags(c: &SinkGdConfig) -> Flags {
        vec![flag("iterations", c.iterations)]
    }

    fn plan_flags(c: &SinkGdConfig) -> Flags {
        vec![flag("iterations", c.iterations), flag("eps", c.eps)]
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&ROWS, &COLS, &APPLY]
    }

    fn build(cx: &Build<'_, SinkGdConfig>) -> Result<Self> {
        let batches = matrix_batches(
            cx.layout(),
            cx.groups.slots(),
            "SinkGD",
            cx.engine.chunk_bytes(),
        )?;
        let plans = batches.iter().map(|b| plan(cx, b)).collect::<Result<_>>()?;
        Ok(SinkGdProgram { plans })
    }

    fn record(&mut self, cx: &Step<'_, SinkGdConfig>, rec: &mut StepRecorder) {
        for plan in &self.plans {
            let cfg = cx.config(plan.group);
            let lr_s = cx.lr(cfg) * cfg.lr_scale;
            let p = SinkGdParams {
                decay: (1.0 - lr_s * cfg.weight_decay) as f32,
                neg_lr: (-lr_s) as f32,
                ..plan.base
            };
            cx.engine
                .write_buffer(&plan.apply_params, 0, bytemuck::bytes_of(&p));
            for d in &plan.dispatches {
                rec.push(d.clone());
            }
        }
    }
}

/// One batch: L (rows, cols) pass pairs, each with its own uniform, then the apply.
fn plan(cx: &Build<'_, SinkGdConfig>, b: &MatrixBatch) -> Result<Plan> {
    let engine: &Engine = cx.engine;
    let (batch, rows, cols) = (b.offsets.len(), b.rows, b.cols);
    let limit = engine.limits().max_compute_workgroups_per_dimension as usize;
    if batch > limit || rows > limit {
        return Err(Error::OverLimit {
            what: format!("SinkGD grid for {batch} × {rows}×{cols}"),
            size: batch.max(rows) as u64,
            limit: limit as u64,
            unit: "workgroups",
        });
    }
    let cfg = cx.groups.config(b.group);
    let storage = wgpu::BufferUsages::STORAGE;
    let offs = engine.upload("sinkgd offsets", bytemuck::cast_slice(&b.offsets), storage);
    let r = engine.create_buffer("sinkgd row scales", (batch * rows) as u64 * 4, storage);
    let c = engine.create_buffer("sinkgd column scales", (batch * cols) as u64 * 4, storage);
    let grad = &cx.params.grad_arena().chunks[b.chunk];
    let base = SinkGdParams {
        rows: rows as u32,
        cols: cols as u32,
        eps: cfg.eps as f32,
        sqrt_rows: (rows as f64).sqrt() as f32,
        sqrt_cols: (cols as f64).sqrt() as f32,
        ..Default::default()
    };
    let mut dispatches = Vec::new();
    let mut buffers = Vec::new();
    for it in 0..cfg.iterations {
        let p = SinkGdParams {
            first: (it == 0) as u32,
            ..base
        };
        let ub = engine.upload(
            "sinkgd params",
            bytemuck::bytes_of(&p),
            wgpu::BufferUsages::UNIFORM,
        );
        let bufs = [&ub, &offs, cx.stats, grad, &r, &c];
        dispatches.push(engine.dispatch(&ROWS, &[], &bufs, [rows as u32, batch as u32, 1]));
        let wg = [(cols as u32).div_ceil(256), batch as u32, 1];
        dispatches.push(engine.dispatch(&COLS, &[], &bufs, wg));
        buffers.push(ub);
    }
    let apply_params = engine.create_buffer(
        "sinkgd apply params",
        std::mem::size_of::<SinkGdParams>() as u64,
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    );
    let param = &cx.params.param_arena().chunks[b.chunk];
    let wg = ((rows * cols) as u32)
        .div_ceil(256)
        .clamp(1, engine.max_workgroups());
    dispatches.push(engine.dispatch(
        &APPLY,
        &[],
        &[&apply_params, &offs, cx.stats, grad, &r, &c, param],
        [wg, batch as u32, 1],
    ));
    buffers.extend([offs, r, c]);
    Ok(Plan {
        group: b.group,
        base,
        apply_params,
        dispatches,
        _buffers: buffers,
    })
}
