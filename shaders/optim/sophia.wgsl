// Sophia's update (Liuhong99/Sophia), one fused pass: decoupled decay, m ← β1·m + (1−β1)·g,
// r = min(|m| / (scale·h + eps), 1), p −= step·sign(m)·r. SophiaG: scale ρ·bs, eps 1e-15, step lr;
// SophiaH (HUTCHINSON): relu(h), eps 1e-12, step lr/(1 − β1^t). The Hessian EMA is its own kernel
// (sophia_hessian.wgsl), run every k steps. Reference twin: wgopt_reference::optim::sophia.
// Traffic: 24 bytes per element (read p, g, m, h; write p, m).

override MAXIMIZE: bool = false;
override HUTCHINSON: bool = false;

// Rust twin: wgopt_optim::sophia::SophiaSegment.
struct SophiaSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    scale: f32,
    eps: f32,
    neg_step: f32,
    lr: f32,
    _pad0: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<SophiaSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> hessian: array<vec4<f32>>;

fn sophia_neg_step(s: SophiaSegment) -> f32 {
    if (!HUTCHINSON || stats.applied_steps == s.step) {
        return s.neg_step;
    }
    return -s.lr / (1.0 - pow(s.beta1, f32(stats.applied_steps)));
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
        let neg_step = sophia_neg_step(seg);
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var g = grad[i] * clip;
            if (MAXIMIZE) {
                g = -g;
            }
            let p = param[i] * seg.decay;
            let m = exp_avg[i] * seg.beta1 + seg.one_minus_beta1 * g;
            exp_avg[i] = m;
            var h = hessian[i];
            if (HUTCHINSON) {
                h = max(h, vec4<f32>(0.0));
            }
            let r = min(abs(m) / (seg.scale * h + seg.eps), vec4<f32>(1.0));
            param[i] = p + neg_step * (sign(m) * r);
        }
    }
}
