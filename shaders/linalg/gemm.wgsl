// Batched GEMM: D = alpha·op(A)·op(B) + beta·C, one 64×64 tile of D per workgroup, batch in z.
// The Newton–Schulz step fuses its polynomial into this epilogue: B = b·A + c·A·A and
// X' = a·X + B·X are each one dispatch. Reference twin: wgopt_reference::linalg::gemm.

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let off = offsets[wid.z];
    let row0 = wid.y * TILE_M;
    let col0 = wid.x * TILE_N;
    let acc = tile_product(off, row0, col0, lid);
    for (var i = 0u; i < 4u; i += 1u) {
        let row = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j += 1u) {
            let col = col0 + lid.x * 4u + j;
            if (row < params.m && col < params.n) {
                mat_d[off.d + row * params.n + col] = StoreOut(epilogue(off, row, col, acc[i][j]));
            }
        }
    }
}
