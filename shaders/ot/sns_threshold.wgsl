// The binned safe sparsification rule, one workgroup per row i of slot 0: a histogram of the
// row's entries over log-mass bins (mass relative to r_i, and count), then the last kept bin
// (twin: binned_cut): bins are dropped from the smallest up while the dropped relative mass
// stays ≤ ν·err, never the largest non-empty bin, then more while over `cap` entries remain.

const THRESHOLD_WG: u32 = 32u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(2) var<storage, read> cost: array<f32>;
@group(0) @binding(3) var<storage, read> pot: array<f32>;
@group(0) @binding(4) var<storage, read> marg: array<f32>;
@group(0) @binding(5) var<storage, read> scalars: array<f32>;
@group(0) @binding(6) var<storage, read_write> pattern: array<u32>;

// Per invocation, then per bin: (relative mass, count).
var<workgroup> hist: array<vec2<f32>, 1024>;

@compute @workgroup_size(THRESHOLD_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[0];
    let i = wid.x + wid.y * nwg.x;
    if (i >= q.n) {
        return;
    }
    let inv_eps = 1.0 / q.eps;
    let r = marg[q.f_off + i];
    let ln_r = log(r);
    var local: array<vec2<f32>, SNS_BINS>;
    for (var j = lid; j < q.m; j += THRESHOLD_WG) {
        let c = cost_at(q, i, j);
        let b = entry_bin(q, i, j, c, inv_eps, ln_r);
        let rel = exp((pot[q.f_off + i] + pot[q.g_off + j] - c) * inv_eps - ln_r);
        local[b] += vec2<f32>(rel, 1.0);
    }
    for (var b = 0u; b < SNS_BINS; b += 1u) {
        hist[lid * SNS_BINS + b] = local[b];
    }
    workgroupBarrier();
    // Invocation b sums bin b over the invocations (THRESHOLD_WG == SNS_BINS).
    var bin = vec2<f32>(0.0);
    for (var t = 0u; t < THRESHOLD_WG; t += 1u) {
        bin += hist[t * SNS_BINS + lid];
    }
    workgroupBarrier();
    hist[lid] = bin;
    workgroupBarrier();
    if (lid == 0u) {
        if (!(r > 0.0)) {
            pattern[i] = CUT_NONE;
            return;
        }
        var first = 0u;
        while (first < SNS_BINS && hist[first].y == 0.0) {
            first += 1u;
        }
        if (first == SNS_BINS) {
            pattern[i] = CUT_NONE;
            return;
        }
        let budget = params.nu * scalars[S_ERR];
        var last = SNS_BINS - 1u;
        var dropped = 0.0;
        while (last > first && dropped + hist[last].x <= budget) {
            dropped += hist[last].x;
            last -= 1u;
        }
        var kept = 0.0;
        for (var b = 0u; b <= last; b += 1u) {
            kept += hist[b].y;
        }
        while (kept > f32(params.cap) && last > first) {
            kept -= hist[last].y;
            last -= 1u;
        }
        pattern[i] = last;
    }
}
