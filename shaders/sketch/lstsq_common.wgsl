// Shared by the sketch-and-precondition least-squares kernels. Rust twin:
// wgopt_solvers::lstsq::LstsqParams.

struct LstsqParams {
    m: u32,
    n: u32,
    // Rows per workgroup in lstsq_atu (a chunk's partial sums).
    chunk_rows: u32,
    chunks: u32,
    // lstsq_av: u ← A·v − coef·u.
    coef: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}
