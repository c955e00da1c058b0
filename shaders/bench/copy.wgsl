// Calibration: the device's achievable bandwidth. Reads and writes every vec4 once
// (8 bytes per float moved); bench-gpu divides optimizer bandwidth by this kernel's.
// Same launch shape as the optimizer kernels (256 invocations, grid-stride over vec4).

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let n = arrayLength(&dst);
    for (var i = gid.x; i < n; i += nwg.x * 256u) {
        dst[i] = src[i];
    }
}
