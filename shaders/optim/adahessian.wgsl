// AdaHessian's update (amirgholami/adahessian), one fused pass: D = |Hz| (block-averaged
// beforehand by adahessian_blocks.wgsl where the parameter has blocks; |z| = 1 for Rademacher z),
// m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·D², denom = sqrt(v)^k / sqrt(bc2)^k + eps,
// p −= lr·((m/bc1)/denom + wd·p). Reference twin: wgopt_reference::optim::adahessian.
// Traffic: 32 bytes per element (read p, g, Hz, m, v; write p, m, v).

// Rust twin: wgopt_optim::adahessian::AdaHessianSegment.
struct AdaHessianSegment {
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
    bias_correction1: f32,
    // sqrt(1 − β2^t)^k
    bias_correction2_pow: f32,
    hessian_power: f32,
    eps: f32,
    _pad0: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<AdaHessianSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> exp_hessian_diag_sq: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> hvp: array<vec4<f32>>;

fn power(x: vec4<f32>, k: f32) -> vec4<f32> {
    if (k == 1.0) {
        return x;
    }
    // pow(0, k) is exp2(k·log2(0)): defined as 0 here, as torch's pow gives.
    return select(pow(x, vec4<f32>(k)), vec4<f32>(0.0), x == vec4<f32>(0.0));
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
        var bc1 = seg.bias_correction1;
        var bc2_pow = seg.bias_correction2_pow;
        if (stats.applied_steps != seg.step) {
            let t = f32(stats.applied_steps);
            bc1 = 1.0 - pow(seg.beta1, t);
            bc2_pow = pow(sqrt(1.0 - pow(seg.beta2, t)), seg.hessian_power);
        }
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let g = grad[i] * clip;
            let d = abs(hvp[i]);
            let p = param[i];
            let m = exp_avg[i] * seg.beta1 + seg.one_minus_beta1 * g;
            let v = exp_hessian_diag_sq[i] * seg.beta2 + seg.one_minus_beta2 * (d * d);
            exp_avg[i] = m;
            exp_hessian_diag_sq[i] = v;
            let denom = power(sqrt(v), seg.hessian_power) / bc2_pow + seg.eps;
            param[i] = p - seg.lr * ((m / bc1) / denom + seg.weight_decay * p);
        }
    }
}
