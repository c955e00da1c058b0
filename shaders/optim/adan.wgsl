// Adan (sail-sg/Adan adan.py), one fused pass over three moments and the stored negated
// previous gradient: d = g − g_prev (0 on the first applied step), m, v (of d), n (of
// (g + β2·d)²), the bias-corrected step, and proximal (or, with NO_PROX, decoupled) decay.
// Reference twin: wgopt_reference::optim::adan. Traffic: 44 bytes per element.

override NO_PROX: bool = false;

// Rust twin: wgopt_optim::adan::AdanSegment.
struct AdanSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    beta3: f32,
    one_minus_beta1: f32,
    one_minus_beta2: f32,
    one_minus_beta3: f32,
    eps: f32,
    // lr/bc1, lr·β2/bc2, sqrt(bc3)
    step1: f32,
    step2: f32,
    bias_correction3_sqrt: f32,
    // 1 − lr·wd (NO_PROX) or 1 + lr·wd
    decay: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<AdanSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_diff: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> neg_pre_grad: array<vec4<f32>>;

fn adan_terms(s: AdanSegment) -> vec3<f32> {
    if (stats.applied_steps == s.step) {
        return vec3<f32>(s.step1, s.step2, s.bias_correction3_sqrt);
    }
    let t = f32(stats.applied_steps);
    return vec3<f32>(
        s.lr / (1.0 - pow(s.beta1, t)),
        s.lr * s.beta2 / (1.0 - pow(s.beta2, t)),
        sqrt(1.0 - pow(s.beta3, t)),
    );
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let clip = stats.clip_coef;
    let first = stats.applied_steps == 1u;
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        let terms = adan_terms(seg);
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let g = grad[i] * clip;
            var neg_prev = neg_pre_grad[i];
            if (first) {
                neg_prev = -g;
            }
            let d = g + neg_prev;
            let m = exp_avg[i] * seg.beta1 + seg.one_minus_beta1 * g;
            let v = exp_avg_diff[i] * seg.beta2 + seg.one_minus_beta2 * d;
            let z = g + seg.beta2 * d;
            let n = exp_avg_sq[i] * seg.beta3 + seg.one_minus_beta3 * (z * z);
            exp_avg[i] = m;
            exp_avg_diff[i] = v;
            exp_avg_sq[i] = n;
            let denom = sqrt(n) / terms.z + seg.eps;
            let update = (terms.x * m + terms.y * v) / denom;
            if (NO_PROX) {
                param[i] = param[i] * seg.decay - update;
            } else {
                param[i] = (param[i] - update) / seg.decay;
            }
            neg_pre_grad[i] = -g;
        }
    }
}
