// Tensor-core GEMM over f16 storage (after product_common.wgsl): D = alpha·op(A)·op(B) +
// beta·C with A, B (and C) stored in f16, products in 16×16×16 cooperative matrices with f32
// accumulators (wgpu's EXPERIMENTAL_COOPERATIVE_MATRIX; Vulkan VK_KHR_cooperative_matrix).
// Newton–Schulz's f16 iterates use it where the engine enabled it; the Gram runs on it too
// (X bound as A and B, the whole square computed). Reference twin: wgopt_reference::linalg::gemm.
//
// One workgroup of 32 invocations is one subgroup (the engine enables this path only on
// adapters whose subgroups are exactly 32 wide) and computes a 32×32 tile of D as 2×2
// accumulators. Each 16-deep k-slice of op(A) (32×16) and op(B) (16×32) is staged in
// workgroup memory as f16, zero past the matrix edges, so any shape and offset works;
// consecutive invocations walk the stored contiguous dimension. The accumulators go through
// workgroup memory to the alpha/beta epilogue and the bounds-checked f16/f32 store.
enable wgpu_cooperative_matrix;

const COOP_TILE: u32 = 32u;
const COOP_K: u32 = 16u;

// op(A)[row0 + r, k0 + k] at r * 16 + k; op(B)[k0 + k, col0 + c] at k * 32 + c (row-major).
var<workgroup> stage_a: array<f16, 512>;
var<workgroup> stage_b: array<f16, 512>;
// The 32×32 result, row-major.
var<workgroup> stage_d: array<f32, 1024>;

// Entries idx of both stages for slice k0 (idx = e * 32 + invocation, e < 16).
fn stage_slice(off: GemmOffsets, row0: u32, col0: u32, k0: u32, idx: u32) {
    var r = idx / COOP_K;
    var ka = idx % COOP_K;
    if (TRANS_A) {
        ka = idx / COOP_TILE;
        r = idx % COOP_TILE;
    }
    stage_a[r * COOP_K + ka] = f16(load_a(off.a, row0 + r, k0 + ka));
    var kb = idx / COOP_TILE;
    var c = idx % COOP_TILE;
    if (TRANS_B) {
        c = idx / COOP_K;
        kb = idx % COOP_K;
    }
    stage_b[kb * COOP_TILE + c] = f16(load_b(off.b, k0 + kb, col0 + c));
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let off = offsets[wid.z];
    let row0 = wid.y * COOP_TILE;
    let col0 = wid.x * COOP_TILE;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < params.k; k0 += COOP_K) {
        for (var e = 0u; e < 16u; e += 1u) {
            stage_slice(off, row0, col0, k0, e * 32u + lid);
        }
        workgroupBarrier();
        let a0 = coopLoadT<coop_mat16x16<f16, A>>(&stage_a[0], COOP_K);
        let a1 = coopLoadT<coop_mat16x16<f16, A>>(&stage_a[256], COOP_K);
        let b0 = coopLoadT<coop_mat16x16<f16, B>>(&stage_b[0], COOP_TILE);
        let b1 = coopLoadT<coop_mat16x16<f16, B>>(&stage_b[16], COOP_TILE);
        c00 = coopMultiplyAdd(a0, b0, c00);
        c01 = coopMultiplyAdd(a0, b1, c01);
        c10 = coopMultiplyAdd(a1, b0, c10);
        c11 = coopMultiplyAdd(a1, b1, c11);
        workgroupBarrier();
    }
    coopStoreT(c00, &stage_d[0], COOP_TILE);
    coopStoreT(c01, &stage_d[16], COOP_TILE);
    coopStoreT(c10, &stage_d[512], COOP_TILE);
    coopStoreT(c11, &stage_d[528], COOP_TILE);
    workgroupBarrier();
    for (var e = 0u; e < 32u; e += 1u) {
        let idx = e * 32u + lid;
        let row = row0 + idx / COOP_TILE;
        let col = col0 + idx % COOP_TILE;
        if (row < params.m && col < params.n) {
            mat_d[off.d + row * params.n + col] = StoreOut(epilogue(off, row, col, stage_d[idx]));
        }
    }
}
