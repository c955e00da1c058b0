// Shared by M-FAC's four kernels (IST-DASLab/M-FAC, dense variant). The gradient window is one
// buffer of m rows, each a copy of the optimizer's span of the arena chunk (vec4 columns
// lo4 .. lo4 + width4); row (applied_steps − 1) mod m holds this step's gradient.
// Reference twin: wgopt_reference::optim::mfac.

// Rust twin: wgopt_optim::mfac::MfacParams.
struct MfacParams {
    m: u32,
    width4: u32,
    lo4: u32,
    tiles: u32,
    inv_damp: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

// Rust twin: wgopt_optim::mfac::MfacSegment (per group, vec4 range within the chunk).
struct MfacSegment {
    start: u32,
    end: u32,
    _pad: u32,
    _pad1: u32,
    neg_lr: f32,
    weight_decay: f32,
    momentum: f32,
    one_minus_momentum: f32,
}

fn mfac_row(p: MfacParams) -> u32 {
    return (stats.applied_steps + p.m - 1u) % p.m;
}
