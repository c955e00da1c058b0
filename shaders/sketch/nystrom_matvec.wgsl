// CG's product ap = (A + μI)·p, eight rows per workgroup (32 invocations per row, coalesced
// along the row), and each workgroup's p·ap in partial[wg].x. Skipped once CG is done.

const ROWS: u32 = 8u;
const LANES: u32 = 32u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> scalars: array<f32>;
@group(0) @binding(3) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    let n = params.n;
    let row = wid.x * ROWS + lid / LANES;
    let lane = lid % LANES;
    let p = PCG_P * n;
    var s = 0.0;
    if (row < n) {
        for (var j = lane; j < n; j += LANES) {
            s += a[row * n + j] * vecs[p + j];
        }
    }
    red[lid] = s;
    workgroupBarrier();
    for (var w = LANES / 2u; w > 0u; w = w / 2u) {
        if (lane < w) {
            red[lid] += red[lid + w];
        }
        workgroupBarrier();
    }
    // Lane 0 of each row finishes it; then invocation 0 sums the rows' p·ap.
    var pap = 0.0;
    if (lane == 0u && row < n) {
        let y = red[lid] + params.mu * vecs[p + row];
        vecs[PCG_AP * n + row] = y;
        pap = vecs[p + row] * y;
    }
    workgroupBarrier();
    red[lid] = pap;
    workgroupBarrier();
    if (lid == 0u) {
        var t = 0.0;
        for (var r = 0u; r < ROWS; r++) {
            t += red[r * LANES];
        }
        partial[wid.x] = vec2<f32>(t, 0.0);
    }
}
