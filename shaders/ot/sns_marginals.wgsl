// The marginals of slot SLOT's plan P_ij = exp((f_i + g_j − C_ij)/ε): SIDE 0 the column sums
// c_j = Σ_i P_ij, SIDE 1 the row sums r_i = Σ_j P_ij, one workgroup per output (tree sum).

override SLOT: u32 = 0u;
override SIDE: u32 = 0u;
const MARGINALS_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> pot: array<f32>;
@group(0) @binding(3) var<storage, read_write> marg: array<f32>;

var<workgroup> scratch: array<f32, MARGINALS_WG>;

@compute @workgroup_size(MARGINALS_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[SLOT];
    let k = wid.x + wid.y * nwg.x;
    var outputs = q.m;
    var others = q.n;
    if (SIDE == 1u) {
        outputs = q.n;
        others = q.m;
    }
    if (k >= outputs) {
        return;
    }
    let inv_eps = 1.0 / q.eps;
    var s = 0.0;
    for (var l = lid; l < others; l += MARGINALS_WG) {
        if (SIDE == 0u) {
            s += exp((pot[q.f_off + l] + pot[q.g_off + k] - cost_col(q, l, k)) * inv_eps);
        } else {
            s += exp((pot[q.f_off + k] + pot[q.g_off + l] - cost_at(q, k, l)) * inv_eps);
        }
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = MARGINALS_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        if (SIDE == 0u) {
            marg[q.g_off + k] = scratch[0];
        } else {
            marg[q.f_off + k] = scratch[0];
        }
    }
}
