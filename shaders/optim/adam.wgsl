// Adam and AdamW (torch.optim single-tensor semantics), one fused pass over all parameters of
// one arena chunk that belong to the optimizer. Reference twin: wgopt_reference::optim::adam.
// Per element: 28 bytes of traffic (read p, g, m, v; write p, m, v), 36 with amsgrad.

override AMSGRAD: bool = false;
override MAXIMIZE: bool = false;
override DECOUPLED_WEIGHT_DECAY: bool = true;
// ROOT's internal AdamW: v by lerp, eps on the raw sqrt(v), step lr·sqrt(bc2)/bc1.
override ROOT_FALLBACK: bool = false;

// One contiguous range of a group in this chunk, with the group's per-step scalars (computed
// on the host in f64 and rounded once, as torch does with Python floats).
// Rust twin: wgopt_optim::adam::AdamSegment.
struct AdamSegment {
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
    step_size: f32,
    bias_correction2_sqrt: f32,
    root_step_size: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<AdamSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> max_exp_avg_sq: array<vec4<f32>>;

// (step_size, bias_correction2_sqrt, root_step_size): the host's values when the GPU has
// applied exactly the steps the host expected; recomputed in f32 after a skipped step the host
// has not read yet.
fn bias_terms(s: AdamSegment) -> vec3<f32> {
    if (stats.applied_steps == s.step) {
        return vec3<f32>(s.step_size, s.bias_correction2_sqrt, s.root_step_size);
    }
    let t = f32(stats.applied_steps);
    let bias_correction1 = 1.0 - pow(s.beta1, t);
    let bias_correction2_sqrt = sqrt(1.0 - pow(s.beta2, t));
    return vec3<f32>(
        s.lr / bias_correction1,
        bias_correction2_sqrt,
        s.lr * bias_correction2_sqrt / bias_correction1,
    );
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
        let bias = bias_terms(seg);
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
            var v: vec4<f32>;
            if (ROOT_FALLBACK) {
                v = torch_lerp(exp_avg_sq[i], g * g, seg.one_minus_beta2);
            } else {
                v = exp_avg_sq[i] * seg.beta2 + seg.one_minus_beta2 * (g * g);
            }
            exp_avg[i] = m;
            exp_avg_sq[i] = v;
            var v_used = v;
            if (AMSGRAD) {
                v_used = max(max_exp_avg_sq[i], v);
                max_exp_avg_sq[i] = v_used;
            }
            if (ROOT_FALLBACK) {
                param[i] = p + (-bias.z) * (m / (seg.eps + sqrt(v_used)));
            } else {
                let denom = sqrt(v_used) / bias.y + seg.eps;
                param[i] = p + (-bias.x) * (m / denom);
            }
        }
    }
}
