// Shared by the block sketch-and-project kernels. Rust twin: wgopt_solvers::sketch::BlockParams.
// NEWTON = 0: block Kaczmarz (factor A_τ A_τᵀ + δI, update x along A_τᵀ);
// NEWTON = 1: block Newton for SPD A (factor A_ττ, update x_τ).

override NEWTON: u32 = 0u;

// Largest block (rows of a block × 8 threads fill a 256-thread workgroup).
const QMAX: u32 = 32u;

struct BlockParams {
    m: u32,
    n: u32,
    q: u32,
    blocks: u32,
    first_step: u32,
    steps: u32,
    key: vec2<u32>,
    // δ = ridge_rel · tr(G)/q (Kaczmarz; 0 for Newton).
    ridge_rel: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}
