//! Batched `dst = src / (factor·‖src‖_F + 1e-7)`, one workgroup per matrix
//! (`shaders/linalg/frobenius_normalize.wgsl`), optionally after ROOT's soft-threshold clamp:
//! the clamp costs no pass of its own because the normalisation reads the matrix anyway.

use crate::linalg::matmul::{check_fits, check_fits_as, require_kernel};
use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Precision, WgslStruct};
use wgopt_scheduler::recorder::{Dispatch, StepRecorder};
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// `linalg/frobenius_normalize.wgsl` f32 → f32: params, offsets, src, dst, clamp_thresholds.
pub static FROBENIUS_NORMALIZE: Kernel = Kernel::new(
    wgsl!("linalg/frobenius_normalize.wgsl"),
    &[],
    &[U, R, R, W, R],
)
.twins(&[NormalizeParams::LAYOUT, NormalizeOffsets::LAYOUT])
.storage(Precision::F32, Precision::F32);

/// The same reading f32 and writing f16 (the first Newton–Schulz iterate in f16).
pub static FROBENIUS_NORMALIZE_TO_F16: Kernel = Kernel::new(
    wgsl!("linalg/frobenius_normalize.wgsl"),
    &[],
    &[U, R, R, W, R],
)
.twins(&[NormalizeParams::LAYOUT, NormalizeOffsets::LAYOUT])
.storage(Precision::F32, Precision::F16);

/// Uniform of frobenius_normalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct NormalizeParams {
    pub len: u32,
    pub factor: f32,
    pub clamp_base: u32,
    pub _pad1: u32,
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

/// A recorded-once batched normalisation.
#[derive(Debug)]
pub struct Normalize {
    dispatch: Dispatch,
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
        let p = NormalizeParams {
            len,
            factor,
            clamp_base: clamp.map_or(0, |c| c.base),
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
        // Without a clamp the thresholds binding is never read; the offsets stand in.
        let thresholds = clamp.map_or(&offs, |c| c.thresholds);
        let constants = [("CLAMP", clamp.is_some() as u8 as f64)];
        let buffers = [&params, &offs, src, dst, thresholds];
        Ok(Normalize {
            dispatch: engine.dispatch(kernel, &constants, &buffers, [offsets.len() as u32, 1, 1]),
        })
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }
}
