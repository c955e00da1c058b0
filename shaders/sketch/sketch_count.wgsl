// S·A for a CountSketch: output row i sums the signed rows of A hashed to bucket i. WGSL has
// no float atomics, so the hash is turned into bucket lists first (CSR, from
// wgopt_reference::sketch::Sketch::count_bucket: entry = row | sign bit) and each thread sums
// one (bucket, column): coalesced across the columns of a workgroup.

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> bucket_start: array<u32>;
@group(0) @binding(3) var<storage, read> bucket_rows: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    if (j >= params.cols) {
        return;
    }
    for (var i = wid.y; i < params.rows; i += nwg.y) {
        var acc = 0.0;
        for (var k = bucket_start[i]; k < bucket_start[i + 1u]; k++) {
            let e = bucket_rows[k];
            let v = a[(e & 0x7fffffffu) * params.cols + j];
            acc += select(v, -v, (e & 0x80000000u) != 0u);
        }
        out[i * params.cols + j] = acc;
    }
}
