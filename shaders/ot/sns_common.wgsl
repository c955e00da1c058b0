// Shared by the Sinkhorn–Newton–Sparse kernels (composed after sinkhorn_common.wgsl and
// sinkhorn_cost.wgsl). One problem in two slots of `problems`: slot 0 holds the current
// potentials, slot 1 a line-search trial. Per slot s, `pot` and `marg` hold N = n + m values at
// s·N (f then g; row sums r = P1 then column sums c = Pᵀ1). Reference twin:
// wgopt_reference::ot::sns (Sparsify::Binned).

// Rust twin: wgopt_solvers::sns::SnsParams.
struct SnsParams {
    n: u32,
    m: u32,
    // Kept entries per row at most; the CSR and CSC arrays hold `cap_total` entries each.
    cap: u32,
    cap_total: u32,
    // Workgroups of the length-N passes (partial sums to reduce).
    parts: u32,
    _pad0: u32,
    nu: f32,
    alpha: f32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
    _pad4: u32,
}

// Scalars (storage, f32): CG's state first (PCG_* of linalg/pcg_common.wgsl, composed before
// this file), then per slot s at S_ERR + 4s (L1 marginal error, dual, Σr, Σc), the line
// search's slope and the kept count.
const S_ERR: u32 = 16u;
const S_DUAL: u32 = 17u;
const S_SUM_R: u32 = 18u;
const S_SUM_C: u32 = 19u;
const S_SLOPE: u32 = 24u;
const S_NNZ: u32 = 25u;
const SCALARS: u32 = 32u;

// Vectors (length N each) in `vecs`: CG's (PCG_X … PCG_DIAG, the Jacobi diagonal), then the
// Newton system's right-hand side.
const V_RHS: u32 = 6u;
const VECTORS: u32 = 7u;

// Log-mass bins: an entry's bin is ⌊−ln(P_ij/r_i)/width⌋ clamped to the last (twin:
// SNS_BINS, SNS_BIN_WIDTH, sns_bin).
const SNS_BINS: u32 = 32u;
const SNS_BIN_WIDTH: f32 = 0.5;
// `cut` of a row with no kept entry.
const CUT_NONE: u32 = 0xffffffffu;

// `pattern` (u32) holds, for n rows and N = n + m unknowns: each row's last kept bin (the cut) at
// 0, the kept counts of the rows then the columns at n, and the CSR row offsets (n + 1) then
// the CSC column offsets (m + 1) at n + N.
fn pattern_counts(n: u32) -> u32 {
    return n;
}

fn pattern_offsets(n: u32, m: u32) -> u32 {
    return 2u * n + m;
}
