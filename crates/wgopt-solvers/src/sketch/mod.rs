//! Sketches and sketch-and-project solvers on the GPU; reference twins in
//! `wgopt_reference::sketch` (same Philox bits: the GPU regenerates exactly the sketch entries,
//! hashes, signs and block choices the reference uses).
//!
//! - [`apply_sketch`]: `S·A` without materialising `S` — Gaussian entries generated inside a
//!   tiled product (`sketch/sketch_gaussian.wgsl`), CountSketch by bucket lists
//!   (`sketch/sketch_count.wgsl`), SRHT by signs, log₂ m' butterfly passes and a gather
//!   (`sketch/srht_*.wgsl`).
//! - [`BlockSolver`]: randomised block Kaczmarz (any consistent system) and block Newton (SPD
//!   systems): every block's Cholesky factor computed on the GPU, one workgroup per block
//!   (`sketch/block_factor.wgsl`), then many steps per dispatch in one workgroup
//!   (`sketch/block_project.wgsl`). The residual check reads x back every `check_every` steps.

//!
//! Layout: this module (kernels, uniforms, input checks), [`apply`] (the sketches), [`block`]
//! (the block solvers and the check loop every GPU iterative solver shares).

pub mod apply;
pub mod block;

pub use apply::{apply_sketch, record_sketch};
pub(crate) use block::iterate_to_tolerance;
pub use block::BlockSolver;

use bytemuck::{Pod, Zeroable};
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::kernel::common::PHILOX;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, StructLayout, Wgsl, WgslStruct};
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// `SketchParams`.
pub static SKETCH_COMMON: Wgsl = wgsl!("sketch/sketch_common.wgsl");
/// `BlockParams` and the block solvers' shared loops.
pub static BLOCK_COMMON: Wgsl = wgsl!("sketch/block_common.wgsl");

const SKETCH: &[StructLayout] = &[SketchParams::LAYOUT];
const BLOCK: &[StructLayout] = &[BlockParams::LAYOUT];

/// `sketch/sketch_gaussian.wgsl`, S·A with S's entries generated in the product: params, a, out.
pub static SKETCH_GAUSSIAN: Kernel = Kernel::new(
    wgsl!("sketch/sketch_gaussian.wgsl"),
    &[&PHILOX, &SKETCH_COMMON],
    &[U, R, W],
)
.twins(SKETCH);

/// `sketch/sketch_count.wgsl`, CountSketch by bucket lists: params, a, bucket_start,
/// bucket_rows, out.
pub static SKETCH_COUNT: Kernel = Kernel::new(
    wgsl!("sketch/sketch_count.wgsl"),
    &[&SKETCH_COMMON],
    &[U, R, R, R, W],
)
.twins(SKETCH);

/// `sketch/srht_sign.wgsl`, random signs into the padded work buffer: params, a, x.
pub static SRHT_SIGN: Kernel = Kernel::new(
    wgsl!("sketch/srht_sign.wgsl"),
    &[&PHILOX, &SKETCH_COMMON],
    &[U, R, W],
)
.twins(SKETCH);

/// `sketch/srht_butterfly.wgsl`, one Walsh–Hadamard pass: params, x.
pub static SRHT_BUTTERFLY: Kernel = Kernel::new(
    wgsl!("sketch/srht_butterfly.wgsl"),
    &[&SKETCH_COMMON],
    &[U, W],
)
.twins(SKETCH);

/// `sketch/srht_gather.wgsl`, the sampled rows: params, x, keep, out.
pub static SRHT_GATHER: Kernel = Kernel::new(
    wgsl!("sketch/srht_gather.wgsl"),
    &[&SKETCH_COMMON],
    &[U, R, R, W],
)
.twins(SKETCH);

/// `sketch/block_factor.wgsl`, every block's inverse Cholesky factor: params, a, factors,
/// status.
pub static BLOCK_FACTOR: Kernel = Kernel::new(
    wgsl!("sketch/block_factor.wgsl"),
    &[&BLOCK_COMMON],
    &[U, R, W, W],
)
.twins(BLOCK);

/// `sketch/block_project.wgsl`, many block steps in one workgroup: params, a, b, factors, x.
pub static BLOCK_PROJECT: Kernel = Kernel::new(
    wgsl!("sketch/block_project.wgsl"),
    &[&PHILOX, &SKETCH_COMMON, &BLOCK_COMMON],
    &[U, R, R, R, W],
)
.twins(BLOCK);

/// Every kernel of this module.
pub const KERNELS: &[&Kernel] = &[
    &SKETCH_GAUSSIAN,
    &SKETCH_COUNT,
    &SRHT_SIGN,
    &SRHT_BUTTERFLY,
    &SRHT_GATHER,
    &BLOCK_FACTOR,
    &BLOCK_PROJECT,
];

/// Uniform parameters of the sketch kernels (`shaders/sketch/sketch_common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct SketchParams {
    pub rows: u32,
    pub input: u32,
    pub cols: u32,
    pub stride: u32,
    pub key: [u32; 2],
    pub padded: u32,
    /// Gaussian: the Philox draw of S (0 for a one-off sketch; step k for sketch-and-project).
    pub draw: u32,
    pub scale: f32,
    /// Gaussian sketch-and-project: δ = ridge_rel · tr(G)/q.
    pub ridge_rel: f32,
    pub _pad2: f32,
    pub _pad3: f32,
}

/// Uniform parameters of the block solvers (`shaders/sketch/block_common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct BlockParams {
    pub m: u32,
    pub n: u32,
    pub q: u32,
    pub blocks: u32,
    pub first_step: u32,
    pub steps: u32,
    pub key: [u32; 2],
    pub ridge_rel: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Ridge of the GPU's Kaczmarz block factors: δ = 1e-6 · tr(A_τ A_τᵀ)/q. The reference's
/// 1e-12 is below f32 resolution; 1e-6 (≈ 8 ulp of the diagonal) keeps rank-deficient blocks
/// factorable in f32 and changes a well-conditioned block's solve by ~1e-6 relative.
pub const GPU_RIDGE: f32 = 1e-6;

pub(crate) fn bad(msg: String) -> Error {
    Error::InvalidHyperparameter(msg)
}

/// Creates a readable storage buffer holding `bytes`.
pub(crate) fn storage_buffer(engine: &Engine, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    engine.upload(
        label,
        bytes,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    )
}

/// Creates a uniform buffer holding `value`.
pub(crate) fn uniform_buffer<T: Pod>(engine: &Engine, label: &str, value: &T) -> wgpu::Buffer {
    engine.upload(
        label,
        bytemuck::bytes_of(value),
        wgpu::BufferUsages::UNIFORM,
    )
}

/// The checks every GPU iterative solver makes of its input: A (m × n row-major) and b of m
/// entries, both finite, and a sketch or block size q in 1..=32 (rows of a one-workgroup step).
pub(crate) fn check_system(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    q: usize,
    what: &str,
) -> Result<()> {
    if a.len() != m * n || b.len() != m || m == 0 || n == 0 {
        return Err(Error::ShapeMismatch {
            name: format!("{what} system"),
            expected: format!("A of {m}×{n} and b of {m}"),
            got: format!("A of {} values, b of {}", a.len(), b.len()),
        });
    }
    if !(1..=32).contains(&q) {
        return Err(bad(format!("{what}: q must be in 1..=32, got {q}")));
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return Err(SolveError::NonFinite(format!("A or b of the {what}")).into());
    }
    Ok(())
}

pub(crate) fn check_size(engine: &Engine, what: &str, floats: usize) -> Result<()> {
    let size = floats as u64 * 4;
    if size > engine.chunk_bytes() {
        return Err(Error::OverLimit {
            what: what.into(),
            size,
            limit: engine.chunk_bytes(),
            unit: "bytes",
        });
    }
    Ok(())
}
