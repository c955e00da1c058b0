//! Random draws on the GPU from Philox4x32-10 (`shaders/common/philox.wgsl`), the twin of
//! `wgopt_reference::random`: the same stream addressing, the same bits.
//!
//! [`Probes`] fills an arena shaped like the parameters with Rademacher or Gaussian probes for
//! Hutchinson estimators; each draw is numbered, so draw `d` can be regenerated anywhere
//! (`wgopt_reference::random::fill` with the same [`StreamId`]). [`PhiloxBits`] writes the raw
//! word stream (for tests and sketches).

use crate::arena::Arena;
use crate::elementwise::{Coverage, ElementwiseKernel};
use crate::kernel::common::{GRID_STRIDE, PHILOX};
use crate::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use crate::kernel::{Kernel, WgslStruct};
use crate::layout::Layout;
use crate::recorder::{Dispatch, StepRecorder};
use crate::{Engine, Error, ParamSet, Result};
use bytemuck::{Pod, Zeroable};
pub use wgopt_reference::random::{Distribution, StreamId};

/// `random/probe_fill.wgsl`: bindings segments, probes.
pub static PROBE_FILL: Kernel = Kernel::new(
    crate::wgsl!("random/probe_fill.wgsl"),
    &[&GRID_STRIDE, &PHILOX],
    &[R, W],
)
.twins(&[ProbeSegment::LAYOUT]);

/// `random/philox_bits.wgsl`: bindings params, out.
pub static PHILOX_BITS: Kernel =
    Kernel::new(crate::wgsl!("random/philox_bits.wgsl"), &[&PHILOX], &[U, W])
        .twins(&[BitsParams::LAYOUT]);

/// Per-parameter scalars of the probe kernel. WGSL twin: `ProbeSegment` in
/// shaders/random/probe_fill.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct ProbeSegment {
    pub start: u32,
    pub end: u32,
    pub first_block: u32,
    pub slot: u32,
    pub key: [u32; 2],
    pub draw: u32,
    pub stream: u32,
    pub elem_end: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Random probes shaped like some parameters of a parameter set, one draw at a time.
#[derive(Debug)]
pub struct Probes {
    arena: Arena,
    kernel: ElementwiseKernel<ProbeSegment>,
    layout: Layout,
    dist: Distribution,
    seed: u64,
    stream: u32,
    draws: u32,
    /// Reused by [`Probes::draw`].
    recorder: StepRecorder,
}

impl Probes {
    /// Probes for the parameters of `groups` (indices into the layout's groups); `stream`
    /// separates independent users of one seed.
    pub fn new(
        params: &ParamSet,
        groups: &[usize],
        dist: Distribution,
        seed: u64,
        stream: u32,
        label: &str,
    ) -> Probes {
        let engine = params.engine();
        let layout = params.layout().clone();
        let arena = Arena::new(engine, &layout, label);
        let kernel = ElementwiseKernel::new(
            engine,
            &PROBE_FILL,
            &[("DIST", dist.code() as f64)],
            Coverage::parameters(&layout, groups),
            |chunk| vec![arena.chunks[chunk].clone()],
        );
        Probes {
            arena,
            kernel,
            layout,
            dist,
            seed,
            stream,
            draws: 0,
            recorder: StepRecorder::new(),
        }
    }

    /// Records the next draw into `rec` (it lands when `rec` is submitted) and returns its
    /// number.
    pub fn record(&mut self, engine: &Engine, rec: &mut StepRecorder) -> Result<u32> {
        let draw = self.draws;
        let (layout, seed, stream) = (&self.layout, self.seed, self.stream);
        self.kernel
            .write_chunked(engine, |chunk, slot, start, end| {
                let s = &layout.slots[slot];
                let piece = s
                    .pieces
                    .iter()
                    .find(|p| p.chunk == chunk && p.vec4_range().start == start)
                    .expect("segments are planned from these pieces");
                ProbeSegment {
                    start,
                    end,
                    first_block: (piece.start / 4) as u32,
                    slot: slot as u32,
                    key: wgopt_reference::random::key(seed),
                    draw,
                    stream,
                    elem_end: s.len as u32,
                    ..Default::default()
                }
            });
        self.kernel.record(rec);
        self.draws = draw
            .checked_add(1)
            .ok_or_else(|| Error::InvalidHyperparameter("probe draw counter overflow".into()))?;
        Ok(draw)
    }

    /// Draws the next probes in a submit of their own (for a caller that needs them before its
    /// step, to compute Hessian-vector products) and returns the draw's number.
    pub fn draw(&mut self, engine: &Engine) -> Result<u32> {
        let mut rec = std::mem::take(&mut self.recorder);
        let r = self
            .record(engine, &mut rec)
            .and_then(|d| rec.submit(engine).map(|_| d));
        self.recorder = rec;
        r
    }

    /// The stream address of draw `draw` for parameter slot `slot`.
    pub fn stream_id(&self, slot: usize, draw: u32) -> StreamId {
        StreamId {
            seed: self.seed,
            slot: slot as u32,
            draw,
            stream: self.stream,
        }
    }

    pub fn distribution(&self) -> Distribution {
        self.dist
    }

    /// Draws made so far (the next draw's number).
    pub fn draws(&self) -> u32 {
        self.draws
    }

    /// Continues numbering at `draws` (after a checkpoint restore).
    pub fn set_draws(&mut self, draws: u32) {
        self.draws = draws;
    }

    /// The arena holding the latest draw (bind it to compute Hessian-vector products on the
    /// GPU).
    pub fn arena(&self) -> &Arena {
        &self.arena
    }

    /// Reads the latest draw back, one vector per layout slot (slots outside the groups are
    /// zero).
    pub fn read(&self, engine: &Engine) -> Result<Vec<Vec<f32>>> {
        self.arena.read_all(engine, &self.layout)
    }
}

/// Uniform parameters of `shaders/random/philox_bits.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct BitsParams {
    pub key: [u32; 2],
    pub c1: u32,
    pub c2: u32,
    pub c3: u32,
    pub blocks: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// The raw Philox word stream of `blocks` blocks into a GPU buffer.
#[derive(Debug)]
pub struct PhiloxBits {
    pub out: wgpu::Buffer,
    dispatch: Dispatch,
}

impl PhiloxBits {
    pub fn new(
        engine: &Engine,
        key: [u32; 2],
        counter_words: [u32; 3],
        blocks: u32,
    ) -> Result<PhiloxBits> {
        let size = blocks as u64 * 16;
        if size == 0 || size > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: "Philox bit stream".into(),
                size,
                limit: engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        let out = engine.create_buffer(
            "philox bits",
            size,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let params = BitsParams {
            key,
            c1: counter_words[0],
            c2: counter_words[1],
            c3: counter_words[2],
            blocks,
            ..Default::default()
        };
        let ubuf = engine.create_buffer(
            "philox bits params",
            std::mem::size_of::<BitsParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        engine.write_buffer(&ubuf, 0, bytemuck::bytes_of(&params));
        let workgroups = [blocks.div_ceil(256).clamp(1, engine.max_workgroups()), 1, 1];
        Ok(PhiloxBits {
            dispatch: engine.dispatch(&PHILOX_BITS, &[], &[&ubuf, &out], workgroups),
            out,
        })
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }

    /// Runs the kernel and reads the words back.
    pub fn generate(&self, engine: &Engine) -> Result<Vec<u32>> {
        let mut rec = StepRecorder::new();
        self.record(&mut rec);
        rec.submit(engine)?;
        let bytes = crate::arena::read_bytes(engine, &self.out, 0, self.out.size())?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
