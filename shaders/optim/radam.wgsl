// RAdam (torch.optim.RAdam single-tensor semantics), one fused pass over all parameters of one
// arena chunk that belong to the optimizer. Reference twin: wgopt_reference::optim::radam.
// Per element: 28 bytes of traffic (read p, g, m, v; write p, m, v).

override MAXIMIZE: bool = false;
override DECOUPLED_WEIGHT_DECAY: bool = false;

// One contiguous range of a group in this chunk, with the group's per-step scalars (computed
// on the host in f64 and rounded once, as torch does with Python floats).
// Rust twin: wgopt_optim::radam::RAdamSegment.
struct RAdamSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    lr: f32,
    weight_decay: f32,
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    bias_correction1: f32,
    bias_correction2_sqrt: f32,
    // r_t, or 0 while the adaptive step is intractable (ρ_t ≤ 5: SGD on m̂).
    rect: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<RAdamSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;

// (bias_correction1, bias_correction2_sqrt, rect): the host's values when the GPU has applied
// exactly the steps the host expected; recomputed in f32 after a skipped step the host has not
// read yet.
fn step_terms(s: RAdamSegment) -> vec3<f32> {
    if (stats.applied_steps == s.step) {
        return vec3<f32>(s.bias_correction1, s.bias_correction2_sqrt, s.rect);
    }
    let t = f32(stats.applied_steps);
    let beta2_t = pow(s.beta2, t);
    let rho_inf = 2.0 / (1.0 - s.beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
    var rect = 0.0;
    if (rho_t > 5.0) {
        rect = sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
    }
    return vec3<f32>(1.0 - pow(s.beta1, t), sqrt(1.0 - beta2_t), rect);
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
        let terms = step_terms(seg);
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var g = grad[i] * clip;
            if (MAXIMIZE) {
                g = -g;
            }
            var p = param[i];
            if (seg.weight_decay != 0.0) {
                if (DECOUPLED_WEIGHT_DECAY) {
                    p = p * seg.decay;
                } else {
                    g = g + seg.weight_decay * p;
                }
            }
            let m = torch_lerp(exp_avg[i], g, seg.one_minus_beta1);
            let v = exp_avg_sq[i] * seg.beta2 + seg.one_minus_beta2 * (g * g);
            exp_avg[i] = m;
            exp_avg_sq[i] = v;
            let m_hat = m / terms.x;
            if (terms.z > 0.0) {
                param[i] = p - m_hat * seg.lr * (terms.y / (sqrt(v) + seg.eps)) * terms.z;
            } else {
                param[i] = p - m_hat * seg.lr;
            }
        }
    }
}
