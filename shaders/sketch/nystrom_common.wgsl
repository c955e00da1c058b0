// Shared by the Nyström-preconditioned CG kernels: (A + μI) x = b with A (n × n, symmetric
// PSD, row-major) and P⁻¹ = I + U·diag(scale)·Uᵀ, scale_j = (λ̂_ℓ + μ)/(λ̂_j + μ) − 1.
// Reference twin: wgopt_reference::sketch::nystrom (Nystrom::precondition, pcg).

// Rust twin: wgopt_solvers::nystrom::NystromParams.
struct NystromParams {
    n: u32,
    rank: u32,
    // Workgroups of the matvec (8 rows each) and of the length-n passes (256 each).
    matvec_parts: u32,
    parts: u32,
    cg_max: u32,
    _pad0: u32,
    mu: f32,
    tol2: f32,
}

// Scalars (storage, f32).
const N_RZ: u32 = 0u;
const N_PAP: u32 = 1u;
const N_ALPHA: u32 = 2u;
const N_BETA: u32 = 3u;
const N_RR: u32 = 4u;
const N_BB: u32 = 5u;
const N_DONE: u32 = 6u;
const N_ITS: u32 = 7u;
// 1 when pᵀ(A + μI)p ≤ 0 stopped CG (not positive definite).
const N_NOT_SPD: u32 = 8u;
const N_SCALARS: u32 = 16u;

// CG vectors (length n each) in `vecs`, at section·n.
const W_X: u32 = 0u;
const W_R: u32 = 1u;
const W_Z: u32 = 2u;
const W_P: u32 = 3u;
const W_AP: u32 = 4u;
