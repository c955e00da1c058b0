//! The GPU compressor of Deep Gradient Compression: momentum correction, the exact top-k
//! threshold per tensor (the radix select of `wgopt_solvers::quantile`), an order-preserving
//! selection of the first k coordinates at or above it, and momentum-factor masking, in one
//! submit; the message (k values and k indices per tensor, one buffer) is the only readback.
//! Kernels: `shaders/dgc/dgc_{common,compensate,count,scan,select}.wgsl`; reference twin:
//! `wgopt_reference::dgc`.
//!
//! Tensors are packed into chunks no larger than one storage binding (a tensor larger than a
//! chunk is `OverLimit`: its top-k would straddle bindings). Buffers, pipelines and bind
//! groups are made at construction and when the ratio changes (once per warm-up epoch),
//! never per step.

use crate::quantile::{AbsQuantile, QuantileSource};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::dgc::{selected, DgcConfig, Sparse};
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::{Dispatch, StepRecorder};
use wgopt_scheduler::{arena, wgsl, Engine, Error, Result};

/// The tables shared by every DGC pass.
pub static DGC_COMMON: Wgsl = wgsl!("dgc/dgc_common.wgsl");

/// Momentum correction: tiles, tensors, clip, grad, u, v.
pub static DGC_COMPENSATE: Kernel = Kernel::new(
    wgsl!("dgc/dgc_compensate.wgsl"),
    &[&DGC_COMMON],
    &[R, R, R, R, W, W],
)
.twins(&[DgcTile::LAYOUT, DgcTensor::LAYOUT]);

/// Per-tile counts at or above the threshold: tiles, tensors, thresholds, v, counts.
pub static DGC_COUNT: Kernel = Kernel::new(
    wgsl!("dgc/dgc_count.wgsl"),
    &[&DGC_COMMON],
    &[R, R, R, R, W],
)
.twins(&[DgcTile::LAYOUT, DgcTensor::LAYOUT]);

/// Per-tensor exclusive scan of the tile counts: tensors, counts.
pub static DGC_SCAN: Kernel =
    Kernel::new(wgsl!("dgc/dgc_scan.wgsl"), &[&DGC_COMMON], &[R, W]).twins(&[DgcTensor::LAYOUT]);

/// Selection and masking: tiles, tensors, thresholds, tile offsets, v, u, message.
pub static DGC_SELECT: Kernel = Kernel::new(
    wgsl!("dgc/dgc_select.wgsl"),
    &[&DGC_COMMON],
    &[R, R, R, R, W, W, W],
)
.twins(&[DgcTile::LAYOUT, DgcTensor::LAYOUT]);

/// Every kernel DGC launches (the radix select's are `wgopt_solvers::quantile::KERNELS`).
pub const KERNELS: &[&Kernel] = &[&DGC_COMPENSATE, &DGC_COUNT, &DGC_SCAN, &DGC_SELECT];

/// Elements per tile. WGSL: DGC_TILE.
const TILE: usize = 4096;

/// One tensor of a chunk. WGSL twin in dgc/dgc_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
pub struct DgcTensor {
    pub offset: u32,
    pub len: u32,
    pub k: u32,
    pub out_offset: u32,
    pub first_tile: u32,
    pub tile_count: u32,
    pub global: u32,
    /// Σk over all tensors: where the message's indices start.
    pub sent: u32,
}

/// A run of one tensor. WGSL twin in dgc/dgc_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
pub struct DgcTile {
    pub tensor: u32,
    pub start: u32,
    pub end: u32,
    pub _pad: u32,
}

/// Tensors sharing one set of buffers.
struct Chunk {
    /// Global tensor indices and their offsets in the chunk.
    tensors: Vec<(usize, usize)>,
    grad: wgpu::Buffer,
    u: wgpu::Buffer,
    v: wgpu::Buffer,
    tiles: wgpu::Buffer,
    tile_table: Vec<DgcTile>,
    counts: wgpu::Buffer,
}

/// What depends on the ratio: k per tensor, the message buffers, the select, the dispatches.
struct Plan {
    ks: Vec<usize>,
    out_offsets: Vec<usize>,
    /// Values' bits, then indices: Σk words each.
    message: wgpu::Buffer,
    quantile: AbsQuantile,
    before: Vec<Dispatch>,
    after: Vec<Dispatch>,
    _tables: Vec<wgpu::Buffer>,
}

/// Per tensor, u and v: the compressor's memory as the host sees it.
pub type Memory = (Vec<Vec<f32>>, Vec<Vec<f32>>);

/// One worker's DGC memory (u, v) on the GPU and the passes that compress a gradient.
pub struct GpuDgc {
    config: DgcConfig,
    sizes: Vec<usize>,
    chunks: Vec<Chunk>,
    clip: wgpu::Buffer,
    plan: Plan,
    recorder: StepRecorder,
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

impl GpuDgc {
    /// Zero memory for tensors of `sizes` (each ≥ 1 element), compressing at `ratio`.
    pub fn new(engine: &Engine, sizes: &[usize], config: DgcConfig, ratio: f64) -> Result<GpuDgc> {
        config.validate()?;
        check_ratio(ratio)?;
        if sizes.is_empty() || sizes.contains(&0) {
            return Err(Error::InvalidHyperparameter(
                "DGC needs at least one tensor and no empty tensor".into(),
            ));
        }
        let chunks = pack(engine, sizes)?;
        let clip = engine.upload(
            "dgc clip",
            bytemuck::cast_slice(&vec![f32::INFINITY; sizes.len()]),
            STORAGE,
        );
        let plan = Plan::new(engine, &chunks, sizes, &config, ratio, &clip)?;
        Ok(GpuDgc {
            config,
            sizes: sizes.to_vec(),
            chunks,
            clip,
            plan,
            recorder: StepRecorder::new(),
        })
    }

    /// Coordinates each tensor sends at the current ratio.
    pub fn ks(&self) -> &[usize] {
        &self.plan.ks
    }

    /// Changes the ratio (the warm-up's epochs); the memory is kept.
    pub fn set_ratio(&mut self, engine: &Engine, ratio: f64) -> Result<()> {
        check_ratio(ratio)?;
        self.plan = Plan::new(
            engine,
            &self.chunks,
            &self.sizes,
            &self.config,
            ratio,
            &self.clip,
        )?;
        Ok(())
    }

    /// Corrects the memory with `grads` (clamped to ±`clip[t]` when local clipping is on),
    /// selects, masks, and returns each tensor's message. One submit, one readback.
    pub fn compress(
        &mut self,
        engine: &Engine,
        grads: &[&[f32]],
        clip: &[f32],
    ) -> Result<Vec<Sparse>> {
        if grads.len() != self.sizes.len()
            || grads.iter().zip(&self.sizes).any(|(g, &n)| g.len() != n)
        {
            return Err(Error::ShapeMismatch {
                name: "dgc gradients".into(),
                expected: format!("{:?} elements", self.sizes),
                got: format!("{:?}", grads.iter().map(|g| g.len()).collect::<Vec<_>>()),
            });
        }
        for c in &self.chunks {
            for &(t, off) in &c.tensors {
                engine.write_buffer(&c.grad, off as u64 * 4, bytemuck::cast_slice(grads[t]));
            }
        }
        if self.config.local_clipping {
            if clip.len() != self.sizes.len() {
                return Err(Error::LengthMismatch {
                    what: "dgc clip values",
                    expected: self.sizes.len(),
                    got: clip.len(),
                });
            }
            engine.write_buffer(&self.clip, 0, bytemuck::cast_slice(clip));
        }
        for d in &self.plan.before {
            self.recorder.push(d.clone());
        }
        self.plan.quantile.record(&mut self.recorder);
        for d in &self.plan.after {
            self.recorder.push(d.clone());
        }
        self.recorder.submit(engine)?;
        self.read_message(engine)
    }

    fn read_message(&self, engine: &Engine) -> Result<Vec<Sparse>> {
        let total: usize = self.plan.ks.iter().sum();
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&arena::read_bytes(
            engine,
            &self.plan.message,
            0,
            total as u64 * 8,
        )?);
        let (values, indices) = words.split_at(total);
        Ok(self
            .plan
            .ks
            .iter()
            .zip(&self.plan.out_offsets)
            .map(|(&k, &o)| Sparse {
                values: values[o..o + k]
                    .iter()
                    .map(|&b| f32::from_bits(b))
                    .collect(),
                indices: indices[o..o + k].to_vec(),
            })
            .collect())
    }

    /// The memory per tensor, (u, v) (waits): checkpoints and tests.
    pub fn read_memory(&self, engine: &Engine) -> Result<Memory> {
        let mut u = vec![Vec::new(); self.sizes.len()];
        let mut v = vec![Vec::new(); self.sizes.len()];
        for c in &self.chunks {
            for &(t, off) in &c.tensors {
                let (o, n) = (off as u64 * 4, self.sizes[t] as u64 * 4);
                u[t] = arena::read_range(engine, &c.u, o, n)?;
                v[t] = arena::read_range(engine, &c.v, o, n)?;
            }
        }
        Ok((u, v))
    }

    /// Replaces the memory (a checkpoint's), every tensor's u and v checked first.
    pub fn write_memory(&mut self, engine: &Engine, u: &[Vec<f32>], v: &[Vec<f32>]) -> Result<()> {
        for (t, &n) in self.sizes.iter().enumerate() {
            let (lu, lv) = (u.get(t).map_or(0, Vec::len), v.get(t).map_or(0, Vec::len));
            if lu != n || lv != n || u.len() != self.sizes.len() || v.len() != self.sizes.len() {
                return Err(Error::Checkpoint(format!(
                    "dgc memory of tensor {t}: {lu}/{lv} elements, expected {n}"
                )));
            }
        }
        for c in &self.chunks {
            for &(t, off) in &c.tensors {
                engine.write_buffer(&c.u, off as u64 * 4, bytemuck::cast_slice(&u[t]));
                engine.write_buffer(&c.v, off as u64 * 4, bytemuck::cast_slice(&v[t]));
            }
        }
        Ok(())
    }
}

fn check_ratio(ratio: f64) -> Result<()> {
    if ratio > 0.0 && ratio <= 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter(format!(
            "dgc ratio {ratio} must be in (0, 1]"
        )))
    }
}

/// Tensors in order into chunks of at most one binding.
fn pack(engine: &Engine, sizes: &[usize]) -> Result<Vec<Chunk>> {
    let cap = (engine.chunk_bytes() / 4) as usize;
    let mut groups: Vec<Vec<(usize, usize)>> = vec![Vec::new()];
    let mut used = 0;
    for (t, &n) in sizes.iter().enumerate() {
        if n > cap {
            return Err(Error::OverLimit {
                what: format!("dgc tensor {t}"),
                size: n as u64 * 4,
                limit: cap as u64 * 4,
                unit: "bytes",
            });
        }
        if used + n > cap {
            groups.push(Vec::new());
            used = 0;
        }
        groups.last_mut().expect("one group").push((t, used));
        used += n;
    }
    Ok(groups
        .into_iter()
        .map(|tensors| Chunk::new(engine, sizes, tensors))
        .collect())
}

impl Chunk {
    fn new(engine: &Engine, sizes: &[usize], tensors: Vec<(usize, usize)>) -> Chunk {
        let len: usize = tensors.iter().map(|&(t, _)| sizes[t]).sum();
        let mut tile_table = Vec::new();
        for (local, &(t, off)) in tensors.iter().enumerate() {
            for start in (off..off + sizes[t]).step_by(TILE) {
                let end = (start + TILE).min(off + sizes[t]);
                tile_table.push(DgcTile {
                    tensor: local as u32,
                    start: start as u32,
                    end: end as u32,
                    _pad: 0,
                });
            }
        }
        let zeros = |label| engine.create_buffer(label, len as u64 * 4, STORAGE);
        Chunk {
            grad: zeros("dgc grad"),
            u: zeros("dgc u"),
            v: zeros("dgc v"),
            tiles: engine.upload("dgc tiles", bytemuck::cast_slice(&tile_table), STORAGE),
            counts: engine.create_buffer("dgc tile counts", tile_table.len() as u64 * 4, STORAGE),
            tile_table,
            tensors,
        }
    }

    /// The chunk's tensor table at the plan's k's.
    fn table(&self, sizes: &[usize], ks: &[usize], out: &[usize]) -> Vec<DgcTensor> {
        let mut first = 0u32;
        self.tensors
            .iter()
            .map(|&(t, off)| {
                let tiles = sizes[t].div_ceil(TILE) as u32;
                let row = DgcTensor {
                    offset: off as u32,
                    len: sizes[t] as u32,
                    k: ks[t] as u32,
                    out_offset: out[t] as u32,
                    first_tile: first,
                    tile_count: tiles,
                    global: t as u32,
                    sent: ks.iter().sum::<usize>() as u32,
                };
                first += tiles;
                row
            })
            .collect()
    }
}

impl Plan {
    fn new(
        engine: &Engine,
        chunks: &[Chunk],
        sizes: &[usize],
        cfg: &DgcConfig,
        ratio: f64,
        clip: &wgpu::Buffer,
    ) -> Result<Plan> {
        let ks: Vec<usize> = sizes.iter().map(|&n| selected(n, ratio)).collect();
        let out_offsets: Vec<usize> = ks
            .iter()
            .scan(0, |a, &k| {
                let o = *a;
                *a += k;
                Some(o)
            })
            .collect();
        let total: usize = ks.iter().sum();
        let message = engine.create_buffer("dgc message", total as u64 * 8, STORAGE);
        let sources: Vec<QuantileSource<'_>> = chunks
            .iter()
            .map(|c| QuantileSource {
                buffer: &c.v,
                matrices: c
                    .tensors
                    .iter()
                    .map(|&(t, off)| (off as u32, sizes[t] as u32, ks[t] as f64))
                    .collect(),
            })
            .collect();
        let quantile = AbsQuantile::kth_largest(engine, &sources)?;
        let thresholds = quantile.thresholds().clone();
        let momentum = [
            ("MOMENTUM", f64::from(cfg.momentum)),
            ("NESTEROV", f64::from(u8::from(cfg.nesterov))),
        ];
        let masking = [("MASKING", f64::from(u8::from(cfg.momentum_masking)))];
        let (mut before, mut after, mut tables) = (Vec::new(), Vec::new(), Vec::new());
        for c in chunks {
            let table = engine.upload(
                "dgc tensors",
                bytemuck::cast_slice(&c.table(sizes, &ks, &out_offsets)),
                STORAGE,
            );
            let tiles = grid(engine, c.tile_table.len() as u32);
            before.push(engine.dispatch(
                &DGC_COMPENSATE,
                &momentum,
                &[&c.tiles, &table, clip, &c.grad, &c.u, &c.v],
                tiles,
            ));
            after.push(engine.dispatch(
                &DGC_COUNT,
                &[],
                &[&c.tiles, &table, &thresholds, &c.v, &c.counts],
                tiles,
            ));
            after.push(engine.dispatch(
                &DGC_SCAN,
                &[],
                &[&table, &c.counts],
                [(c.tensors.len() as u32).div_ceil(64), 1, 1],
            ));
            after.push(engine.dispatch(
                &DGC_SELECT,
                &masking,
                &[
                    &c.tiles,
                    &table,
                    &thresholds,
                    &c.counts,
                    &c.v,
                    &c.u,
                    &message,
                ],
                tiles,
            ));
            tables.push(table);
        }
        Ok(Plan {
            ks,
            out_offsets,
            message,
            quantile,
            before,
            after,
            _tables: tables,
        })
    }
}
