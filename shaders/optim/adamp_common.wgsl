// Shared by AdamP/SGDP's three kernels (clovaai/AdamP adamp.py, sgdp.py): per-parameter
// scalars and the update direction u, which the row pass recomputes without writing it.
// Reference twin: wgopt_reference::optim::adamp.

// SGD: SGDP (u from the momentum buffer) instead of AdamP (u = m / denom).
override SGD: bool = false;
override NESTEROV: bool = false;

// Rust twin: wgopt_optim::adamp::AdamPParam. One per parameter, rewritten every step.
struct AdamPParam {
    // First row of this parameter in row_sums, its row count and length (dim 0 = rows).
    row_base: u32,
    n_rows: u32,
    row_len: u32,
    // 1 when the parameter has more than one dimension (the test and projection apply).
    projectable: u32,
    // AdamP: β1, 1 − β1, β2, 1 − β2; SGDP: momentum, 1 − dampening, unused, unused.
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    // −lr/bc1 (AdamP) or −lr (SGDP).
    neg_step: f32,
    // Decay factor without and with projection (1 − lr·wd[·wd_ratio][/(1 − momentum)]).
    decay: f32,
    decay_projected: f32,
    delta: f32,
    lr: f32,
    step: u32,
}

// (new m, new v, u) of one element (SGDP: (new buffer, 0, u)).
fn adamp_direction(q: AdamPParam, g: f32, m_old: f32, v_old: f32, bc2_sqrt: f32) -> vec3<f32> {
    if (SGD) {
        let b = m_old * q.beta1 + q.one_minus_beta1 * g;
        var u = b;
        if (NESTEROV) {
            u = g + q.beta1 * b;
        }
        return vec3<f32>(b, 0.0, u);
    }
    let m = m_old * q.beta1 + q.one_minus_beta1 * g;
    let v = v_old * q.beta2 + q.one_minus_beta2 * (g * g);
    let denom = sqrt(v) / bc2_sqrt + q.eps;
    var u = m / denom;
    if (NESTEROV) {
        u = (q.beta1 * m + q.one_minus_beta1 * g) / denom;
    }
    return vec3<f32>(m, v, u);
}

// (sqrt(bc2), −lr/bc1): the host's, or recomputed after a skipped step the host has not read.
fn adamp_bias(q: AdamPParam, applied: u32) -> vec2<f32> {
    if (SGD || applied == q.step) {
        return vec2<f32>(q.bias_correction2_sqrt, q.neg_step);
    }
    let t = f32(applied);
    return vec2<f32>(sqrt(1.0 - pow(q.beta2, t)), -q.lr / (1.0 - pow(q.beta1, t)));
}
