// One half-iteration of log-domain Sinkhorn for every active problem of a batch, UPDATE_ROWS
// potential entries per workgroup (online log-sum-exp over the other side, tree merge):
// SIDE 0 updates g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε), SIDE 1 updates
// f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε). Workgroup (x + y·nwg.x) holds entries
// UPDATE_ROWS·(x + y·nwg.x) + r, z the problem.
// Why several entries per workgroup: each load of the other side's potential serves
// UPDATE_ROWS cost entries (one potential load per cost load made the potential stream as
// heavy as the cost stream), the four rows are four independent dependency chains per
// invocation, and the tree merge at the end is paid once per UPDATE_ROWS entries.

override SIDE: u32 = 0u;
const UPDATE_WG: u32 = 256u;
// Rust twin: wgopt_solvers::ot::kernels::UPDATE_ROWS.
const UPDATE_ROWS: u32 = 4u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> cost: array<f32>;
@group(0) @binding(2) var<storage, read> logw: array<f32>;
@group(0) @binding(3) var<storage, read_write> pot: array<f32>;

// Row r's partial (max, sum) of invocation lid at r·UPDATE_WG + lid.
var<workgroup> scratch: array<vec2<f32>, UPDATE_WG * UPDATE_ROWS>;

// C of output k against entry l of the other side: C_lk (SIDE 0, read along the column, so
// contiguous through Cᵀ) or C_kl (SIDE 1).
fn cost_of(q: OtProblem, k: u32, l: u32) -> f32 {
    if (SIDE == 0u) {
        return cost_col(q, l, k);
    }
    return cost_at(q, k, l);
}

// The workgroup's merge of row r's partials, left at scratch[r·UPDATE_WG] (fixed order).
fn merge_rows(lid: u32) {
    workgroupBarrier();
    for (var w = UPDATE_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            for (var r = 0u; r < UPDATE_ROWS; r += 1u) {
                let at = r * UPDATE_WG + lid;
                scratch[at] = lse_merge(scratch[at], scratch[at + w]);
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(UPDATE_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[wid.z];
    let k0 = (wid.x + wid.y * nwg.x) * UPDATE_ROWS;
    var outputs = q.m;
    var others = q.n;
    var other_off = q.f_off;
    if (SIDE == 1u) {
        outputs = q.n;
        others = q.m;
        other_off = q.g_off;
    }
    // Uniform per workgroup, so the early return keeps barriers in uniform control flow.
    if (q.live == 0u || k0 >= outputs) {
        return;
    }
    // Rows past the last output repeat it (computed, never written), so every row is valid.
    let last = outputs - 1u;
    let k1 = min(k0 + 1u, last);
    let k2 = min(k0 + 2u, last);
    let k3 = min(k0 + 3u, last);
    let inv_eps = 1.0 / q.eps;
    var acc0 = vec2<f32>(-3.0e38, 0.0);
    var acc1 = acc0;
    var acc2 = acc0;
    var acc3 = acc0;
    for (var l = lid; l < others; l += UPDATE_WG) {
        let p = pot[other_off + l];
        acc0 = lse_push(acc0, (p - cost_of(q, k0, l)) * inv_eps);
        acc1 = lse_push(acc1, (p - cost_of(q, k1, l)) * inv_eps);
        acc2 = lse_push(acc2, (p - cost_of(q, k2, l)) * inv_eps);
        acc3 = lse_push(acc3, (p - cost_of(q, k3, l)) * inv_eps);
    }
    scratch[lid] = acc0;
    scratch[UPDATE_WG + lid] = acc1;
    scratch[2u * UPDATE_WG + lid] = acc2;
    scratch[3u * UPDATE_WG + lid] = acc3;
    merge_rows(lid);
    if (lid < UPDATE_ROWS && k0 + lid < outputs) {
        let k = k0 + lid;
        let r = scratch[lid * UPDATE_WG];
        let lse = r.x + log(r.y);
        if (SIDE == 0u) {
            pot[q.g_off + k] = q.eps * (logw[q.lb_off + k] - lse);
        } else {
            pot[q.f_off + k] = q.eps * (logw[q.la_off + k] - lse);
        }
    }
}
