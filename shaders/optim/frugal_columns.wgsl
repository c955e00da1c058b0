// FRUGAL's column choice, one workgroup per projected parameter, only on refresh steps: column
// j gets the key philox4x32_10((j, slot, period, "FRGA"), seed).x, and the ⌊n·ρ⌋ columns with
// the smallest (key, j) become state-full (rank by counting, O(n²/256) per invocation).

const COLUMNS_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> params: array<FrugalParam>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> columns: array<u32>;

@compute @workgroup_size(COLUMNS_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let k = wid.x + wid.y * nwg.x;
    if (k >= arrayLength(&params) || stats.found_inf != 0u) {
        return;
    }
    let q = params[k];
    let applied = stats.applied_steps;
    if (q.n_cols == 0u || (frugal_since(q, applied) != 0u && q.force_mask == 0u)) {
        return;
    }
    let period = frugal_period(q, applied);
    for (var j = lid; j < q.n_cols; j += COLUMNS_WG) {
        columns[q.col_base + j] =
            philox4x32_10(vec4<u32>(j, q.slot, period, 0x46524741u), vec2<u32>(q.seed_lo, q.seed_hi)).x;
    }
    storageBarrier();
    for (var j = lid; j < q.n_cols; j += COLUMNS_WG) {
        let kj = columns[q.col_base + j];
        var rank = 0u;
        for (var i = 0u; i < q.n_cols; i += 1u) {
            let ki = columns[q.col_base + i];
            if (ki < kj || (ki == kj && i < j)) {
                rank += 1u;
            }
        }
        columns[q.col_base + q.n_cols + j] = select(0u, 1u, rank < q.active_cols);
    }
}
