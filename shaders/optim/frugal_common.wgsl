// Shared by FRUGAL's kernels (gradient splitting: columns, rows, randk, blocks, svd). Reference
// twin: wgopt_reference::optim::frugal.

// Rust twin: wgopt_optim::frugal::FrugalParam. One per parameter, rewritten every step.
struct FrugalParam {
    // Columns of a projected (2-D) parameter; 0 for plain AdamW parameters.
    n_cols: u32,
    // Offset of this parameter's subset in `columns`: [keys (n_units) | mask (n_units)], or
    // for randk a bit mask over its entries; for the SVD projector the offset of its
    // [P(G) | update] pair in the low-dimensional buffer.
    col_base: u32,
    update_gap: u32,
    // State-full units: ⌊n_units·density⌋, or for blocks the group's round(ρ·#tensors).
    active_cols: u32,
    slot: u32,
    seed_lo: u32,
    seed_hi: u32,
    // 1: rebuild the mask on this step even if no refresh is due (after a checkpoint load).
    force_mask: u32,
    decay: f32,
    // lr·proj_params_lr_scale (1 for plain parameters).
    lr_scaled: f32,
    // lr·proj_params_lr_scale·inactive_lr_scale.
    inactive_step: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    // lr_scaled/bc1 and sqrt(bc2) at the host's expected step `step` (f64 on the host).
    step_size: f32,
    bias_correction2_sqrt: f32,
    step: u32,
    // 0 columns, 1 rows, 2 randk, 3 blocks, 4 svd (Projection::code).
    mode: u32,
    // Units the subset is drawn from: columns, rows, entries, or 1 (blocks); for the SVD
    // projector the length of P(G), max(rows, cols)·r.
    n_units: u32,
    group: u32,
    numel: u32,
    // Offset of this parameter's state in the compact state buffers (SVD projector: the
    // projected coordinates of a 2-D weight, the whole parameter otherwise); unused when the
    // state lives in arenas.
    state_base: u32,
}

const FRUGAL_RANDK: u32 = 2u;
const FRUGAL_BLOCKS: u32 = 3u;

// Steps since the last refresh (0 on a refresh step) and the refresh period of applied step t.
fn frugal_since(q: FrugalParam, applied: u32) -> u32 {
    return (applied - 1u) % q.update_gap;
}

fn frugal_period(q: FrugalParam, applied: u32) -> u32 {
    return (applied - 1u) / q.update_gap;
}

// (step_size, sqrt(bc2), refresh) at the GPU's applied step: the host's f64 values unless a skip
// it has not read moved the count (then recomputed in f32). A projected parameter (n_cols ≠ 0)
// counts its bias correction from the last refresh; a plain one from the first step and never
// refreshes.
fn frugal_adam_scalars(q: FrugalParam, applied: u32) -> vec3<f32> {
    var local = f32(applied);
    var refresh = false;
    if (q.n_cols != 0u) {
        let since = frugal_since(q, applied);
        local = f32(since + 1u);
        refresh = since == 0u;
    }
    var step_size = q.step_size;
    var bc2_sqrt = q.bias_correction2_sqrt;
    if (applied != q.step) {
        step_size = q.lr_scaled / (1.0 - pow(q.beta1, local));
        bc2_sqrt = sqrt(1.0 - pow(q.beta2, local));
    }
    return vec3<f32>(step_size, bc2_sqrt, select(0.0, 1.0, refresh));
}
