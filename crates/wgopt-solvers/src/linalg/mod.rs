//! Dense linear algebra on the GPU: batched GEMM and Gram ([`matmul`]), the generator of their
//! 128×128 and 64×128 tile cores ([`tile_128`]) and the per-adapter autotune that picks a core
//! ([`autotune`]).

pub mod autotune;
pub mod matmul;
pub mod tile_128;

pub use autotune::autotune;
pub use matmul::{Core, GemmOffsets, GemmParams, Matmul, MatmulSpec, Storage, GEMM_TILE};
