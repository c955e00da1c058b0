//! The step guard, entirely on the GPU: per-parameter and global gradient norms, global-norm
//! clipping with `torch.nn.utils.clip_grad_norm_` semantics, and skip-on-non-finite (the update
//! kernels become no-ops, like AMP's `found_inf`). Nothing is read back inside a step: the
//! verdict lives in a [`StepStats`] buffer that the update kernels bind, and the host reads it
//! only when asked.
//!
//! Two kernels: `reduce/tile_sumsq.wgsl` (one workgroup per tile of at most [`TILE_VEC4`]
//! vec4s, one dispatch per arena chunk, 2-D grid past 65535 tiles) and
//! `reduce/guard_finalize.wgsl` (one workgroup). The finalize kernel also counts applied and
//! skipped steps, so it runs every step even when clipping and the check are off.

use crate::arena::{read_bytes, Arena};
use crate::kernel::common::{NON_FINITE, PARTIAL, STEP_STATS};
use crate::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use crate::kernel::{Kernel, WgslStruct};
use crate::pipelines::Pipeline;
use crate::recorder::{Dispatch, StepRecorder};
use crate::{Engine, Error, ParamSet, Result};
use bytemuck::{Pod, Zeroable};

/// `reduce/tile_sumsq.wgsl`: bindings grad, tiles, partials.
pub static TILE_SUMSQ: Kernel = Kernel::new(
    crate::wgsl!("reduce/tile_sumsq.wgsl"),
    &[&NON_FINITE, &PARTIAL],
    &[R, R, W],
)
.twins(&[Tile::LAYOUT, Partial::LAYOUT]);

/// `reduce/guard_finalize.wgsl`: bindings params, partials, segment_ranges, stats,
/// segment_sumsq.
pub static GUARD_FINALIZE: Kernel = Kernel::new(
    crate::wgsl!("reduce/guard_finalize.wgsl"),
    &[&STEP_STATS, &PARTIAL],
    &[U, R, R, W, W],
)
.twins(&[GuardParams::LAYOUT, Partial::LAYOUT, StepStats::LAYOUT]);

/// vec4s per tile of the first reduction stage.
pub const TILE_VEC4: u32 = 2048;

/// What the guard found in one step. WGSL twin: `StepStats` in common/step_stats.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct StepStats {
    /// Global 2-norm of the gradients (0 when the guard is off).
    pub grad_norm: f32,
    /// Factor the gradients were multiplied by.
    pub clip_coef: f32,
    /// 1 when this step was skipped for a non-finite gradient.
    pub found_inf: u32,
    /// Steps applied so far (the optimizer's `step` in PyTorch's terms).
    pub applied_steps: u32,
    /// Steps skipped so far.
    pub skipped_steps: u32,
    /// Global ℓ1 norm Σ|g| of the gradients (0 when the guard is off), reduced in the same
    /// pass as the 2-norm: what `wgopt schedule refine --norm l1` wants from Adam-like runs.
    pub grad_norm_l1: f32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Uniform of guard_finalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct GuardParams {
    pub max_norm: f32,
    pub clip: u32,
    pub skip_non_finite: u32,
    pub n_segments: u32,
}

/// One tile of stage 1: vec4 range within a chunk and where its partial goes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct Tile {
    pub start: u32,
    pub end: u32,
    pub out: u32,
    /// 1 for a tile of an extra input (checked for NaN/Inf, left out of the norms).
    pub finite_only: u32,
}

/// One tile's result.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct Partial {
    pub sumsq: f32,
    pub non_finite: u32,
    pub abs_sum: f32,
    pub _pad: u32,
}

/// How the guard treats gradients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardConfig {
    /// Clip the global gradient norm to this value.
    pub max_grad_norm: Option<f32>,
    /// Skip the step (change nothing) when a gradient holds NaN or ±Inf.
    pub skip_non_finite: bool,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_grad_norm: None,
            skip_non_finite: true,
        }
    }
}

impl GuardConfig {
    /// `max_grad_norm` must be finite and > 0: a negative value would reverse the update, NaN
    /// would silently turn clipping off, and 0 would zero every step.
    pub fn validate(&self) -> Result<()> {
        match self.max_grad_norm {
            Some(c) if !(c.is_finite() && c > 0.0) => Err(Error::InvalidHyperparameter(format!(
                "max_grad_norm must be finite and > 0 (or None for no clipping), got {c}"
            ))),
            _ => Ok(()),
        }
    }

    fn reduces(&self) -> bool {
        self.max_grad_norm.is_some() || self.skip_non_finite
    }
}

/// The guard's GPU resources for one optimizer.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    tile_kernel: Pipeline,
    tile_dispatches: Vec<(wgpu::BindGroup, [u32; 3])>,
    finalize_kernel: Pipeline,
    finalize_bind_group: wgpu::BindGroup,
    params: wgpu::Buffer,
    stats: wgpu::Buffer,
    segment_sumsq: wgpu::Buffer,
    n_segments: u32,
}

/// A 1-D count of workgroups laid out in 2-D when it passes the per-dimension limit (kernels
/// flatten `wid.x + wid.y·nwg.x` and return past the end).
pub fn grid(engine: &Engine, n: u32) -> [u32; 3] {
    let x = n.clamp(1, engine.limits().max_compute_workgroups_per_dimension);
    [x, n.div_ceil(x).max(1), 1]
}

impl Guard {
    /// A guard over the gradients of `slots` (indices into the layout).
    pub fn new(
        engine: &Engine,
        params: &ParamSet,
        slots: &[usize],
        config: GuardConfig,
    ) -> Result<Guard> {
        Self::with_inputs(engine, params, slots, config, &[])
    }

    /// As [`Guard::new`], also checking `inputs` (arenas of the same layout the step reads
    /// beside the gradients, such as Hessian-vector products) for NaN/Inf: a bad value there
    /// skips the step too, but the inputs count toward no norm and are never clipped.
    pub fn with_inputs(
        engine: &Engine,
        params: &ParamSet,
        slots: &[usize],
        config: GuardConfig,
        inputs: &[&Arena],
    ) -> Result<Guard> {
        config.validate()?;
        let layout = params.layout();
        let sources: Vec<&Arena> = std::iter::once(params.grad_arena())
            .chain(inputs.iter().copied())
            .collect();
        // tiles[source][chunk]
        let mut tiles: Vec<Vec<Vec<Tile>>> =
            vec![vec![Vec::new(); layout.chunk_lens.len()]; sources.len()];
        let mut ranges: Vec<[u32; 2]> = Vec::with_capacity(slots.len());
        let mut next = 0u32;
        for &i in slots {
            let slot = &layout.slots[i];
            let first = next;
            for (source, per_chunk) in tiles.iter_mut().enumerate() {
                for piece in &slot.pieces {
                    let r = piece.vec4_range();
                    let mut s = r.start;
                    while s < r.end {
                        let e = (s + TILE_VEC4).min(r.end);
                        per_chunk[piece.chunk].push(Tile {
                            start: s,
                            end: e,
                            out: next,
                            finite_only: (source > 0) as u32,
                        });
                        next += 1;
                        s = e;
                    }
                }
            }
            ranges.push([first, next]);
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let partials = engine.create_buffer(
            "guard partials",
            next.max(1) as u64 * std::mem::size_of::<Partial>() as u64,
            storage,
        );
        let tile_kernel = engine.pipeline(&TILE_SUMSQ, &[]);
        let mut tile_dispatches = Vec::new();
        for (source, per_chunk) in tiles.iter().enumerate() {
            for (c, chunk_tiles) in per_chunk.iter().enumerate() {
                if chunk_tiles.is_empty() {
                    continue;
                }
                let buf = engine.upload("guard tiles", bytemuck::cast_slice(chunk_tiles), storage);
                let bg = engine.bind_buffers(
                    TILE_SUMSQ.label(),
                    &tile_kernel.layout,
                    &[&sources[source].chunks[c], &buf, &partials],
                );
                tile_dispatches.push((bg, grid(engine, chunk_tiles.len() as u32)));
            }
        }
        let ranges_buf = engine.upload(
            "guard segment ranges",
            bytemuck::cast_slice(&ranges),
            storage,
        );
        let uniform = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let params_buf = engine.create_buffer("guard params", 16, uniform);
        let stats = engine.create_buffer(
            "step stats",
            std::mem::size_of::<StepStats>() as u64,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let segment_sumsq = engine.create_buffer(
            "guard segment sumsq",
            slots.len() as u64 * 4,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let finalize_kernel = engine.pipeline(&GUARD_FINALIZE, &[]);
        let finalize_bind_group = engine.bind_buffers(
            GUARD_FINALIZE.label(),
            &finalize_kernel.layout,
            &[&params_buf, &partials, &ranges_buf, &stats, &segment_sumsq],
        );
        let guard = Guard {
            config,
            tile_kernel,
            tile_dispatches,
            finalize_kernel,
            finalize_bind_group,
            params: params_buf,
            stats,
            segment_sumsq,
            n_segments: slots.len() as u32,
        };
        guard.set_config(engine, config);
        guard.set_counters(engine, 0, 0);
        Ok(guard)
    }

    pub fn config(&self) -> GuardConfig {
        self.config
    }

    /// Changes clipping or the non-finite check; rewrites a uniform, compiles nothing.
    pub fn set_config(&self, engine: &Engine, config: GuardConfig) {
        let p = GuardParams {
            max_norm: config.max_grad_norm.unwrap_or(0.0),
            clip: config.max_grad_norm.is_some() as u32,
            skip_non_finite: config.skip_non_finite as u32,
            n_segments: if config.reduces() { self.n_segments } else { 0 },
        };
        engine.write_buffer(&self.params, 0, bytemuck::bytes_of(&p));
    }

    /// Replaces the guard configuration.
    pub fn reconfigure(&mut self, engine: &Engine, config: GuardConfig) {
        self.config = config;
        self.set_config(engine, config);
    }

    /// Sets the step counters (after loading a checkpoint).
    pub fn set_counters(&self, engine: &Engine, applied: u32, skipped: u32) {
        let s = StepStats {
            clip_coef: 1.0,
            applied_steps: applied,
            skipped_steps: skipped,
            ..Default::default()
        };
        engine.write_buffer(&self.stats, 0, bytemuck::bytes_of(&s));
    }

    /// Records the guard's dispatches (tile passes only when clipping or checking).
    pub fn record(&self, rec: &mut StepRecorder) {
        if self.config.reduces() {
            for (bg, wg) in &self.tile_dispatches {
                rec.push(Dispatch {
                    label: TILE_SUMSQ.label(),
                    pipeline: self.tile_kernel.pipeline.clone(),
                    bind_group: bg.clone(),
                    workgroups: *wg,
                });
            }
        }
        rec.push(Dispatch {
            label: GUARD_FINALIZE.label(),
            pipeline: self.finalize_kernel.pipeline.clone(),
            bind_group: self.finalize_bind_group.clone(),
            workgroups: [1, 1, 1],
        });
    }

    /// The buffer update kernels bind as `stats`.
    pub fn stats_buffer(&self) -> &wgpu::Buffer {
        &self.stats
    }

    /// Reads the step statistics (waits for the GPU).
    pub fn read_stats(&self, engine: &Engine) -> Result<StepStats> {
        let b = read_bytes(
            engine,
            &self.stats,
            0,
            std::mem::size_of::<StepStats>() as u64,
        )?;
        Ok(bytemuck::pod_read_unaligned(&b))
    }

    /// Gradient 2-norm of every guarded parameter in the last step (waits for the GPU).
    pub fn read_param_norms(&self, engine: &Engine) -> Result<Vec<f32>> {
        let b = read_bytes(engine, &self.segment_sumsq, 0, self.n_segments as u64 * 4)?;
        let v: Vec<f32> = bytemuck::pod_collect_to_vec(&b);
        Ok(v.into_iter().map(f32::sqrt).collect())
    }
}
