// One half-iteration of log-domain Sinkhorn for every active problem of a batch, one
// workgroup per updated potential entry (online log-sum-exp over the other side, tree merge):
// SIDE 0 updates g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε), SIDE 1 updates
// f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε). Workgroup (x + y·nwg.x) is the entry, z the problem.

override SIDE: u32 = 0u;
const UPDATE_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> logw: array<f32>;
@group(0) @binding(3) var<storage, read_write> pot: array<f32>;

var<workgroup> scratch: array<vec2<f32>, UPDATE_WG>;

@compute @workgroup_size(UPDATE_WG)
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
    // Uniform per workgroup, so the early return keeps barriers in uniform control flow.
    if (q.live == 0u || k >= outputs) {
        return;
    }
    let inv_eps = 1.0 / q.eps;
    var acc = vec2<f32>(-3.0e38, 0.0);
    for (var l = lid; l < others; l += UPDATE_WG) {
        var v: f32;
        if (SIDE == 0u) {
            v = (pot[q.f_off + l] - cost_col(q, l, k)) * inv_eps;
        } else {
            v = (pot[q.g_off + l] - cost_at(q, k, l)) * inv_eps;
        }
        acc = lse_push(acc, v);
    }
    scratch[lid] = acc;
    workgroupBarrier();
    for (var w = UPDATE_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] = lse_merge(scratch[lid], scratch[lid + w]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let r = scratch[0];
        let lse = r.x + log(r.y);
        if (SIDE == 0u) {
            pot[q.g_off + k] = q.eps * (logw[q.lb_off + k] - lse);
        } else {
            pot[q.f_off + k] = q.eps * (logw[q.la_off + k] - lse);
        }
    }
}
