// Helpers of the generated 128-column cores (gemm_128.wgsl, gram_128.wgsl and the 64-row
// gemm_64x128.wgsl, gram_64x128.wgsl; after product_common.wgsl): their constants, shared
// tiles, the staging of operand runs and the stores. The unrolled kernels themselves are
// written by wgopt_solvers::linalg::tile_128, whose Rust constants are these; each generated
// kernel defines its own TILE_M (output rows), A_VECS (vec4s per k-row of its A tile) and
// HALF_A (one buffer of it).

// Output tile columns.
const TILE: u32 = 128u;
const SLICE: u32 = 16u;
// vec4s per k-row of the shared B tile: 32 for 128 entries. Unpadded: both operands,
// double-buffered, take exactly 32 KiB, the common workgroup-memory limit.
const STRIDE: u32 = 32u;
// One buffer of the B tile: SLICE k-rows of STRIDE vec4s.
const HALF_B: u32 = 512u;
const SWIZZLE: u32 = 8u;

// tile_a[buffer + kk * A_VECS + q] holds op(A)[row0 + 4q .. +4, k0 + kk];
// tile_b[buffer + kk * STRIDE + q] holds op(B)[k0 + kk, col0 + 4q .. +4]. Two buffers each.
// tile_a keeps 1024 vec4s for the 64-row core too: its Gram stages 64×64 mirrors there.
var<workgroup> tile_a: array<vec4<f32>, 1024>;
var<workgroup> tile_b: array<vec4<f32>, 1024>;

// Run `idx` (0..16·A_VECS for A, 0..512 for B) of a slice is 4 consecutive stored elements:
// along k (row idx / 4, quarter idx % 4 of the slice) where k is the stored contiguous
// dimension, else along m or n (k-row idx / A_VECS or idx / 32, vec4 idx % A_VECS or idx % 32).
// fetch_* reads a run from storage into registers, stash_* writes it into a shared buffer.
fn fetch_a(off: u32, row0: u32, k0: u32, idx: u32) -> vec4<f32> {
    if (TRANS_A) {
        let k = k0 + idx / A_VECS;
        let r = row0 + (idx % A_VECS) * 4u;
        return vec4<f32>(load_a(off, r, k), load_a(off, r + 1u, k), load_a(off, r + 2u, k), load_a(off, r + 3u, k));
    }
    let r = row0 + idx / 4u;
    let k = k0 + (idx % 4u) * 4u;
    return vec4<f32>(load_a(off, r, k), load_a(off, r, k + 1u), load_a(off, r, k + 2u), load_a(off, r, k + 3u));
}

fn stash_a(buffer: u32, idx: u32, v: vec4<f32>) {
    if (TRANS_A) {
        tile_a[buffer + idx] = v;
        return;
    }
    let m = idx / 4u;
    let at = buffer + (idx % 4u) * 4u * A_VECS + m / 4u;
    tile_a[at][m % 4u] = v.x;
    tile_a[at + A_VECS][m % 4u] = v.y;
    tile_a[at + 2u * A_VECS][m % 4u] = v.z;
    tile_a[at + 3u * A_VECS][m % 4u] = v.w;
}

fn fetch_b(off: u32, col0: u32, k0: u32, idx: u32) -> vec4<f32> {
    if (TRANS_B) {
        let c = col0 + idx / 4u;
        let k = k0 + (idx % 4u) * 4u;
        return vec4<f32>(load_b(off, k, c), load_b(off, k + 1u, c), load_b(off, k + 2u, c), load_b(off, k + 3u, c));
    }
    let k = k0 + idx / 32u;
    let c = col0 + (idx % 32u) * 4u;
    return vec4<f32>(load_b(off, k, c), load_b(off, k, c + 1u), load_b(off, k, c + 2u), load_b(off, k, c + 3u));
}

fn stash_b(buffer: u32, idx: u32, v: vec4<f32>) {
    if (!TRANS_B) {
        tile_b[buffer + idx] = v;
        return;
    }
    let n = idx / 4u;
    let at = buffer + (idx % 4u) * 4u * STRIDE + n / 4u;
    tile_b[at][n % 4u] = v.x;
    tile_b[at + STRIDE][n % 4u] = v.y;
    tile_b[at + 2u * STRIDE][n % 4u] = v.z;
    tile_b[at + 3u * STRIDE][n % 4u] = v.w;
}

// The tile's (row, column) in the grid: groups of SWIZZLE tile rows are walked column by
// column, so consecutive workgroups reuse the same rows of A and a few columns of B.
fn swizzled(wid: vec3<u32>, grid: vec3<u32>) -> vec2<u32> {
    let id = wid.y * grid.x + wid.x;
    let group = SWIZZLE * grid.x;
    let first = (id / group) * SWIZZLE;
    let rows = min(grid.y - first, SWIZZLE);
    let within = id % group;
    return vec2<u32>(first + within % rows, within / rows);
}

// alpha·acc + beta·C into D for the 4 entries (row, col .. col + 3) of one accumulator.
fn store4(off: GemmOffsets, row: u32, col: u32, acc: vec4<f32>) {
    if (row >= params.m) {
        return;
    }
    for (var j = 0u; j < 4u; j += 1u) {
        let c = col + j;
        if (c < params.n) {
            mat_d[off.d + row * params.n + c] = StoreOut(epilogue(off, row, c, acc[j]));
        }
    }
}

// store4 for the Gram: only the entries on or above the diagonal; mirror_quadrant writes their
// mirrors.
fn store4_upper(off: GemmOffsets, row: u32, col: u32, acc: vec4<f32>) {
    if (row >= params.m) {
        return;
    }
    for (var j = 0u; j < 4u; j += 1u) {
        let c = col + j;
        if (c < params.n && row <= c) {
            mat_d[off.d + row * params.n + c] = StoreOut(epilogue(off, row, c, acc[j]));
        }
    }
}

// Where entry (r, c) of a 64×64 quadrant, r and c local, lives in tile_a when it is staged
// transposed for the Gram's mirror: vec4 (c * 16 + (r / 4 XOR c / 4)), lane r % 4. The XOR
// spreads the 16 invocations of a row of the workgroup, which write one column c each, over
// different banks; reads along r stay within 8 vec4s.
fn mirror_slot(r: u32, c: u32) -> u32 {
    return c * 16u + ((r / 4u) ^ ((c / 4u) & 15u));
}

// Writes the mirror D[col, row] = D[row, col] of every strictly-upper entry of the quadrant
// whose top-left entry is (r0, c0), from its transpose staged in tile_a: consecutive
// invocations take consecutive rows of the quadrant, which are consecutive addresses of D's
// mirrored row, so the stores are coalesced (a direct mirror would write with stride n).
fn mirror_quadrant(off: GemmOffsets, r0: u32, c0: u32, flat: u32) {
    for (var e = 0u; e < 16u; e += 1u) {
        let q = e * 256u + flat;
        let r = q % 64u;
        let c = q / 64u;
        let row = r0 + r;
        let col = c0 + c;
        // row < col < n, and m == n for a Gram.
        if (row < col && col < params.n) {
            let v = tile_a[mirror_slot(r, c)][r % 4u];
            mat_d[off.d + col * params.n + row] = StoreOut(epilogue(off, row, col, v));
        }
    }
}
