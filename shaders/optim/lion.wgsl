// Lion (google/automl lion_pytorch.py), one fused pass: decoupled decay, p −= lr·sign(β1·m +
// (1−β1)·g), then m ← β2·m + (1−β2)·g. WGSL sign(0) = 0 like torch.sign.
// Reference twin: wgopt_reference::optim::lion. Traffic: 20 bytes per element.

// Rust twin: wgopt_optim::lion::LionSegment.
struct LionSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    neg_lr: f32,
    decay: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<LionSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;

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
            let g = grad[i] * clip;
            let p = param[i] * seg.decay;
            let m = exp_avg[i];
            let c = m * seg.beta1 + g * seg.one_minus_beta1;
            param[i] = p + seg.neg_lr * sign(c);
            exp_avg[i] = m * seg.beta2 + g * seg.one_minus_beta2;
        }
    }
}
