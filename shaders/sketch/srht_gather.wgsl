// SRHT, step 3: the kept rows of H·D·A (wgopt_reference::sketch::Sketch::srht_rows), scaled by
// 1/√s.

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> keep: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    if (j >= params.cols) {
        return;
    }
    for (var i = wid.y; i < params.rows; i += nwg.y) {
        out[i * params.cols + j] = x[keep[i] * params.cols + j] * params.scale;
    }
}
