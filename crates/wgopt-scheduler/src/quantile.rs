//! Per-matrix quantiles of |x| on the GPU — ROOT's outlier threshold — by an exact radix
//! select (`shaders/reduce/quantile_{common,histogram,select}.wgsl`): four passes over 8-bit
//! digits of the f32 bits, each a tiled histogram dispatch per source buffer and one decision
//! dispatch for all matrices. Exactly torch.quantile's linear interpolation (ranks from
//! [`quantile_ranks`]); the thresholds stay on the GPU for the kernels that consume them.
//! Reference twin: `wgopt_reference::linalg::quantile`.

use crate::guard::grid;
use crate::pipelines::Kernel;
use crate::recorder::{Dispatch, StepRecorder};
use crate::shaders::ShaderId;
use crate::{Engine, Error, Result};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::linalg::quantile_ranks;

/// Elements one histogram workgroup counts (256 invocations × 32).
pub const QUANTILE_TILE: u32 = 8192;
const RADIX_PASSES: u32 = 4;
const HISTOGRAM_STRIDE: u64 = 512;

/// Static per-matrix ranks. WGSL twin in reduce/quantile_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct QuantileMatrix {
    pub rank_lo: u32,
    pub rank_hi: u32,
    pub weight: f32,
    pub add: f32,
}

/// Select progress per matrix. WGSL twin in reduce/quantile_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct QuantileState {
    pub prefix_lo: u32,
    pub prefix_hi: u32,
    pub rank_lo: u32,
    pub rank_hi: u32,
}

/// One histogram workgroup's run of a matrix. WGSL twin in reduce/quantile_histogram.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct QuantileTile {
    pub matrix: u32,
    pub start: u32,
    pub end: u32,
    pub _pad: u32,
}

/// Matrices living in one buffer: (offset, length) in floats, with their quantiles.
#[derive(Debug, Clone)]
pub struct QuantileSource<'a> {
    pub buffer: &'a wgpu::Buffer,
    /// (offset, len, q) per matrix.
    pub matrices: Vec<(u32, u32, f64)>,
}

/// A recorded-once batch of quantile selections; matrix i (in source order) leaves
/// `quantile(|x_i|, q_i) + add` at index i of [`AbsQuantile::thresholds`].
#[derive(Debug)]
pub struct AbsQuantile {
    /// Per pass: the histogram dispatches (one per source), then the select dispatch.
    passes: Vec<Vec<Dispatch>>,
    thresholds: wgpu::Buffer,
    count: u32,
    _buffers: Vec<wgpu::Buffer>,
}

impl AbsQuantile {
    pub fn new(engine: &Engine, sources: &[QuantileSource<'_>], add: f32) -> Result<AbsQuantile> {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let mut configs = Vec::new();
        let mut tiles_per_source = Vec::new();
        for src in sources {
            let mut tiles = Vec::new();
            for &(offset, len, q) in &src.matrices {
                if (offset as u64 + len as u64) * 4 > src.buffer.size() {
                    return Err(Error::ShapeMismatch {
                        name: "quantile source".into(),
                        expected: format!("{len} floats from offset {offset}"),
                        got: format!("a buffer of {} bytes", src.buffer.size()),
                    });
                }
                let r = quantile_ranks(len as usize, q)
                    .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
                let matrix = configs.len() as u32;
                configs.push(QuantileMatrix {
                    rank_lo: r.lo as u32,
                    rank_hi: r.hi as u32,
                    weight: r.weight,
                    add,
                });
                let mut start = offset;
                while start < offset + len {
                    let end = (start + QUANTILE_TILE).min(offset + len);
                    tiles.push(QuantileTile {
                        matrix,
                        start,
                        end,
                        _pad: 0,
                    });
                    start = end;
                }
            }
            tiles_per_source.push(tiles);
        }
        let count = configs.len() as u32;
        if count == 0 {
            return Err(Error::ShapeMismatch {
                name: "quantile".into(),
                expected: "at least one matrix".into(),
                got: "none".into(),
            });
        }
        let histogram_bytes = count as u64 * HISTOGRAM_STRIDE * 4;
        if histogram_bytes > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: "quantile histograms".into(),
                size: histogram_bytes,
                limit: engine.chunk_bytes(),
            });
        }
        let upload = |label: &str, bytes: &[u8]| {
            let b = engine.create_buffer(label, bytes.len() as u64, storage);
            engine.queue().write_buffer(&b, 0, bytes);
            b
        };
        let matrices = upload("quantile matrices", bytemuck::cast_slice(&configs));
        let state = engine.create_buffer(
            "quantile state",
            count as u64 * std::mem::size_of::<QuantileState>() as u64,
            storage,
        );
        let histogram = engine.create_buffer("quantile histogram", histogram_bytes, storage);
        let thresholds = engine.create_buffer(
            "quantile thresholds",
            count as u64 * 4,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let mut buffers = vec![matrices.clone(), state.clone(), histogram.clone()];
        let mut passes = Vec::new();
        for pass in 0..RADIX_PASSES {
            let constants = [("PASS", pass as f64)];
            let hist: Kernel = engine.kernel(ShaderId::QuantileHistogram, "main", &constants);
            let mut dispatches = Vec::new();
            for (src, tiles) in sources.iter().zip(&tiles_per_source) {
                if tiles.is_empty() {
                    continue;
                }
                let tile_buf = upload("quantile tiles", bytemuck::cast_slice(tiles));
                dispatches.push(Dispatch {
                    label: ShaderId::QuantileHistogram.path(),
                    pipeline: hist.pipeline.clone(),
                    bind_group: engine.bind_buffers(
                        "quantile histogram",
                        &hist.layout,
                        &[&tile_buf, &state, src.buffer, &histogram],
                    ),
                    workgroups: grid(engine, tiles.len() as u32),
                });
                buffers.push(tile_buf);
            }
            let select: Kernel = engine.kernel(ShaderId::QuantileSelect, "main", &constants);
            dispatches.push(Dispatch {
                label: ShaderId::QuantileSelect.path(),
                pipeline: select.pipeline,
                bind_group: engine.bind_buffers(
                    "quantile select",
                    &select.layout,
                    &[&matrices, &state, &histogram, &thresholds],
                ),
                workgroups: grid(engine, count),
            });
            passes.push(dispatches);
        }
        Ok(AbsQuantile {
            passes,
            thresholds,
            count,
            _buffers: buffers,
        })
    }

    /// One f32 per matrix, valid after the recorded dispatches ran.
    pub fn thresholds(&self) -> &wgpu::Buffer {
        &self.thresholds
    }

    /// Matrices selected over.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        for pass in &self.passes {
            for d in pass {
                rec.push(d.clone());
            }
        }
    }

    /// Reads the thresholds back (waits for the GPU).
    pub fn read(&self, engine: &Engine) -> Result<Vec<f32>> {
        let mut v = crate::arena::read_range(engine, &self.thresholds, 0, self.count as u64 * 4)?;
        v.truncate(self.count as usize);
        Ok(v)
    }
}
