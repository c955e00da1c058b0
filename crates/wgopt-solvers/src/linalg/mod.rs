//! Dense linear algebra on the GPU: batched GEMM and Gram ([`matmul`]) and the per-adapter
//! autotune of their tile core ([`autotune`]).

pub mod autotune;
pub mod matmul;

pub use autotune::autotune;
pub use matmul::{GemmOffsets, GemmParams, Matmul, MatmulSpec, Storage, GEMM_TILE};
