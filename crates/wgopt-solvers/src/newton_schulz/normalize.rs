//! Batched `dst = src / (factor·‖src‖_F + 1e-7)` over a grid of workgroups, several per
//! matrix (`shaders/linalg/frobenius_normalize.wgsl`): a pass of chunk sums of squares, then a
//! pass that reduces them in a fixed order and scales; optionally after ROOT's soft-threshold
//! clamp, which costs no pass of its own because the normalisation reads the matrix anyway.

use crate::linalg::matmul::{check_fits, check_fits_as, require_kernel};
use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Precision, WgslStruct};
use wgopt_scheduler::recorder::{Dispatch, StepRecorder};
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// Threads per workgroup of frobenius_normalize.wgsl (`NORM_WG`), which is also the most
/// chunks a matrix is cut into: the scale pass reduces one chunk sum per thread.
const NORM_WG: u32 = 256;

/// The fewest floats a chunk holds (16 per thread), so small matrices take one workgroup.
const MIN_CHUNK: u32 = 16 * NORM_WG;

/// `linalg/frobenius_normalize.wgsl` f32 → f32: params, offsets, src, dst, clamp_thresholds,
/// partials. Every invocation writes its tree slot before the reduction reads any.
pub static FROBENIUS_NORMALIZE: Kernel = Kernel::new(
    wgsl!("linalg/frobenius_normalize.wgsl"),
    &[],
    &[U, R, R, W, R, W],
)
.twins(&[NormalizeParams::LAYOUT, NormalizeOffsets::LAYOUT])
.storage(Precision::F32, Precision::F32)
.writes_shared_first();

/// The same reading f32 and writing f16 (the first Newton–Schulz iterate in f16).
pub static FROBENIUS_NORMALIZE_TO_F16: Kernel = Kernel::new(
    wgsl!("linalg/frobenius_normalize.wgsl"),
    &[],
    &[U, R, R, W, R, W],
)
.twins(&[NormalizeParams::LAYOUT, NormalizeOffsets::LAYOUT])
.storage(Precision::F32, Precision::F16)
.writes_shared_first();

/// Uniform of frobenius_normalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct NormalizeParams {
    pub len: u32,
    pub factor: f32,
    pub clamp_base: u32,
    /// Floats per chunk (a multiple of `NORM_WG`) and chunks per matrix (≤ `NORM_WG`).
    pub chunk: u32,
    pub chunks: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

impl NormalizeParams {
    /// Cuts `len` floats into at most `NORM_WG` chunks of at least `MIN_CHUNK`, each a
    /// multiple of `NORM_WG`, none empty.
    fn chunking(len: u32) -> (u32, u32) {
        let chunks = len.div_ceil(MIN_CHUNK).clamp(1, NORM_WG);
        let chunk = len.div_ceil(chunks).div_ceil(NORM_WG).max(1) * NORM_WG;
        (chunk, len.div_ceil(chunk).max(1))
    }
}

/// Source and destination offsets (floats) of one matrix to normalise.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
pub struct NormalizeOffsets {
    pub src: u32,
    pub dst: u32,
}

/// ROOT's soft-threshold fused into the normalisation: matrix i of a batch is clamped at
/// `thresholds[base + i]` (see [`crate::quantile::AbsQuantile`]).
#[derive(Debug, Clone, Copy)]
pub struct Clamp<'a> {
    pub thresholds: &'a wgpu::Buffer,
    pub base: u32,
}

/// A recorded-once batched normalisation: the chunk-sum pass, then the scale pass. Its
/// bind groups hold its buffers (params, offsets, the chunk sums between the passes).
#[derive(Debug)]
pub struct Normalize {
    passes: [Dispatch; 2],
}

impl Normalize {
    /// `len` floats per matrix from `src` to `dst` (f32 to f32), no clamp.
    pub fn new(
        engine: &Engine,
        len: u32,
        factor: f32,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        offsets: &[NormalizeOffsets],
    ) -> Result<Normalize> {
        Self::with(
            engine,
            (len, factor),
            (src, dst, offsets),
            None,
            Precision::F32,
        )
    }

    /// As [`Normalize::new`], clamping each matrix first when `clamp` is given, writing
    /// `output` precision (f32 source either way).
    pub fn with(
        engine: &Engine,
        (len, factor): (u32, f32),
        (src, dst, offsets): (&wgpu::Buffer, &wgpu::Buffer, &[NormalizeOffsets]),
        clamp: Option<Clamp<'_>>,
        output: Precision,
    ) -> Result<Normalize> {
        let kernel = match output {
            Precision::F32 => &FROBENIUS_NORMALIZE,
            Precision::F16 => &FROBENIUS_NORMALIZE_TO_F16,
        };
        require_kernel(engine, kernel)?;
        for o in offsets {
            check_fits("normalize source", src, o.src, len as u64)?;
            check_fits_as("normalize destination", dst, o.dst, len as u64, output)?;
        }
        let limit = engine.limits().max_compute_workgroups_per_dimension;
        if offsets.is_empty() || offsets.len() as u32 > limit {
            return Err(Error::OverLimit {
                what: "normalize batch".into(),
                size: offsets.len() as u64,
                limit: limit as u64,
                unit: "matrices",
            });
        }
        if let Some(c) = clamp {
            check_fits(
                "clamp thresholds",
                c.thresholds,
                c.base,
                offsets.len() as u64,
            )?;
        }
        let (chunk, chunks) = NormalizeParams::chunking(len);
        let p = NormalizeParams {
            len,
            factor,
            clamp_base: clamp.map_or(0, |c| c.base),
            chunk,
            chunks,
            ..Default::default()
        };
        let params = engine.upload(
            "normalize params",
            bytemuck::bytes_of(&p),
            wgpu::BufferUsages::UNIFORM,
        );
        let offs = engine.upload(
            "normalize offsets",
            bytemuck::cast_slice(offsets),
            wgpu::BufferUsages::STORAGE,
        );
        let partials = engine.create_buffer(
            "normalize partials",
            offsets.len() as u64 * chunks as u64 * 4,
            wgpu::BufferUsages::STORAGE,
        );
        // Without a clamp the thresholds binding is never read; the offsets stand in.
        let thresholds = clamp.map_or(&offs, |c| c.thresholds);
        let buffers = [&params, &offs, src, dst, thresholds, &partials];
        let grid = [chunks, offsets.len() as u32, 1];
        let pass = |scale: bool| {
            let constants = [
                ("CLAMP", clamp.is_some() as u8 as f64),
                ("SCALE_PASS", scale as u8 as f64),
            ];
            engine.dispatch(kernel, &constants, &buffers, grid)
        };
        Ok(Normalize {
            passes: [pass(false), pass(true)],
        })
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        for pass in &self.passes {
            rec.push(pass.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every float falls in exactly one non-empty chunk, and the scale pass has one thread per
    /// chunk sum.
    #[test]
    fn chunking_covers_every_float_once() {
        let small = [0, 1, 255, 256, 437, 4096, 4097, 20485];
        for len in small.into_iter().chain([1_001_000, 9_000_000, 1 << 24]) {
            let (chunk, chunks) = NormalizeParams::chunking(len);
            assert_eq!(chunk % NORM_WG, 0, "{len}");
            assert!((1..=NORM_WG).contains(&chunks), "{len}: {chunks} chunks");
            assert!(chunk as u64 * chunks as u64 >= len as u64, "{len}");
            assert!(
                len == 0 || (chunks - 1) * chunk < len,
                "{len}: an empty chunk"
            );
        }
    }
}
