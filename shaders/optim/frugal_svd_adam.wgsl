// FRUGAL's SVD projector, the state-full part: AdamW (torch form, bias correction from the last
// refresh, statistics zeroed on refresh steps) on the projected gradient P(G) of every 2-D
// weight, in its compact coordinates. Reads P(G) (written by the projection GEMM from the raw
// gradient, so the guard's clip is applied here) and writes the update
// step_size·m/(sqrt(v)/sqrt(bc2) + eps) beside it, for the lift GEMM. Workgroup w updates block w
// (blocks over the low-dimensional buffer: start/end absolute, first_elem within the weight).
// Reference twin: wgopt_reference::optim::frugal::svd::step.

const SVD_ADAM_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<FrugalParam>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> low: array<f32>;
@group(0) @binding(4) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(5) var<storage, read_write> exp_avg_sq: array<f32>;

@compute @workgroup_size(SVD_ADAM_WG)
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
    let s = frugal_adam_scalars(q, stats.applied_steps);
    let refresh = s.z != 0.0;
    for (var i = blk.start + lid; i < blk.end; i += SVD_ADAM_WG) {
        let e = blk.first_elem + i - blk.start;
        let si = q.state_base + e;
        let g = low[i] * stats.clip_coef;
        var m_old = exp_avg[si];
        var v_old = exp_avg_sq[si];
        if (refresh) {
            m_old = 0.0;
            v_old = 0.0;
        }
        let m = m_old * q.beta1 + q.one_minus_beta1 * g;
        let v = v_old * q.beta2 + q.one_minus_beta2 * (g * g);
        exp_avg[si] = m;
        exp_avg_sq[si] = v;
        low[i + q.n_units] = s.x * (m / (sqrt(v) / s.y + q.eps));
    }
}
