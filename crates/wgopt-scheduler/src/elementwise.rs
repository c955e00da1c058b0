//! Launcher for fused elementwise update kernels (SGD, Adam/AdamW, Lion, …): one dispatch per
//! arena chunk covers every parameter of the optimizer in that chunk. Each group contributes
//! one *segment*, a contiguous vec4 range with the group's per-step scalars; the kernel walks
//! its grid-stride indices through the sorted segments. Segment buffers and bind groups are
//! built once here; a step only rewrites the segment scalars (one `write_buffer` per chunk).

use crate::layout::Layout;
use crate::pipelines::Kernel;
use crate::recorder::{Dispatch, StepRecorder};
use crate::shaders::ShaderId;
use crate::Engine;
use bytemuck::Pod;

/// WORKGROUP_SIZE in common/grid_stride.wgsl.
pub const ELEMENTWISE_WG: u32 = 256;

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

/// A fused elementwise kernel bound to a parameter set's arenas.
#[derive(Debug)]
pub struct ElementwiseKernel {
    label: &'static str,
    kernel: Kernel,
    plans: Vec<ChunkPlan>,
}

impl ElementwiseKernel {
    /// Plans segments for `groups` (indices into `layout.groups`) and builds one bind group per
    /// chunk: `[segments, ...buffers(chunk)]`. `segment_bytes` is the size of the kernel's
    /// segment struct. Segments are keyed by group (neighbouring parameters of a group merge).
    pub fn new(
        engine: &Engine,
        shader: ShaderId,
        constants: &[(&'static str, f64)],
        layout: &Layout,
        groups: &[usize],
        segment_bytes: usize,
        buffers: impl Fn(usize) -> Vec<wgpu::Buffer>,
    ) -> ElementwiseKernel {
        Self::with_keys(
            engine,
            shader,
            constants,
            layout,
            groups,
            false,
            segment_bytes,
            buffers,
        )
    }

    /// As [`ElementwiseKernel::new`], but with one segment per parameter, keyed by its slot
    /// index (for scalars that depend on the parameter, such as Muon's shape scale).
    pub fn per_parameter(
        engine: &Engine,
        shader: ShaderId,
        constants: &[(&'static str, f64)],
        layout: &Layout,
        groups: &[usize],
        segment_bytes: usize,
        buffers: impl Fn(usize) -> Vec<wgpu::Buffer>,
    ) -> ElementwiseKernel {
        Self::with_keys(
            engine,
            shader,
            constants,
            layout,
            groups,
            true,
            segment_bytes,
            buffers,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn with_keys(
        engine: &Engine,
        shader: ShaderId,
        constants: &[(&'static str, f64)],
        layout: &Layout,
        groups: &[usize],
        per_slot: bool,
        segment_bytes: usize,
        buffers: impl Fn(usize) -> Vec<wgpu::Buffer>,
    ) -> ElementwiseKernel {
        let kernel = engine.kernel(shader, "main", constants);
        let mut plans = Vec::new();
        for chunk in 0..layout.chunk_lens.len() {
            let mut segments: Vec<(usize, u32, u32)> = Vec::new();
            let pieces = layout
                .slots
                .iter()
                .enumerate()
                .filter(|(_, s)| groups.contains(&s.group))
                .flat_map(|(i, s)| s.pieces.iter().map(move |p| (i, s, p)))
                .filter(|(_, _, p)| p.chunk == chunk);
            for (index, slot, piece) in pieces {
                let r = piece.vec4_range();
                match segments.last_mut() {
                    Some((g, _, end)) if !per_slot && *g == slot.group && *end == r.start => {
                        *end = r.end
                    }
                    _ => segments.push((if per_slot { index } else { slot.group }, r.start, r.end)),
                }
            }
            if segments.is_empty() {
                continue;
            }
            let segment_buffer = engine.create_buffer(
                shader.path(),
                (segments.len() * segment_bytes) as u64,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            );
            let mut bound = vec![segment_buffer.clone()];
            bound.extend(buffers(chunk));
            let refs: Vec<&wgpu::Buffer> = bound.iter().collect();
            let bind_group = engine.bind_buffers(shader.path(), &kernel.layout, &refs);
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
            label: shader.path(),
            kernel,
            plans,
        }
    }

    pub fn plans(&self) -> &[ChunkPlan] {
        &self.plans
    }

    /// Writes every segment's scalars: `scalars(key, start, end)` builds one segment
    /// struct. `scratch` keeps its capacity between steps, so this allocates nothing.
    pub fn write_segments<S: Pod>(
        &self,
        engine: &Engine,
        scratch: &mut Vec<S>,
        scalars: impl Fn(usize, u32, u32) -> S,
    ) {
        self.write_chunk_segments(engine, scratch, |_, g, s, e| scalars(g, s, e))
    }

    /// As [`ElementwiseKernel::write_segments`], with the chunk index first (per-parameter
    /// segments of a split parameter are told apart by their chunk).
    pub fn write_chunk_segments<S: Pod>(
        &self,
        engine: &Engine,
        scratch: &mut Vec<S>,
        scalars: impl Fn(usize, usize, u32, u32) -> S,
    ) {
        for plan in &self.plans {
            scratch.clear();
            scratch.extend(
                plan.segments
                    .iter()
                    .map(|&(g, s, e)| scalars(plan.chunk, g, s, e)),
            );
            engine
                .queue()
                .write_buffer(&plan.segment_buffer, 0, bytemuck::cast_slice(scratch));
        }
    }

    /// Records one dispatch per chunk.
    pub fn record(&self, rec: &mut StepRecorder) {
        for plan in &self.plans {
            rec.push(Dispatch {
                label: self.label,
                pipeline: self.kernel.pipeline.clone(),
                bind_group: plan.bind_group.clone(),
                workgroups: [plan.workgroups, 1, 1],
            });
        }
    }
}
