//! Calibration kernels for benchmarks: a copy kernel (achievable bandwidth) and an FMA kernel
//! (achievable f32 throughput), launched like the optimizer kernels so ratios are fair.

use crate::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use crate::kernel::{Kernel, WgslStruct};
use crate::recorder::{Dispatch, StepRecorder};
use crate::{Engine, Error, Result};
use bytemuck::{Pod, Zeroable};

/// `bench/copy.wgsl`: bindings src, dst.
pub static COPY: Kernel = Kernel::new(crate::wgsl!("bench/copy.wgsl"), &[], &[R, W]);

/// `bench/fma.wgsl`: bindings out, params.
pub static FMA: Kernel =
    Kernel::new(crate::wgsl!("bench/fma.wgsl"), &[], &[W, U]).twins(&[FmaParams::LAYOUT]);

/// Uniform of bench/fma.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct FmaParams {
    pub iterations: u32,
    pub mul: f32,
    pub add: f32,
    pub _pad: u32,
}

/// Copy of `n` floats (rounded up to vec4) between two buffers.
#[derive(Debug)]
pub struct CopyBench {
    pub src: wgpu::Buffer,
    pub dst: wgpu::Buffer,
    dispatch: Dispatch,
    /// Bytes moved per launch (read + write).
    pub bytes: u64,
}

impl CopyBench {
    /// A copy of `n` floats; fails when one buffer would exceed a storage binding.
    pub fn new(engine: &Engine, n: usize) -> Result<CopyBench> {
        let size = (n.div_ceil(4) * 16) as u64;
        if size > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: "copy benchmark buffer".into(),
                size,
                limit: engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let src = engine.create_buffer("copy src", size, usage);
        let dst = engine.create_buffer("copy dst", size, usage);
        let wg = ((size / 16) as u32)
            .div_ceil(256)
            .clamp(1, engine.max_workgroups());
        Ok(CopyBench {
            dispatch: engine.dispatch(&COPY, &[], &[&src, &dst], [wg, 1, 1]),
            src,
            dst,
            bytes: 2 * size,
        })
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }
}

/// FMA throughput kernel over `workgroups × 256` invocations.
#[derive(Debug)]
pub struct FmaBench {
    pub out: wgpu::Buffer,
    dispatch: Dispatch,
    /// FLOPs per launch.
    pub flops: f64,
}

impl FmaBench {
    pub fn new(engine: &Engine, workgroups: u32, iterations: u32) -> FmaBench {
        let invocations = workgroups as u64 * 256;
        let out = engine.create_buffer(
            "fma out",
            invocations * 16,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        );
        let params = engine.create_buffer(
            "fma params",
            16,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let p = FmaParams {
            iterations,
            mul: 0.9999,
            add: 1e-4,
            _pad: 0,
        };
        engine
            .queue()
            .write_buffer(&params, 0, bytemuck::bytes_of(&p));
        FmaBench {
            dispatch: engine.dispatch(&FMA, &[], &[&out, &params], [workgroups, 1, 1]),
            out,
            // 4 unrolled rounds × 8 chains × 4 lanes × 2 FLOPs per iteration.
            flops: invocations as f64 * iterations as f64 * 256.0,
        }
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }
}
