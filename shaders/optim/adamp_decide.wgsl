// AdamP/SGDP pass 2: one workgroup per parameter runs the scale-invariance test on the row
// sums: channel view first (max_r |cos(g_r, p_r)| < delta/sqrt(row_len)), then the layer view
// (whole-tensor sums against delta/sqrt(numel)). Writes (mode, ‖p‖ + eps, Σ p·u, 0) with mode
// 0 none, 1 channel, 2 layer, into entry k of `sums` (decisions come first, rows after them);
// cos is x·y / (max(‖x‖, eps)·max(‖y‖, eps)).

const DECIDE_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> params: array<AdamPParam>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> sums: array<vec4<f32>>;

var<workgroup> scratch_sum: array<vec4<f32>, DECIDE_WG>;
var<workgroup> scratch_max: array<f32, DECIDE_WG>;

fn abs_cosine(s: vec4<f32>, eps: f32) -> f32 {
    return abs(s.x) / (max(sqrt(s.y), eps) * max(sqrt(s.z), eps));
}

@compute @workgroup_size(DECIDE_WG)
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
    if (q.projectable == 0u) {
        if (lid == 0u) {
            sums[k] = vec4<f32>(0.0);
        }
        return;
    }
    var total = vec4<f32>(0.0);
    var max_cos = 0.0;
    for (var r = lid; r < q.n_rows; r += DECIDE_WG) {
        let s = sums[q.row_base + r];
        total += s;
        max_cos = max(max_cos, abs_cosine(s, q.eps));
    }
    scratch_sum[lid] = total;
    scratch_max[lid] = max_cos;
    workgroupBarrier();
    for (var w = DECIDE_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch_sum[lid] += scratch_sum[lid + w];
            scratch_max[lid] = max(scratch_max[lid], scratch_max[lid + w]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let layer = scratch_sum[0];
        var mode = 0.0;
        if (scratch_max[0] < q.delta / sqrt(f32(q.row_len))) {
            mode = 1.0;
        } else if (abs_cosine(layer, q.eps) < q.delta / sqrt(f32(q.row_len * q.n_rows))) {
            mode = 2.0;
        }
        sums[k] = vec4<f32>(mode, sqrt(layer.z) + q.eps, layer.w, 0.0);
    }
}
