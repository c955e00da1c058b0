// Radix-select decision pass, one workgroup per matrix: scans the matrix's 256-bin histogram,
// finds the bin holding each target rank, appends that digit to the target's prefix, keeps the
// rank within the bin, and clears the bins for the next pass. The last pass turns the two
// order statistics into the threshold torch.lerp(lo, hi, weight) + add.

@group(0) @binding(0) var<storage, read> matrices: array<QuantileMatrix>;
@group(0) @binding(1) var<storage, read_write> state: array<QuantileState>;
@group(0) @binding(2) var<storage, read_write> histogram: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> thresholds: array<f32>;

var<workgroup> scan: array<u32, RADIX_BINS>;
var<workgroup> chosen: vec2<u32>;

// (bin, rank within the bin) of the element of rank `rank` counted in bins base..base+256.
// Invocation `lid` owns bin `lid`.
fn select_bin(base: u32, rank: u32, lid: u32) -> vec2<u32> {
    let count = atomicLoad(&histogram[base + lid]);
    scan[lid] = count;
    workgroupBarrier();
    for (var offset = 1u; offset < RADIX_BINS; offset *= 2u) {
        var v = scan[lid];
        if (lid >= offset) {
            v += scan[lid - offset];
        }
        workgroupBarrier();
        scan[lid] = v;
        workgroupBarrier();
    }
    let inclusive = scan[lid];
    let exclusive = inclusive - count;
    if (count != 0u && exclusive <= rank && rank < inclusive) {
        chosen = vec2<u32>(lid, rank - exclusive);
    }
    return workgroupUniformLoad(&chosen);
}

// torch.lerp(start, end, w).
fn torch_lerp_scalar(start: f32, end: f32, w: f32) -> f32 {
    if (w < 0.5) {
        return start + w * (end - start);
    }
    return end - (end - start) * (1.0 - w);
}

@compute @workgroup_size(RADIX_BINS)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m = wid.x + wid.y * nwg.x;
    if (m >= arrayLength(&matrices)) {
        return;
    }
    let cfg = matrices[m];
    var s = QuantileState(0u, 0u, cfg.rank_lo, cfg.rank_hi);
    if (PASS > 0u) {
        s = state[m];
    }
    let base = m * HISTOGRAM_STRIDE;
    var hi_base = base;
    if (s.prefix_lo != s.prefix_hi) {
        hi_base = base + RADIX_BINS;
    }
    let lo = select_bin(base, s.rank_lo, lid);
    let hi = select_bin(hi_base, s.rank_hi, lid);
    // Each invocation only ever touched its own bins, so it may clear them.
    atomicStore(&histogram[base + lid], 0u);
    atomicStore(&histogram[base + RADIX_BINS + lid], 0u);
    if (lid != 0u) {
        return;
    }
    let shift = digit_shift();
    let next = QuantileState(
        s.prefix_lo | (lo.x << shift),
        s.prefix_hi | (hi.x << shift),
        lo.y,
        hi.y,
    );
    state[m] = next;
    if (PASS == 3u) {
        let v_lo = bitcast<f32>(next.prefix_lo);
        let v_hi = bitcast<f32>(next.prefix_hi);
        thresholds[m] = torch_lerp_scalar(v_lo, v_hi, cfg.weight) + cfg.add;
    }
}
