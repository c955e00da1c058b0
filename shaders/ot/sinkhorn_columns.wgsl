// Per column j of every active problem: (Σ_i P_ij, Σ_i P_ij C_ij, Σ_i P_ij f_i, Σ_i P_ij log a_i)
// with P_ij = exp((f_i + g_j − C_ij)/ε): the column marginal for the stopping test and what the
// objectives need, in one pass (one workgroup per column, z = problem).

const COLUMNS_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> logw: array<f32>;
@group(0) @binding(3) var<storage, read> pot: array<f32>;
// Per problem, m entries starting at g_off (the same offsets as g).
@group(0) @binding(4) var<storage, read_write> columns: array<vec4<f32>>;

var<workgroup> scratch: array<vec4<f32>, COLUMNS_WG>;

@compute @workgroup_size(COLUMNS_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[wid.z];
    let j = wid.x + wid.y * nwg.x;
    if (q.live == 0u || j >= q.m) {
        return;
    }
    let inv_eps = 1.0 / q.eps;
    let gj = pot[q.g_off + j];
    var s = vec4<f32>(0.0);
    for (var i = lid; i < q.n; i += COLUMNS_WG) {
        let c = cost_col(q, i, j);
        let fi = pot[q.f_off + i];
        let pij = exp((fi + gj - c) * inv_eps);
        s += pij * vec4<f32>(1.0, c, fi, logw[q.la_off + i]);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = COLUMNS_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        columns[q.g_off + j] = scratch[0];
    }
}
