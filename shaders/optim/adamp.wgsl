// AdamP/SGDP pass 3, the update: moments (or momentum), the direction u, the radial
// projection the decision asked for (u −= p·⟨p, u⟩/(‖p‖ + eps)² per row or for the layer, with
// p before decay), decay scaled by wd_ratio when projected, and the step. Workgroup w updates
// element block w (common/element_block.wgsl; rows need not align to vec4). Reference twin:
// wgopt_reference::optim::adamp. Traffic: 28 bytes per element here, plus pass 1's 16 (20 SGDP).

const ADAMP_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<AdamPParam>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(6) var<storage, read_write> exp_avg_sq: array<f32>;
// Decisions (one per parameter) then row sums.
@group(0) @binding(7) var<storage, read> sums: array<vec4<f32>>;

@compute @workgroup_size(ADAMP_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= arrayLength(&blocks) || stats.found_inf != 0u) {
        return;
    }
    let clip = stats.clip_coef;
    let seg = blocks[b];
    let q = params[seg.param];
    let bias = adamp_bias(q, stats.applied_steps);
    let decision = sums[seg.param];
    let mode = u32(decision.x);
    for (var i = seg.start + lid; i < seg.end; i += ADAMP_WG) {
        let g = grad[i] * clip;
        let p = param[i];
        var v_old = 0.0;
        if (!SGD) {
            v_old = exp_avg_sq[i];
        }
        let d = adamp_direction(q, g, exp_avg[i], v_old, bias.x);
        exp_avg[i] = d.x;
        if (!SGD) {
            exp_avg_sq[i] = d.y;
        }
        var u = d.z;
        var decay = q.decay;
        if (mode == 1u) {
            let s = sums[q.row_base + (seg.first_elem + i - seg.start) / q.row_len];
            let norm = sqrt(s.z) + q.eps;
            u -= p * (s.w / (norm * norm));
            decay = q.decay_projected;
        } else if (mode == 2u) {
            u -= p * (decision.z / (decision.y * decision.y));
            decay = q.decay_projected;
        }
        param[i] = p * decay + bias.y * u;
    }
}
