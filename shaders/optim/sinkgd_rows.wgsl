// SinkGD row pass, one workgroup per (row, matrix): r_i ← r_i·√n / max(‖X_i,:‖, eps) with
// ‖X_i,:‖ = r_i·sqrt(Σ_j (G_ij·c_j)²). Reference twin: wgopt_reference::optim::sinkgd.

const SINK_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> sink: SinkGdParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_scale: array<f32>;
@group(0) @binding(5) var<storage, read> col_scale: array<f32>;

var<workgroup> partial: array<f32, SINK_WG>;

@compute @workgroup_size(SINK_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (stats.found_inf != 0u) {
        return;
    }
    let i = wid.x;
    let b = wid.y;
    let base = offsets[b] + i * sink.cols;
    let clip = stats.clip_coef;
    var s = 0.0;
    for (var j = lid; j < sink.cols; j += SINK_WG) {
        let v = grad[base + j] * clip * scale_or_one(col_scale[b * sink.cols + j]);
        s += v * v;
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var w = SINK_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            partial[lid] += partial[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let r = scale_or_one(row_scale[b * sink.rows + i]);
        // An all-zero row stays zero whatever its scale; keep the scale instead of growing it
        // by √n/eps per iteration into an overflow (then Inf·0 = NaN).
        let grown = r * sink.sqrt_cols / max(r * sqrt(partial[0]), sink.eps);
        row_scale[b * sink.rows + i] = select(grown, r, partial[0] == 0.0);
    }
}
