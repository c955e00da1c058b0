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
    mu: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// CG's scalars and vectors are linalg/pcg_common.wgsl's (PCG_*), composed before this file.
