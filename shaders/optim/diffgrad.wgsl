// diffGrad (diffGrad_v2.py semantics), one fused pass: L2 decay into g, Adam moments, the
// friction ξ = 1/(1 + exp(−|g_prev − g|)) on the first moment, the step lr·sqrt(bc2)/bc1 with eps
// on the raw sqrt(v), and the new previous gradient (a copy, the v2 fix).
// Reference twin: wgopt_reference::optim::diffgrad. Traffic: 36 bytes per element.

// Rust twin: wgopt_optim::diffgrad::DiffGradSegment.
struct DiffGradSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    lr: f32,
    weight_decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    eps: f32,
    step_size: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<DiffGradSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> previous_grad: array<vec4<f32>>;

fn diffgrad_step_size(s: DiffGradSegment) -> f32 {
    if (stats.applied_steps == s.step) {
        return s.step_size;
    }
    let t = f32(stats.applied_steps);
    return s.lr * sqrt(1.0 - pow(s.beta2, t)) / (1.0 - pow(s.beta1, t));
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
        let neg_step = -diffgrad_step_size(seg);
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var g = grad[i] * clip;
            let p = param[i];
            if (seg.weight_decay != 0.0) {
                g = g + seg.weight_decay * p;
            }
            let m = exp_avg[i] * seg.beta1 + seg.one_minus_beta1 * g;
            let v = exp_avg_sq[i] * seg.beta2 + seg.one_minus_beta2 * (g * g);
            exp_avg[i] = m;
            exp_avg_sq[i] = v;
            let xi = 1.0 / (1.0 + exp(-abs(previous_grad[i] - g)));
            previous_grad[i] = g;
            param[i] = p + neg_step * ((m * xi) / (sqrt(v) + seg.eps));
        }
    }
}
