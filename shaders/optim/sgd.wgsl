// SGD with momentum, dampening, Nesterov, weight decay and maximize (torch.optim.SGD
// semantics), one fused pass. Reference twin: wgopt_reference::optim::sgd.
// The first applied step copies the (decayed) gradient into the momentum buffer, as torch does
// when `momentum_buffer is None`.

override MAXIMIZE: bool = false;
override NESTEROV: bool = false;

// Rust twin: wgopt_optim::sgd::SgdSegment.
struct SgdSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    neg_lr: f32,
    weight_decay: f32,
    momentum: f32,
    one_minus_dampening: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<SgdSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> momentum_buffer: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let first = stats.applied_steps == 1u;
    let clip = stats.clip_coef;
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            var d = grad[i] * clip;
            if (MAXIMIZE) {
                d = -d;
            }
            let p = param[i];
            if (seg.weight_decay != 0.0) {
                d = d + seg.weight_decay * p;
            }
            if (seg.momentum != 0.0) {
                var buf = d;
                if (!first) {
                    buf = momentum_buffer[i] * seg.momentum + seg.one_minus_dampening * d;
                }
                momentum_buffer[i] = buf;
                if (NESTEROV) {
                    d = d + seg.momentum * buf;
                } else {
                    d = buf;
                }
            }
            param[i] = p + seg.neg_lr * d;
        }
    }
}
