// The raw Philox stream: out[b] = philox4x32_10((b, c1, c2, c3), key) for every block b.
// Exists so tests can compare GPU bits with wgopt_reference::random::bits over millions of
// draws, and so a sketch can be drawn as raw words.

struct BitsParams {
    key: vec2<u32>,
    c1: u32,
    c2: u32,
    c3: u32,
    blocks: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: BitsParams;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<u32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = nwg.x * 256u;
    for (var b = gid.x; b < params.blocks; b += stride) {
        out[b] = philox4x32_10(vec4<u32>(b, params.c1, params.c2, params.c3), params.key);
    }
}
