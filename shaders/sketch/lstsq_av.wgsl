// LSQR's long-vector half-step on the GPU: u ← A·v − coef·u for A (m × n, row-major), eight
// rows per workgroup (32 threads per row, coalesced along the row), and each workgroup's
// Σ u_new² in partial[wg] (the host sums them for β = ‖u‖).

const ROWS: u32 = 8u;
const LANES: u32 = 32u;

@group(0) @binding(0) var<uniform> params: LstsqParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg = wid.x + wid.y * nwg.x;
    let row = wg * ROWS + lid / LANES;
    let lane = lid % LANES;
    var s = 0.0;
    if (row < params.m) {
        for (var j = lane; j < params.n; j += LANES) {
            s += a[row * params.n + j] * v[j];
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
    var sq = 0.0;
    if (lane == 0u && row < params.m) {
        let nu = red[lid] - params.coef * u[row];
        u[row] = nu;
        sq = nu * nu;
    }
    workgroupBarrier();
    red[lid] = sq;
    workgroupBarrier();
    if (lid == 0u) {
        var t = 0.0;
        for (var r = 0u; r < ROWS; r++) {
            t += red[r * LANES];
        }
        partial[wg] = t;
    }
}
