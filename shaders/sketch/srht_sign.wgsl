// SRHT, step 1: X = D·A padded to m' rows, D[r] the Rademacher sign of
// philox((r, 1, 0, SRHT_STREAM), key).x (wgopt_reference::sketch::Sketch::srht_sign); rows
// m..m' are zero.

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    if (j >= params.cols) {
        return;
    }
    for (var r = wid.y; r < params.padded; r += nwg.y) {
        var v = 0.0;
        if (r < params.input) {
            let w = philox4x32_10(vec4<u32>(r, 1u, 0u, SRHT_STREAM), params.key);
            v = select(a[r * params.cols + j], -a[r * params.cols + j], (w.x & 0x80000000u) != 0u);
        }
        x[r * params.cols + j] = v;
    }
}
