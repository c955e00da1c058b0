// MKOR factor step, part 3: row i (workgroup x) of factor y. A set reset flag gives
// F⁻¹ ← (1 − ζ)F⁻¹ + ζI; otherwise F⁻¹ ← X − u wᵀ / (1 + wᵀ v) with X = 0.95·F⁻¹ + 0.05·I,
// and the largest |entry| goes to `maxbits` (f32 bits of a non-negative value order like
// the values, so an atomic max on u32 works).

@group(0) @binding(0) var<uniform> schedule: MkorSchedule;
@group(0) @binding(1) var<storage, read> factors: array<MkorFactor>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> flags: array<f32>;
@group(0) @binding(4) var<storage, read_write> f: array<f32>;
@group(0) @binding(5) var<storage, read> uw: array<f32>;
@group(0) @binding(6) var<storage, read> denoms: array<f32>;
@group(0) @binding(7) var<storage, read_write> maxbits: array<atomic<u32>>;

var<workgroup> row_max: atomic<u32>;

@compute @workgroup_size(MKOR_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = factors[wid.y];
    let i = wid.x;
    if (i >= q.n || stats.found_inf != 0u || !mkor_factor_step(schedule, stats.applied_steps)) {
        return;
    }
    let row = q.base + i * q.n;
    if (flags[q.flag] != 0.0) {
        for (var j = lid; j < q.n; j += MKOR_WG) {
            f[row + j] = (1.0 - schedule.zeta) * f[row + j] + select(0.0, schedule.zeta, i == j);
        }
        return;
    }
    if (lid == 0u) {
        atomicStore(&row_max, 0u);
    }
    workgroupBarrier();
    let scaled_u = uw[q.uw_off + i] * denoms[q.index];
    var m = 0u;
    for (var j = lid; j < q.n; j += MKOR_WG) {
        let x = 0.95 * f[row + j] + select(0.0, 0.05, i == j);
        let value = x - scaled_u * uw[q.uw_off + q.n + j];
        f[row + j] = value;
        m = max(m, bitcast<u32>(abs(value)));
    }
    atomicMax(&row_max, m);
    workgroupBarrier();
    if (lid == 0u) {
        atomicMax(&maxbits[q.index], atomicLoad(&row_max));
    }
}
