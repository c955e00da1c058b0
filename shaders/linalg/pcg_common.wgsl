// Preconditioned conjugate gradient shared by every GPU CG in wgopt (Sinkhorn–Newton–Sparse's
// Jacobi-PCG, Nyström PCG): the state lives on the GPU, so the host reads it only every few
// iterations. A problem supplies the product (writing ap and partial sums p·ap) and, unless
// the preconditioner is Jacobi (fused into pcg_update.wgsl), a preconditioner pass (writing z
// and partial sums r·z). Reference twins: wgopt_reference::sketch::nystrom::pcg and the CG of
// wgopt_reference::ot::sns.

// Rust twin: wgopt_solvers::pcg::PcgParams.
struct PcgParams {
    // Unknowns.
    len: u32,
    // Workgroups (partial sums) of the length-`len` passes, and of the product.
    parts: u32,
    product_parts: u32,
    cg_max: u32,
    // Stop when ‖r‖² ≤ tol2·‖b‖².
    tol2: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Scalars (storage, f32) at the start of the problem's scalar buffer.
const PCG_RZ: u32 = 0u;
const PCG_PAP: u32 = 1u;
const PCG_ALPHA: u32 = 2u;
const PCG_BETA: u32 = 3u;
const PCG_RR: u32 = 4u;
const PCG_BB: u32 = 5u;
const PCG_DONE: u32 = 6u;
const PCG_ITS: u32 = 7u;
// 1 when pᵀAp ≤ 0 stopped CG (not positive definite).
const PCG_NOT_SPD: u32 = 8u;
const PCG_SCALARS: u32 = 16u;

// Vectors (length `len` each) in `vecs`, at section·len; a problem may add sections after.
const PCG_X: u32 = 0u;
const PCG_R: u32 = 1u;
const PCG_Z: u32 = 2u;
const PCG_P: u32 = 3u;
const PCG_AP: u32 = 4u;
// The Jacobi preconditioner's diagonal (JACOBI only).
const PCG_DIAG: u32 = 5u;
const PCG_VECTORS: u32 = 5u;

const PCG_WG: u32 = 256u;
