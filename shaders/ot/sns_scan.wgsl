// Exclusive prefix sums of the kept counts in `pattern`: workgroup 0 turns the n row counts into
// the n + 1 CSR offsets, workgroup 1 the m column counts into the m + 1 CSC offsets, each
// walking its counts in tiles. Also records the number of kept entries (as f32) in
// scalars[S_NNZ]. Rows keep at most `cap` entries, so the total fits cap_total.

const SCAN_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read_write> pattern: array<u32>;
@group(0) @binding(2) var<storage, read_write> scalars: array<f32>;

var<workgroup> scan: array<u32, SCAN_WG>;

@compute @workgroup_size(SCAN_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    var len = params.n;
    var src = pattern_counts(params.n);
    var dst = pattern_offsets(params.n, params.m);
    if (wid.x == 1u) {
        len = params.m;
        src += params.n;
        dst += params.n + 1u;
    }
    var base = 0u;
    for (var t = 0u; t < len; t += SCAN_WG) {
        var v = 0u;
        if (t + lid < len) {
            v = pattern[src + t + lid];
        }
        scan[lid] = v;
        workgroupBarrier();
        for (var w = 1u; w < SCAN_WG; w = w * 2u) {
            var add = 0u;
            if (lid >= w) {
                add = scan[lid - w];
            }
            workgroupBarrier();
            scan[lid] += add;
            workgroupBarrier();
        }
        if (t + lid < len) {
            pattern[dst + t + lid] = base + scan[lid] - v;
        }
        base += scan[SCAN_WG - 1u];
        workgroupBarrier();
    }
    if (lid == 0u) {
        pattern[dst + len] = base;
        if (wid.x == 0u) {
            scalars[S_NNZ] = f32(base);
        }
    }
}
