//! Per-matrix quantiles of |x| on the GPU — ROOT's outlier threshold — by an exact radix
//! select (`shaders/reduce/quantile_{common,histogram,select}.wgsl`): four passes over 8-bit
//! digits of the f32 bits, each a tiled histogram dispatch per source buffer and one decision
//! dispatch for all matrices. Exactly torch.quantile's linear interpolation (ranks from
//! [`quantile_ranks`]); the thresholds stay on the GPU for the kernels that consume them.
//! Reference twin: `wgopt_reference::linalg::quantile`.

use bytemuck::{Pod, Zeroable};
use wgopt_reference::linalg::quantile_ranks;
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::{Dispatch, StepRecorder};
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// `QuantileMatrix` and `QuantileState`, shared by both passes.
pub static QUANTILE_COMMON: Wgsl = wgsl!("reduce/quantile_common.wgsl");

/// `reduce/quantile_histogram.wgsl`: tiles, state, values, histogram.
pub static QUANTILE_HISTOGRAM: Kernel = Kernel::new(
    wgsl!("reduce/quantile_histogram.wgsl"),
    &[&QUANTILE_COMMON],
    &[R, R, R, W],
)
.twins(&[QuantileTile::LAYOUT, QuantileState::LAYOUT]);

/// `reduce/quantile_select.wgsl`: matrices, state, histogram, thresholds.
pub static QUANTILE_SELECT: Kernel = Kernel::new(
    wgsl!("reduce/quantile_select.wgsl"),
    &[&QUANTILE_COMMON],
    &[R, W, W, W],
)
.twins(&[QuantileMatrix::LAYOUT, QuantileState::LAYOUT]);

/// Every kernel of the quantile selection.
pub const KERNELS: &[&Kernel] = &[&QUANTILE_HISTOGRAM, &QUANTILE_SELECT];

/// Elements one histogram workgroup counts (256 invocations × 32).
pub const QUANTILE_TILE: u32 = 8192;
const RADIX_PASSES: u32 = 4;
const HISTOGRAM_STRIDE: u64 = 512;

/// Static per-matrix ranks. WGSL twin in reduce/quantile_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct QuantileMatrix {
    pub rank_lo: u32,
    pub rank_hi: u32,
    pub weight: f32,
    pub add: f32,
}

/// Select progress per matrix. WGSL twin in reduce/quantile_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
pub struct QuantileState {
    pub prefix_lo: u32,
    pub prefix_hi: u32,
    pub rank_lo: u32,
    pub rank_hi: u32,
}

/// One histogram workgroup's run of a matrix. WGSL twin in reduce/quantile_histogram.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
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

/// Each matrix's ranks, and per source its histogram tiles of at most [`QUANTILE_TILE`].
/// `ranks(len, q)`: the matrix's configuration from its length and its source's parameter.
fn plan(
    sources: &[QuantileSource<'_>],
    ranks: impl Fn(u32, f64) -> Result<QuantileMatrix>,
) -> Result<(Vec<QuantileMatrix>, Vec<Vec<QuantileTile>>)> {
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
            let matrix = configs.len() as u32;
            configs.push(ranks(len, q)?);
            for start in (offset..offset + len).step_by(QUANTILE_TILE as usize) {
                let end = (start + QUANTILE_TILE).min(offset + len);
                tiles.push(QuantileTile {
                    matrix,
                    start,
                    end,
                    _pad: 0,
                });
            }
        }
        tiles_per_source.push(tiles);
    }
    Ok((configs, tiles_per_source))
}

impl AbsQuantile {
    /// `quantile(|x_i|, q_i) + add` per matrix, q_i the third field of each source matrix.
    pub fn new(engine: &Engine, sources: &[QuantileSource<'_>], add: f32) -> Result<AbsQuantile> {
        let (configs, tiles) = plan(sources, |len, q| {
            let r = quantile_ranks(len as usize, q)?;
            Ok(QuantileMatrix {
                rank_lo: r.lo as u32,
                rank_hi: r.hi as u32,
                weight: r.weight,
                add,
            })
        })?;
        Self::assemble(engine, sources, configs, tiles)
    }

    /// The k-th largest |x_i| per matrix, exactly (top-k thresholds: Deep Gradient
    /// Compression), k_i the third field of each source matrix (1 ≤ k_i ≤ len).
    pub fn kth_largest(engine: &Engine, sources: &[QuantileSource<'_>]) -> Result<AbsQuantile> {
        let (configs, tiles) = plan(sources, |len, k| {
            let k = k as u32;
            if k == 0 || k > len {
                return Err(Error::ShapeMismatch {
                    name: "top-k".into(),
                    expected: format!("1 ≤ k ≤ {len}"),
                    got: format!("k = {k}"),
                });
            }
            Ok(QuantileMatrix {
                rank_lo: len - k,
                rank_hi: len - k,
                weight: 0.0,
                add: 0.0,
            })
        })?;
        Self::assemble(engine, sources, configs, tiles)
    }

    fn assemble(
        engine: &Engine,
        sources: &[QuantileSource<'_>],
        configs: Vec<QuantileMatrix>,
        tiles_per_source: Vec<Vec<QuantileTile>>,
    ) -> Result<AbsQuantile> {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
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
                unit: "bytes",
            });
        }
        let matrices = engine.upload("quantile matrices", bytemuck::cast_slice(&configs), storage);
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
            let hist = engine.pipeline(&QUANTILE_HISTOGRAM, &constants);
            let mut dispatches = Vec::new();
            for (src, tiles) in sources.iter().zip(&tiles_per_source) {
                if tiles.is_empty() {
                    continue;
                }
                let tile_buf =
                    engine.upload("quantile tiles", bytemuck::cast_slice(tiles), storage);
                dispatches.push(hist.bind(
                    engine,
                    &[&tile_buf, &state, src.buffer, &histogram],
                    grid(engine, tiles.len() as u32),
                ));
                buffers.push(tile_buf);
            }
            dispatches.push(engine.dispatch(
                &QUANTILE_SELECT,
                &constants,
                &[&matrices, &state, &histogram, &thresholds],
                grid(engine, count),
            ));
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
        let mut v =
            wgopt_scheduler::arena::read_range(engine, &self.thresholds, 0, self.count as u64 * 4)?;
        v.truncate(self.count as usize);
        Ok(v)
    }
}
