// Sophia's Hessian EMA, run every k steps on the estimate the caller left in the gradient
// arena: h ← β2·h + (1−β2)·ĝ² (SophiaG, Gauss–Newton–Bartlett) or h ← β2·h + (1−β2)·u⊙Hu
// (HUTCHINSON: the caller's Hessian-vector product times the probe the optimizer drew).
// Its own step guard (clip like a gradient, skip on NaN/Inf) runs before it.
// Reference twin: wgopt_reference::optim::sophia::update_hessian. Traffic: 12 (16) bytes/element.

override HUTCHINSON: bool = false;

// Rust twin: wgopt_optim::sophia::SophiaHessianSegment.
struct SophiaHessianSegment {
    start: u32,
    end: u32,
    _pad0: u32,
    _pad1: u32,
    beta2: f32,
    one_minus_beta2: f32,
    _pad2: f32,
    _pad3: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<SophiaHessianSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read> estimate: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> hessian: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> probes: array<vec4<f32>>;

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
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let e = estimate[i] * clip;
            var sample = e * e;
            if (HUTCHINSON) {
                sample = probes[i] * e;
            }
            hessian[i] = hessian[i] * seg.beta2 + seg.one_minus_beta2 * sample;
        }
    }
}
