// AdaGrad (torch.optim.Adagrad single-tensor semantics), one fused pass: L2 decay into g,
// sum += g², p −= clr·g/(sqrt(sum) + eps) with clr = lr/(1 + (t−1)·lr_decay).
// Reference twin: wgopt_reference::optim::adagrad. Traffic: 20 bytes per element.

override MAXIMIZE: bool = false;

// Rust twin: wgopt_optim::adagrad::AdaGradSegment.
struct AdaGradSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    neg_clr: f32,
    lr: f32,
    lr_decay: f32,
    weight_decay: f32,
    eps: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<AdaGradSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> sum: array<vec4<f32>>;

fn adagrad_neg_clr(s: AdaGradSegment) -> f32 {
    if (stats.applied_steps == s.step) {
        return s.neg_clr;
    }
    return -s.lr / (1.0 + (f32(stats.applied_steps) - 1.0) * s.lr_decay);
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
        let neg_clr = adagrad_neg_clr(seg);
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var g = grad[i] * clip;
            if (MAXIMIZE) {
                g = -g;
            }
            let p = param[i];
            if (seg.weight_decay != 0.0) {
                g = g + seg.weight_decay * p;
            }
            let s = sum[i] + g * g;
            sum[i] = s;
            param[i] = p + neg_clr * (g / (sqrt(s) + seg.eps));
        }
    }
}
