// MKOR factor step, part 2: one workgroup per factor, 1 / (1 + wᵀ v) into `denoms`.

@group(0) @binding(0) var<uniform> schedule: MkorSchedule;
@group(0) @binding(1) var<storage, read> factors: array<MkorFactor>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> flags: array<f32>;
@group(0) @binding(4) var<storage, read> vectors: array<f32>;
@group(0) @binding(5) var<storage, read> uw: array<f32>;
@group(0) @binding(6) var<storage, read_write> denoms: array<f32>;

var<workgroup> part: array<f32, MKOR_WG>;

@compute @workgroup_size(MKOR_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = factors[wid.x];
    if (stats.found_inf != 0u || !mkor_factor_step(schedule, stats.applied_steps)
        || flags[q.flag] != 0.0) {
        return;
    }
    var s = 0.0;
    for (var j = lid; j < q.n; j += MKOR_WG) {
        s += uw[q.uw_off + q.n + j] * vectors[q.v_off + j];
    }
    part[lid] = s;
    workgroupBarrier();
    for (var k = MKOR_WG / 2u; k > 0u; k /= 2u) {
        if (lid < k) {
            part[lid] += part[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        denoms[q.index] = 1.0 / (1.0 + part[0]);
    }
}
