// LSQR's short-vector half-step, pass 1: partial[c][j] = Σ_{r in chunk c} A[r, j]·u[r], one
// workgroup per (64 columns, chunk of chunk_rows rows); threads run along a row (coalesced).

@group(0) @binding(0) var<uniform> params: LstsqParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    let c = wid.y;
    if (j >= params.n || c >= params.chunks) {
        return;
    }
    let lo = c * params.chunk_rows;
    let hi = min(lo + params.chunk_rows, params.m);
    var s = 0.0;
    for (var r = lo; r < hi; r++) {
        s += a[r * params.n + j] * u[r];
    }
    partial[c * params.n + j] = s;
}
