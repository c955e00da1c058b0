// SinkGD column pass, one invocation per (column, matrix): c_j ← c_j·√m / max(‖X_:,j‖, eps)
// with ‖X_:,j‖ = c_j·sqrt(Σ_i (r_i·G_ij)²); neighbouring invocations read neighbouring columns.
// Reference twin: wgopt_reference::optim::sinkgd.

@group(0) @binding(0) var<uniform> sink: SinkGdParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> row_scale: array<f32>;
@group(0) @binding(5) var<storage, read_write> col_scale: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let j = gid.x;
    let b = wid.y;
    if (j >= sink.cols) {
        return;
    }
    let base = offsets[b];
    let clip = stats.clip_coef;
    var t = 0.0;
    for (var i = 0u; i < sink.rows; i += 1u) {
        let v = row_scale[b * sink.rows + i] * grad[base + i * sink.cols + j] * clip;
        t += v * v;
    }
    let c = scale_or_one(col_scale[b * sink.cols + j]);
    // An all-zero column keeps its scale (see sinkgd_rows.wgsl).
    col_scale[b * sink.cols + j] = select(c * sink.sqrt_rows / max(c * sqrt(t), sink.eps), c, t == 0.0);
}
