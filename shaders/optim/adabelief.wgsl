// AdaBelief (adabelief_pytorch 0.2.x), one fused pass: decay (decoupled or L2), m, the belief
// s ← β2·s + (1−β2)·(g − m)² + eps (eps accumulates inside the state, as in the package),
// amsgrad max, and the rectified (RAdam-style) step chosen per segment on the host.
// Reference twin: wgopt_reference::optim::adabelief. Traffic: 28 bytes per element (36 amsgrad).

override AMSGRAD: bool = false;
override WEIGHT_DECOUPLE: bool = true;
override RECTIFY: bool = true;
override DEGENERATED_TO_SGD: bool = true;

// mode: 0 plain Adam-style step, 1 rectified adaptive, 2 momentum (SGD), 3 no update.
// Rust twin: wgopt_optim::adabelief::AdaBeliefSegment.
struct AdaBeliefSegment {
    start: u32,
    end: u32,
    step: u32,
    mode: u32,
    lr: f32,
    decay: f32,
    weight_decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    coef: f32,
    bias_correction2_sqrt: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<AdaBeliefSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_var: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> max_exp_avg_var: array<vec4<f32>>;

// (mode, coef, sqrt(bc2)): the host's unless a skipped step the host has not read yet moved
// the GPU's count; then recomputed in f32 by wgopt_reference::optim::adabelief::rectified_step.
fn belief_terms(s: AdaBeliefSegment) -> vec3<f32> {
    if (stats.applied_steps == s.step) {
        return vec3<f32>(f32(s.mode), s.coef, s.bias_correction2_sqrt);
    }
    let t = f32(stats.applied_steps);
    let beta2_t = pow(s.beta2, t);
    let bc1 = 1.0 - pow(s.beta1, t);
    let bc2_sqrt = sqrt(1.0 - beta2_t);
    if (!RECTIFY) {
        return vec3<f32>(0.0, 1.0 / bc1, bc2_sqrt);
    }
    let rho_inf = 2.0 / s.one_minus_beta2 - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
    if (rho_t >= 5.0) {
        let r = (1.0 - beta2_t) * (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / rho_t * rho_inf / (rho_inf - 2.0);
        return vec3<f32>(1.0, sqrt(r) / bc1, bc2_sqrt);
    }
    if (DEGENERATED_TO_SGD) {
        return vec3<f32>(2.0, 1.0 / bc1, bc2_sqrt);
    }
    return vec3<f32>(3.0, 0.0, bc2_sqrt);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let clip = stats.clip_coef;
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        let terms = belief_terms(seg);
        let mode = u32(terms.x);
        let neg_step = -seg.lr * terms.y;
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var g = grad[i] * clip;
            var p = param[i];
            if (WEIGHT_DECOUPLE) {
                p = p * seg.decay;
            } else if (seg.weight_decay != 0.0) {
                g = g + seg.weight_decay * p;
            }
            let m = exp_avg[i] * seg.beta1 + seg.one_minus_beta1 * g;
            exp_avg[i] = m;
            let r = g - m;
            let s = exp_avg_var[i] * seg.beta2 + seg.one_minus_beta2 * (r * r) + seg.eps;
            exp_avg_var[i] = s;
            var s_used = s;
            if (AMSGRAD) {
                s_used = max(max_exp_avg_var[i], s);
                max_exp_avg_var[i] = s_used;
            }
            if (mode == 0u) {
                param[i] = p + neg_step * (m / (sqrt(s_used) / terms.z + seg.eps));
            } else if (mode == 1u) {
                param[i] = p + neg_step * (m / (sqrt(s) + seg.eps));
            } else if (mode == 2u) {
                param[i] = p + neg_step * m;
            } else {
                param[i] = p;
            }
        }
    }
}
