// SinkGD update: p ← p·(1 − lr_s·wd) + (−lr_s)·X with X = r_i·(clip·G_ij)·c_j, grid-stride over
// each matrix's elements (y = matrix). Reference twin: wgopt_reference::optim::sinkgd.

@group(0) @binding(0) var<uniform> sink: SinkGdParams;
@group(0) @binding(1) var<storage, read> offsets: array<u32>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> row_scale: array<f32>;
@group(0) @binding(5) var<storage, read> col_scale: array<f32>;
@group(0) @binding(6) var<storage, read_write> param: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let b = wid.y;
    let base = offsets[b];
    let len = sink.rows * sink.cols;
    let clip = stats.clip_coef;
    for (var k = gid.x; k < len; k += nwg.x * 256u) {
        let i = k / sink.cols;
        let j = k % sink.cols;
        let x = row_scale[b * sink.rows + i] * (grad[base + k] * clip) * col_scale[b * sink.cols + j];
        param[base + k] = param[base + k] * sink.decay + sink.neg_lr * x;
    }
}
