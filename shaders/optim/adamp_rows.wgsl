// AdamP/SGDP pass 1: one workgroup per row of every projectable parameter reduces
// (Σ g·p, Σ g², Σ p², Σ p·u) over the row, u being this step's direction (not written).
// Rows are dim 0 of the parameter, the rest flattened, so they need not align to vec4.

const ROW_WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> params: array<AdamPParam>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
// (first element in the chunk, length, global row index, parameter index)
@group(0) @binding(2) var<storage, read> rows: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> exp_avg: array<f32>;
@group(0) @binding(6) var<storage, read> exp_avg_sq: array<f32>;
// Per-parameter decisions first, then one entry per row (AdamPParam::row_base counts from there).
@group(0) @binding(7) var<storage, read_write> sums: array<vec4<f32>>;

var<workgroup> scratch: array<vec4<f32>, ROW_WG>;

@compute @workgroup_size(ROW_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x + wid.y * nwg.x;
    if (r >= arrayLength(&rows) || stats.found_inf != 0u) {
        return;
    }
    let row = rows[r];
    let q = params[row.w];
    let bias = adamp_bias(q, stats.applied_steps);
    let clip = stats.clip_coef;
    var s = vec4<f32>(0.0);
    for (var i = row.x + lid; i < row.x + row.y; i += ROW_WG) {
        let g = grad[i] * clip;
        let p = param[i];
        var v_old = 0.0;
        if (!SGD) {
            v_old = exp_avg_sq[i];
        }
        let d = adamp_direction(q, g, exp_avg[i], v_old, bias.x);
        s += vec4<f32>(g * p, g * g, p * p, p * d.z);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = ROW_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        sums[row.z] = scratch[0];
    }
}
