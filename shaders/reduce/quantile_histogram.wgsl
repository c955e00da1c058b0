// Radix-select histogram pass: one workgroup per tile of one matrix counts, per 8-bit digit
// of |x|, the elements whose higher bits match the prefix fixed so far, in workgroup atomics,
// then adds its non-zero bins to the matrix's histogram.

const HIST_WG: u32 = 256u;

// A contiguous run of one matrix. Rust twin: wgopt_scheduler::quantile::QuantileTile.
struct QuantileTile {
    matrix: u32,
    start: u32,
    end: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> tiles: array<QuantileTile>;
@group(0) @binding(1) var<storage, read> state: array<QuantileState>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read_write> histogram: array<atomic<u32>>;

var<workgroup> local_hist: array<atomic<u32>, HISTOGRAM_STRIDE>;

@compute @workgroup_size(HIST_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= arrayLength(&tiles)) {
        return;
    }
    let tile = tiles[t];
    var prefix_lo = 0u;
    var prefix_hi = 0u;
    if (PASS > 0u) {
        let s = state[tile.matrix];
        prefix_lo = s.prefix_lo;
        prefix_hi = s.prefix_hi;
    }
    let split = prefix_lo != prefix_hi;
    let mask = prefix_mask();
    let shift = digit_shift();
    for (var i = tile.start + lid; i < tile.end; i += HIST_WG) {
        let bits = bitcast<u32>(abs(values[i]));
        let digit = (bits >> shift) & (RADIX_BINS - 1u);
        let high = bits & mask;
        if (high == prefix_lo) {
            atomicAdd(&local_hist[digit], 1u);
        }
        if (split && high == prefix_hi) {
            atomicAdd(&local_hist[RADIX_BINS + digit], 1u);
        }
    }
    workgroupBarrier();
    let base = tile.matrix * HISTOGRAM_STRIDE;
    for (var b = lid; b < HISTOGRAM_STRIDE; b += HIST_WG) {
        let c = atomicLoad(&local_hist[b]);
        if (c != 0u) {
            atomicAdd(&histogram[base + b], c);
        }
    }
}
