// Shared by the SinkGD kernels (sinkgd_rows, sinkgd_cols, sinkgd_apply): the normalised
// matrix is never stored; X = diag(r)·(clip·G)·diag(c) and only the scale vectors r (rows) and
// c (columns) change, so each iteration reads G about twice and writes O(m + n).
// Matrices of one shape sit at `offsets[b]` (floats) in the arena chunk.

// Rust twin: wgopt_optim::sinkgd::SinkGdParams.
struct SinkGdParams {
    rows: u32,
    cols: u32,
    // 1 on the first iteration: the scales from the previous step are ignored (taken as 1).
    first: u32,
    _pad: u32,
    eps: f32,
    sqrt_rows: f32,
    sqrt_cols: f32,
    // apply only: p ← p·decay + neg_lr·X
    decay: f32,
    neg_lr: f32,
    _pad1: f32,
    _pad2: f32,
    _pad3: f32,
}

fn scale_or_one(v: f32) -> f32 {
    return select(v, 1.0, sink.first != 0u);
}
