// The transport plan P_ij = exp((f_i + g_j − C_ij)/ε) applied to a vector without forming it,
// for every problem of a batch, one workgroup per output entry (tree sum): SIDE 1 gives
// (P v)_i = Σ_j P_ij v_j (v at g_off, out at f_off), SIDE 0 gives (Pᵀ u)_j = Σ_i P_ij u_i
// (u at f_off, out at g_off). Workgroup (x + y·nwg.x) is the entry, z the problem.

override SIDE: u32 = 1u;
const APPLY_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> pot: array<f32>;
@group(0) @binding(3) var<storage, read> input: array<f32>;
@group(0) @binding(4) var<storage, read_write> output: array<f32>;

var<workgroup> scratch: array<f32, APPLY_WG>;

@compute @workgroup_size(APPLY_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[wid.z];
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
    for (var l = lid; l < others; l += APPLY_WG) {
        if (SIDE == 1u) {
            let p = exp((pot[q.f_off + k] + pot[q.g_off + l] - cost_at(q, k, l)) * inv_eps);
            s += p * input[q.g_off + l];
        } else {
            let p = exp((pot[q.f_off + l] + pot[q.g_off + k] - cost_col(q, l, k)) * inv_eps);
            s += p * input[q.f_off + l];
        }
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = APPLY_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        if (SIDE == 1u) {
            output[q.f_off + k] = scratch[0];
        } else {
            output[q.g_off + k] = scratch[0];
        }
    }
}
