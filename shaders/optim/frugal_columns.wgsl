// FRUGAL's subset choice, one workgroup per projected parameter, only on refresh steps.
// Columns / rows: unit j gets the key philox4x32_10((j, slot, period, "FRGA"), seed).x, and the
// ⌊n·ρ⌋ units with the smallest (key, j) become state-full (rank by counting, O(n²/256) per
// invocation). Randk: entry e is state-full when its position in a keyed Feistel permutation
// of [0, numel) is below ⌊numel·ρ⌋ (bit mask, one word per 32 entries). Blocks: the tensor is
// state-full when its key philox4x32_10((slot, 0, period, "FRGB"), seed).x ranks below
// round(ρ·#tensors) among the 2-D tensors of its group.

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
    if (q.mode == FRUGAL_RANDK) {
        randk_mask(q, period, lid);
        return;
    }
    if (q.mode == FRUGAL_BLOCKS) {
        if (lid == 0u) {
            block_mask(q, period);
        }
        return;
    }
    let n = q.n_units;
    for (var j = lid; j < n; j += COLUMNS_WG) {
        columns[q.col_base + j] =
            philox4x32_10(vec4<u32>(j, q.slot, period, 0x46524741u), vec2<u32>(q.seed_lo, q.seed_hi)).x;
    }
    storageBarrier();
    for (var j = lid; j < n; j += COLUMNS_WG) {
        let kj = columns[q.col_base + j];
        var rank = 0u;
        for (var i = 0u; i < n; i += 1u) {
            let ki = columns[q.col_base + i];
            if (ki < kj || (ki == kj && i < j)) {
                rank += 1u;
            }
        }
        columns[q.col_base + n + j] = select(0u, 1u, rank < q.active_cols);
    }
}

// Position of entry e in the keyed permutation of [0, n): a balanced 4-round Feistel network on
// the smallest even bit width covering n, cycle-walked back into [0, n) (twin:
// frugal::randk_position).
fn randk_position(q: FrugalParam, period: u32, e: u32) -> u32 {
    let n = q.n_units;
    let bits = max(32u - countLeadingZeros(max(n, 2u) - 1u), 2u);
    let half = (bits + 1u) / 2u;
    let mask = (1u << half) - 1u;
    var x = e;
    loop {
        var l = x >> half;
        var r = x & mask;
        for (var round = 0u; round < 4u; round += 1u) {
            let f = philox4x32_10(vec4<u32>(r, q.slot, period, 0x46524B00u + round),
                                  vec2<u32>(q.seed_lo, q.seed_hi)).x & mask;
            let t = l ^ f;
            l = r;
            r = t;
        }
        x = (l << half) | r;
        if (x < n) {
            break;
        }
    }
    return x;
}

fn randk_mask(q: FrugalParam, period: u32, lid: u32) {
    let words = (q.n_units + 31u) / 32u;
    for (var w = lid; w < words; w += COLUMNS_WG) {
        var word = 0u;
        for (var b = 0u; b < 32u; b += 1u) {
            let e = w * 32u + b;
            if (e < q.n_units && randk_position(q, period, e) < q.active_cols) {
                word |= 1u << b;
            }
        }
        columns[q.col_base + w] = word;
    }
}

fn block_key(q: FrugalParam, slot: u32, period: u32) -> u32 {
    return philox4x32_10(vec4<u32>(slot, 0u, period, 0x46524742u), vec2<u32>(q.seed_lo, q.seed_hi)).x;
}

// Rank of this tensor's key among the 2-D tensors of its group (O(#params) at refresh only).
fn block_mask(q: FrugalParam, period: u32) {
    let mine = block_key(q, q.slot, period);
    var rank = 0u;
    for (var i = 0u; i < arrayLength(&params); i += 1u) {
        let o = params[i];
        if (o.n_cols == 0u || o.group != q.group) {
            continue;
        }
        let other = block_key(q, o.slot, period);
        if (other < mine || (other == mine && o.slot < q.slot)) {
            rank += 1u;
        }
    }
    columns[q.col_base] = mine;
    columns[q.col_base + 1u] = select(0u, 1u, rank < q.active_cols);
}
