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

// The exponent of entry l for output k: (f_l − C_lk)/ε (SIDE 0) or (g_l − C_kl)/ε (SIDE 1).
fn term(q: OtProblem, k: u32, l: u32, inv_eps: f32) -> f32 {
    if (SIDE == 0u) {
        return (pot[q.f_off + l] - cost_col(q, l, k)) * inv_eps;
    }
    return (pot[q.g_off + l] - cost_at(q, k, l)) * inv_eps;
}

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
    // Four independent running pairs per invocation, so consecutive loads do not wait on one
    // dependency chain; merged before the tree.
    var acc0 = vec2<f32>(-3.0e38, 0.0);
    var acc1 = acc0;
    var acc2 = acc0;
    var acc3 = acc0;
    var l = lid;
    for (; l + 3u * UPDATE_WG < others; l += 4u * UPDATE_WG) {
        acc0 = lse_push(acc0, term(q, k, l, inv_eps));
        acc1 = lse_push(acc1, term(q, k, l + UPDATE_WG, inv_eps));
        acc2 = lse_push(acc2, term(q, k, l + 2u * UPDATE_WG, inv_eps));
        acc3 = lse_push(acc3, term(q, k, l + 3u * UPDATE_WG, inv_eps));
    }
    for (; l < others; l += UPDATE_WG) {
        acc0 = lse_push(acc0, term(q, k, l, inv_eps));
    }
    let acc = lse_merge(lse_merge(acc0, acc1), lse_merge(acc2, acc3));
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
