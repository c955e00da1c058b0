// Batched symmetric Gram: D = alpha·op(X)·op(X)ᵀ (+ beta·C), computing only the tiles on and
// above the diagonal and mirroring each into the lower triangle: half the FLOPs of a GEMM.
// Bind X as both A and B, with TRANS_B = !TRANS_A: X·Xᵀ for wide X, XᵀX for tall X.
// Reference twin: wgopt_reference::linalg::gram.

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    // Below-diagonal tiles are written by their mirror; uniform per workgroup, so returning
    // before the barriers inside tile_product is allowed.
    if (wid.y > wid.x) {
        return;
    }
    let off = offsets[wid.z];
    let row0 = wid.y * TILE_M;
    let col0 = wid.x * TILE_N;
    let acc = tile_product(off, row0, col0, lid);
    for (var i = 0u; i < 4u; i += 1u) {
        let row = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j += 1u) {
            let col = col0 + lid.x * 4u + j;
            if (row < params.m && col < params.n && row <= col) {
                let v = StoreOut(epilogue(off, row, col, acc[i][j]));
                mat_d[off.d + row * params.n + col] = v;
                mat_d[off.d + col * params.n + row] = v;
            }
        }
    }
}
