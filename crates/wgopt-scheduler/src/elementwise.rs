//! Launcher for fused elementwise kernels (SGD, Adam/AdamW, Lion, Muon's momentum and apply, …):
//! one dispatch per arena chunk covers every parameter of the launch in that chunk. Each group
//! (or each parameter) contributes one *segment*, a contiguous vec4 range with its per-step
//! scalars `S`; the kernel walks its grid-stride indices through the sorted segments. Segment
//! buffers and bind groups are built once here; a step only rewrites the segment scalars (one
//! `write_buffer` per chunk, from a scratch vector that keeps its capacity).

use crate::kernel::Kernel;
use crate::layout::Layout;
use crate::pipelines::Pipeline;
use crate::recorder::{Dispatch, StepRecorder};
use crate::Engine;
use bytemuck::Pod;

/// WORKGROUP_SIZE in common/grid_stride.wgsl.
pub const ELEMENTWISE_WG: u32 = 256;

/// Which parameters a launch covers, and whether each parameter is its own segment.
#[derive(Debug, Clone, Copy)]
pub struct Coverage<'a> {
    layout: &'a Layout,
    groups: &'a [usize],
    per_parameter: bool,
}

impl<'a> Coverage<'a> {
    /// Every parameter of `groups` (indices into `layout.groups`), one segment per group and
    /// run of neighbouring parameters; segments are keyed by group index.
    pub fn groups(layout: &'a Layout, groups: &'a [usize]) -> Self {
        Coverage {
            layout,
            groups,
            per_parameter: false,
        }
    }

    /// As [`Coverage::groups`], with one segment per parameter keyed by its slot index (for
    /// scalars that depend on the parameter, such as Muon's shape scale).
    pub fn parameters(layout: &'a Layout, groups: &'a [usize]) -> Self {
        Coverage {
            per_parameter: true,
            ..Self::groups(layout, groups)
        }
    }

    /// (key, vec4 start, vec4 end) of every segment in `chunk`, sorted.
    fn segments(&self, chunk: usize) -> Vec<(usize, u32, u32)> {
        let mut segments: Vec<(usize, u32, u32)> = Vec::new();
        let pieces = self
            .layout
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| self.groups.contains(&s.group))
            .flat_map(|(i, s)| s.pieces.iter().map(move |p| (i, s, p)))
            .filter(|(_, _, p)| p.chunk == chunk);
        for (index, slot, piece) in pieces {
            let r = piece.vec4_range();
            match segments.last_mut() {
                Some((g, _, end)) if !self.per_parameter && *g == slot.group && *end == r.start => {
                    *end = r.end
                }
                _ => segments.push((
                    if self.per_parameter {
                        index
                    } else {
                        slot.group
                    },
                    r.start,
                    r.end,
                )),
            }
        }
        segments
    }
}

/// One chunk's part of an elementwise launch.
#[derive(Debug)]
pub struct ChunkPlan {
    pub chunk: usize,
    /// (key, vec4 start, vec4 end), sorted; the key is the group index, or the slot index for
    /// per-parameter segments.
    pub segments: Vec<(usize, u32, u32)>,
    segment_buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    workgroups: u32,
}

/// A fused elementwise kernel bound to a parameter set's arenas; `S` is the kernel's segment
/// struct (its WGSL twin is the first binding's element type).
#[derive(Debug)]
pub struct ElementwiseKernel<S: Pod> {
    pipeline: Pipeline,
    plans: Vec<ChunkPlan>,
    scratch: Vec<S>,
}

impl<S: Pod> ElementwiseKernel<S> {
    /// Plans the segments of `cover` and builds one bind group per chunk:
    /// `[segments, ...buffers(chunk)]`.
    pub fn new(
        engine: &Engine,
        kernel: &Kernel,
        constants: &[(&'static str, f64)],
        cover: Coverage<'_>,
        buffers: impl Fn(usize) -> Vec<wgpu::Buffer>,
    ) -> Self {
        let pipeline = engine.pipeline(kernel, constants);
        let mut plans = Vec::new();
        for chunk in 0..cover.layout.chunk_lens.len() {
            let segments = cover.segments(chunk);
            if segments.is_empty() {
                continue;
            }
            let segment_buffer = engine.create_buffer(
                kernel.label(),
                (segments.len() * std::mem::size_of::<S>()) as u64,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            );
            let mut bound = vec![segment_buffer.clone()];
            bound.extend(buffers(chunk));
            let refs: Vec<&wgpu::Buffer> = bound.iter().collect();
            let bind_group = engine.bind_buffers(kernel.label(), &pipeline.layout, &refs);
            let span = segments.last().map_or(0, |s| s.2) - segments[0].1;
            let workgroups = span
                .div_ceil(ELEMENTWISE_WG)
                .clamp(1, engine.max_workgroups());
            plans.push(ChunkPlan {
                chunk,
                segments,
                segment_buffer,
                bind_group,
                workgroups,
            });
        }
        ElementwiseKernel {
            pipeline,
            plans,
            scratch: Vec::new(),
        }
    }

    pub fn plans(&self) -> &[ChunkPlan] {
        &self.plans
    }

    /// Writes every segment's scalars: `scalars(key, start, end)` builds one segment struct.
    /// Allocates nothing once the scratch vector has grown.
    pub fn write(&mut self, engine: &Engine, scalars: impl Fn(usize, u32, u32) -> S) {
        self.write_chunked(engine, |_, key, s, e| scalars(key, s, e))
    }

    /// As [`ElementwiseKernel::write`], with the chunk index first (per-parameter segments of
    /// a split parameter are told apart by their chunk).
    pub fn write_chunked(
        &mut self,
        engine: &Engine,
        scalars: impl Fn(usize, usize, u32, u32) -> S,
    ) {
        for plan in &self.plans {
            self.scratch.clear();
            self.scratch.extend(
                plan.segments
                    .iter()
                    .map(|&(key, s, e)| scalars(plan.chunk, key, s, e)),
            );
            engine.write_buffer(&plan.segment_buffer, 0, bytemuck::cast_slice(&self.scratch));
        }
    }

    /// Records one dispatch per chunk.
    pub fn record(&self, rec: &mut StepRecorder) {
        for plan in &self.plans {
            rec.push(Dispatch {
                label: self.pipeline.label,
                pipeline: self.pipeline.pipeline.clone(),
                bind_group: plan.bind_group.clone(),
                workgroups: [plan.workgroups, 1, 1],
            });
        }
    }
}
