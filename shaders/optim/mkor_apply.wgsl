// MKOR's base step (BASE 0: torch SGD with momentum; 1: torch Adam, L2 weight decay) with the
// preconditioned, rescaled gradient of layer tensors (raw where the rescale is not finite) and
// the raw gradient of every other parameter, times the guard's clip coefficient (the
// preconditioner and the rescale are linear in the gradient, so clipping after them equals
// clipping before). Workgroup w updates element block w.

override BASE: u32 = 0u;

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<MkorParam>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read> scale: array<f32>;
// SGD: momentum_buffer; Adam: exp_avg and exp_avg_sq.
@group(0) @binding(7) var<storage, read_write> state_a: array<f32>;
@group(0) @binding(8) var<storage, read_write> state_b: array<f32>;

fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

fn lerp1(start: f32, end: f32, w: f32) -> f32 {
    if (w < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}

@compute @workgroup_size(MKOR_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= arrayLength(&blocks) || stats.found_inf != 0u) {
        return;
    }
    let blk = blocks[b];
    let q = params[blk.param];
    let applied = stats.applied_steps;
    var rescale = 0.0;
    let preconditioned = q.kind != 0u && finite(scale[q.layer]);
    if (preconditioned) {
        rescale = scale[q.layer];
    }
    var step_size = q.step_size;
    var bc2_sqrt = q.bias_correction2_sqrt;
    if (applied != q.step) {
        // A skipped step the host has not read yet: recompute in f32 from the GPU's count.
        step_size = q.lr / (1.0 - pow(q.beta1, f32(applied)));
        bc2_sqrt = sqrt(1.0 - pow(q.beta2, f32(applied)));
    }
    for (var i = blk.start + lid; i < blk.end; i += MKOR_WG) {
        var g = grad[i];
        if (preconditioned) {
            g = delta[mkor_packed_index(q, blk.first_elem + i - blk.start)] * rescale;
        }
        g *= stats.clip_coef;
        var p = param[i];
        if (q.weight_decay != 0.0) {
            g += q.weight_decay * p;
        }
        if (BASE == 0u) {
            if (q.momentum != 0.0) {
                var buf = g;
                if (applied > 1u) {
                    buf = state_a[i] * q.momentum + q.one_minus_dampening * g;
                }
                state_a[i] = buf;
                g = buf;
            }
            p += -q.lr * g;
        } else {
            let m = lerp1(state_a[i], g, q.one_minus_beta1);
            let v = state_b[i] * q.beta2 + q.one_minus_beta2 * (g * g);
            state_a[i] = m;
            state_b[i] = v;
            p += -step_size * (m / (sqrt(v) / bc2_sqrt + q.eps));
        }
        param[i] = p;
    }
}
