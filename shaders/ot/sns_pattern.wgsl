// The sparsified off-diagonal block S of the Newton system (the kept entries of P, by the
// per-row cut of sns_threshold), one workgroup per row or column of slot 0. MODE 0 counts each
// row's kept entries, MODE 1 each column's (into `pattern`'s counts); MODE 2 writes the rows as CSR
// (column index, value) from the row offsets, MODE 3 the columns as CSC (row index, value) from
// cap_total + the column offsets. Entries keep their order (a workgroup scan compacts
// each tile), so the patterns are deterministic.

override MODE: u32 = 0u;
const PATTERN_WG: u32 = 64u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(2) var<storage, read> cost: array<f32>;
@group(0) @binding(3) var<storage, read> pot: array<f32>;
@group(0) @binding(4) var<storage, read> marg: array<f32>;
@group(0) @binding(5) var<storage, read_write> pattern: array<u32>;
@group(0) @binding(6) var<storage, read_write> idx: array<u32>;
@group(0) @binding(7) var<storage, read_write> val: array<f32>;

var<workgroup> scan: array<u32, PATTERN_WG>;

@compute @workgroup_size(PATTERN_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let q = problems[0];
    let k = wid.x + wid.y * nwg.x;
    let rows = MODE == 0u || MODE == 2u;
    var outputs = q.m;
    var others = q.n;
    if (rows) {
        outputs = q.n;
        others = q.m;
    }
    if (k >= outputs) {
        return;
    }
    let inv_eps = 1.0 / q.eps;
    let offsets = pattern_offsets(q.n, q.m);
    var base = 0u;
    var start = 0u;
    if (MODE == 2u) {
        start = pattern[offsets + k];
    } else if (MODE == 3u) {
        start = params.cap_total + pattern[offsets + q.n + 1u + k];
    }
    for (var t = 0u; t < others; t += PATTERN_WG) {
        let l = t + lid;
        var keep = 0u;
        var value = 0.0;
        if (l < others) {
            var i = l;
            var j = k;
            var c = 0.0;
            if (rows) {
                i = k;
                j = l;
                c = cost_at(q, i, j);
            } else {
                c = cost_col(q, i, j);
            }
            let ci = pattern[i];
            if (ci != CUT_NONE) {
                let r = marg[q.f_off + i];
                if (entry_bin(q, i, j, c, inv_eps, log(r)) <= ci) {
                    keep = 1u;
                    value = exp((pot[q.f_off + i] + pot[q.g_off + j] - c) * inv_eps);
                }
            }
        }
        // Inclusive scan of the keep flags (Hillis–Steele).
        scan[lid] = keep;
        workgroupBarrier();
        for (var w = 1u; w < PATTERN_WG; w = w * 2u) {
            var add = 0u;
            if (lid >= w) {
                add = scan[lid - w];
            }
            workgroupBarrier();
            scan[lid] += add;
            workgroupBarrier();
        }
        let total = scan[PATTERN_WG - 1u];
        if (MODE >= 2u && keep == 1u) {
            let at = start + base + scan[lid] - 1u;
            if (at < params.cap_total * (MODE - 1u)) {
                idx[at] = l;
                val[at] = value;
            }
        }
        base += total;
        workgroupBarrier();
    }
    if (lid == 0u && MODE < 2u) {
        if (rows) {
            pattern[pattern_counts(q.n) + k] = base;
        } else {
            pattern[pattern_counts(q.n) + q.n + k] = base;
        }
    }
}
