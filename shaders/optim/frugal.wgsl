// FRUGAL's update: decay every parameter by 1 − lr·wd; AdamW (torch form, bias correction from
// the last refresh, statistics zeroed on refresh steps) on plain parameters and on the
// state-full subset of projected ones (columns, rows, entries or the whole tensor, from
// frugal_columns.wgsl); signSGD / SGD / nothing (RULE 0 / 1 / 2) on the rest. Workgroup w updates block w (common/element_block.wgsl).
// Traffic: 12 + 16ρ bytes per element of a projected parameter (state read only where active).

override RULE: u32 = 0u;
// The state lives in compact buffers at FrugalParam.state_base (SVD projector: this kernel then
// updates only the parameters that are not 2-D) instead of arenas shaped like the parameters.
override COMPACT: bool = false;

const FRUGAL_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<FrugalParam>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(6) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(7) var<storage, read> columns: array<u32>;

@compute @workgroup_size(FRUGAL_WG)
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
    let clip = stats.clip_coef;
    let applied = stats.applied_steps;
    let projected = q.n_cols != 0u;
    // A skipped step the host has not read yet is recomputed in f32 from the GPU's count.
    let scalars = frugal_adam_scalars(q, applied);
    let step_size = scalars.x;
    let bc2_sqrt = scalars.y;
    let refresh = scalars.z != 0.0;
    for (var i = blk.start + lid; i < blk.end; i += FRUGAL_WG) {
        let si = select(i, q.state_base + blk.first_elem + i - blk.start, COMPACT);
        let g = grad[i] * clip;
        var p = param[i] * q.decay;
        var is_active = true;
        if (projected) {
            is_active = in_subset(q, blk.first_elem + i - blk.start);
        }
        if (is_active) {
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
            p -= step_size * (m / (sqrt(v) / bc2_sqrt + q.eps));
        } else {
            if (refresh) {
                exp_avg[si] = 0.0;
                exp_avg_sq[si] = 0.0;
            }
            if (RULE == 0u) {
                p -= q.inactive_step * sign(g);
            } else if (RULE == 1u) {
                p -= q.inactive_step * g;
            }
        }
        param[i] = p;
    }
}

// Whether entry e of a projected parameter is in its state-full subset.
fn in_subset(q: FrugalParam, e: u32) -> bool {
    if (q.mode == FRUGAL_RANDK) {
        return ((columns[q.col_base + e / 32u] >> (e % 32u)) & 1u) != 0u;
    }
    var unit = 0u;
    if (q.mode == 0u) {
        unit = e % q.n_cols;
    } else if (q.mode == 1u) {
        unit = e / q.n_cols;
    }
    return columns[q.col_base + q.n_units + unit] != 0u;
}
