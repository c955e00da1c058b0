// MKOR factor step, part 1: for each factor F⁻¹ (workgroup y) and index i (workgroup x),
// with X = 0.95·F⁻¹ + 0.05·I: u_i = Σ_j X_ij v_j and w_i = Σ_j X_ji v_j (u = X v, w = Xᵀ v;
// upstream's `prev_inv @ v` and `vᵀ @ prev_inv`). Nothing on a reset, a skipped step or a
// step that is no factor step.

@group(0) @binding(0) var<uniform> schedule: MkorSchedule;
@group(0) @binding(1) var<storage, read> factors: array<MkorFactor>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> flags: array<f32>;
@group(0) @binding(4) var<storage, read> f: array<f32>;
@group(0) @binding(5) var<storage, read> vectors: array<f32>;
@group(0) @binding(6) var<storage, read_write> uw: array<f32>;

var<workgroup> part_u: array<f32, MKOR_WG>;
var<workgroup> part_w: array<f32, MKOR_WG>;

@compute @workgroup_size(MKOR_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = factors[wid.y];
    let i = wid.x;
    if (i >= q.n || stats.found_inf != 0u || !mkor_factor_step(schedule, stats.applied_steps)
        || flags[q.flag] != 0.0) {
        return;
    }
    var su = 0.0;
    var sw = 0.0;
    for (var j = lid; j < q.n; j += MKOR_WG) {
        let eye = select(0.0, 0.05, i == j);
        let x_ij = 0.95 * f[q.base + i * q.n + j] + eye;
        let x_ji = 0.95 * f[q.base + j * q.n + i] + eye;
        let vj = vectors[q.v_off + j];
        su += x_ij * vj;
        sw += x_ji * vj;
    }
    part_u[lid] = su;
    part_w[lid] = sw;
    workgroupBarrier();
    for (var s = MKOR_WG / 2u; s > 0u; s /= 2u) {
        if (lid < s) {
            part_u[lid] += part_u[lid + s];
            part_w[lid] += part_w[lid + s];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        uw[q.uw_off + i] = part_u[0];
        uw[q.uw_off + q.n + i] = part_w[0];
    }
}
