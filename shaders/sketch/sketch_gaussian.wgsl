// S·A for a Gaussian sketch whose entries are generated, never stored: S[i, r] =
// g(i, r)/√s with g(i, r) element r of the Philox Gaussian stream (seed, slot i, draw
// params.draw, SKETCH_STREAM) — wgopt_reference::sketch::Sketch::gaussian_row. A 64×64 output tile per
// workgroup, 4×4 outputs per invocation: per 16-row slab of A each of the 256 invocations draws
// one Philox block (4 entries of S: 64 sketch rows × 16), loads 4 entries of A, then
// accumulates. Generating S once per 64 columns of A (not per 16) and the 4×4 register block
// cut the Philox work per output by 4 and the shared-memory reads per multiply-add by 2.

const ROWS: u32 = 64u;
const COLS: u32 = 64u;
const DEPTH: u32 = 16u;

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> s_tile: array<array<f32, 16>, 64>;
var<workgroup> a_tile: array<array<f32, 64>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i0 = wid.y * ROWS;
    let j0 = wid.x * COLS;
    let flat = lid.y * 16u + lid.x;
    var acc: array<array<f32, 4>, 4>;
    for (var r0 = 0u; r0 < params.input; r0 += DEPTH) {
        // One Philox block: sketch row i0 + si, entries r0 + 4·blk .. + 3.
        let si = flat / 4u;
        let blk = flat % 4u;
        var v = vec4<f32>(0.0);
        if (i0 + si < params.rows) {
            v = philox_gaussian(philox4x32_10(vec4<u32>(r0 / 4u + blk, i0 + si, params.draw, SKETCH_STREAM), params.key));
        }
        s_tile[si][blk * 4u] = v.x;
        s_tile[si][blk * 4u + 1u] = v.y;
        s_tile[si][blk * 4u + 2u] = v.z;
        s_tile[si][blk * 4u + 3u] = v.w;
        // Rows of S past m multiply zero rows of A, so the padding needs no masking in S.
        for (var t = 0u; t < 4u; t++) {
            let e = flat + t * 256u;
            let k = e / COLS;
            let c = e % COLS;
            let r = r0 + k;
            let j = j0 + c;
            var av = 0.0;
            if (r < params.input && j < params.cols) {
                av = a[r * params.cols + j];
            }
            a_tile[k][c] = av;
        }
        workgroupBarrier();
        for (var k = 0u; k < DEPTH; k++) {
            var sv: array<f32, 4>;
            for (var ii = 0u; ii < 4u; ii++) {
                sv[ii] = s_tile[lid.y * 4u + ii][k];
            }
            for (var jj = 0u; jj < 4u; jj++) {
                let av = a_tile[k][lid.x + 16u * jj];
                for (var ii = 0u; ii < 4u; ii++) {
                    acc[ii][jj] += sv[ii] * av;
                }
            }
        }
        workgroupBarrier();
    }
    for (var ii = 0u; ii < 4u; ii++) {
        let i = i0 + lid.y * 4u + ii;
        for (var jj = 0u; jj < 4u; jj++) {
            let j = j0 + lid.x + 16u * jj;
            if (i < params.rows && j < params.cols) {
                out[i * params.cols + j] = acc[ii][jj] * params.scale;
            }
        }
    }
}
