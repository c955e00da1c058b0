// Shared by MKOR's kernels. Reference twin: wgopt_reference::optim::mkor.

// Rust twin: wgopt_optim::mkor::MkorFactor. One inverse factor (A⁻¹ or G⁻¹ of one layer).
struct MkorFactor {
    // Offset of the n × n factor in its buffer (a_inv or g_inv).
    base: u32,
    n: u32,
    // Offset of its statistics vector v in `vectors`.
    v_off: u32,
    // Offset of its [u (n) | w (n)] scratch.
    uw_off: u32,
    // Its reset flag and the layer's other flag, in `flags`.
    flag: u32,
    other_flag: u32,
    // Its entry in `denoms` and `maxbits`.
    index: u32,
    _pad: u32,
}

// Rust twin: wgopt_optim::mkor::MkorSchedule. When factor steps happen, and the reset's ζ.
struct MkorSchedule {
    inv_freq: u32,
    warmup_steps: u32,
    zeta: f32,
    _pad: u32,
}

// Whether this step updates the factors: `applied_steps` already counts it, so the steps
// applied before it are applied_steps − 1 (MkorConfig::factor_step).
fn mkor_factor_step(s: MkorSchedule, applied_steps: u32) -> bool {
    let before = applied_steps - 1u;
    return before % s.inv_freq == 0u || before < s.warmup_steps;
}

const MKOR_WG: u32 = 256u;

// Rust twin: wgopt_optim::mkor::MkorParam. One per parameter of the program, rewritten
// every step.
struct MkorParam {
    // 0: the base optimizer alone; 1: a layer's weight; 2: a layer's bias.
    kind: u32,
    layer: u32,
    // Offset of the layer's d_out × a_dim block in `packed` and `delta`.
    p_off: u32,
    a_dim: u32,
    d_in: u32,
    // The applied step the host expects (Adam's bias corrections).
    step: u32,
    _pad0: u32,
    _pad1: u32,
    lr: f32,
    weight_decay: f32,
    momentum: f32,
    one_minus_dampening: f32,
    beta1: f32,
    beta2: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    eps: f32,
    // lr / bc1 and sqrt(bc2) at `step` (f64 on the host).
    step_size: f32,
    bias_correction2_sqrt: f32,
    _pad2: f32,
}

// Rust twin: wgopt_optim::mkor::MkorLayerDesc.
struct MkorLayerDesc {
    p_off: u32,
    d_out: u32,
    a_dim: u32,
    d_in: u32,
}

// Position of element e of a layer tensor in its packed [∇W | ∇b] block.
fn mkor_packed_index(q: MkorParam, e: u32) -> u32 {
    if (q.kind == 2u) {
        return q.p_off + e * q.a_dim + q.d_in;
    }
    return q.p_off + (e / q.d_in) * q.a_dim + e % q.d_in;
}
