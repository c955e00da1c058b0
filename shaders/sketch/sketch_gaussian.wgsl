// S·A for a Gaussian sketch whose entries are generated, never stored: S[i, r] =
// g(i, r)/√s with g(i, r) element r of the Philox Gaussian stream (seed, slot i, draw 0,
// SKETCH_STREAM) — wgopt_reference::sketch::Sketch::gaussian_row. A 16×16 output tile per
// workgroup: per 16-row slab of A, 64 threads draw the 16×16 tile of S (four Philox blocks
// per sketch row), all threads load the A tile, then accumulate.

const TILE: u32 = 16u;

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> s_tile: array<array<f32, 16>, 16>;
var<workgroup> a_tile: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i0 = wid.y * TILE;
    let j0 = wid.x * TILE;
    let flat = lid.y * TILE + lid.x;
    var acc = 0.0;
    for (var r0 = 0u; r0 < params.input; r0 += TILE) {
        if (flat < 64u) {
            let si = flat / 4u;
            let blk = flat % 4u;
            var v = vec4<f32>(0.0);
            if (i0 + si < params.rows) {
                v = philox_gaussian(philox4x32_10(vec4<u32>(r0 / 4u + blk, i0 + si, 0u, SKETCH_STREAM), params.key));
            }
            s_tile[si][blk * 4u] = v.x;
            s_tile[si][blk * 4u + 1u] = v.y;
            s_tile[si][blk * 4u + 2u] = v.z;
            s_tile[si][blk * 4u + 3u] = v.w;
        }
        let r = r0 + lid.y;
        let j = j0 + lid.x;
        var av = 0.0;
        if (r < params.input && j < params.cols) {
            av = a[r * params.cols + j];
        }
        a_tile[lid.y][lid.x] = av;
        workgroupBarrier();
        for (var k = 0u; k < TILE; k++) {
            acc += s_tile[lid.y][k] * a_tile[k][lid.x];
        }
        workgroupBarrier();
    }
    let i = i0 + lid.y;
    let j = j0 + lid.x;
    if (i < params.rows && j < params.cols) {
        out[i * params.cols + j] = acc * params.scale;
    }
}
