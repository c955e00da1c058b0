// The 64×64 tile core of gemm.wgsl and gram.wgsl (after product_common.wgsl): 16×16
// invocations, each owning a 4×4 block; K advances in slices of TILE_K (8, 16 or 32: the
// engine's autotuned choice). The 128×128 core is generated from Rust (gemm_128.wgsl).

override TILE_K: u32 = 16u;
// false: each invocation reads its operands straight from storage (no workgroup tiles, no
// barriers), which wins where barriers are expensive and caches do the reuse (CPU adapters).
override SHARED_TILES: bool = true;

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K_MAX: u32 = 32u;

// tile_a[kk * 16 + r] holds op(A)[row0 + 4r .. +4, k0 + kk]; tile_b[kk * 16 + c] holds
// op(B)[k0 + kk, col0 + 4c .. +4].
var<workgroup> tile_a: array<vec4<f32>, 512>;
var<workgroup> tile_b: array<vec4<f32>, 512>;

// The same block product without workgroup memory.
fn direct_product(off: GemmOffsets, row0: u32, col0: u32, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    var acc: array<vec4<f32>, 4>;
    let r = row0 + lid.y * 4u;
    let c = col0 + lid.x * 4u;
    for (var k = 0u; k < params.k; k += 1u) {
        let av = vec4<f32>(load_a(off.a, r, k), load_a(off.a, r + 1u, k), load_a(off.a, r + 2u, k), load_a(off.a, r + 3u, k));
        let bv = vec4<f32>(load_b(off.b, k, c), load_b(off.b, k, c + 1u), load_b(off.b, k, c + 2u), load_b(off.b, k, c + 3u));
        acc[0] += av.x * bv;
        acc[1] += av.y * bv;
        acc[2] += av.z * bv;
        acc[3] += av.w * bv;
    }
    return acc;
}

// Accumulates op(A)[row0.., :]·op(B)[:, col0..] for this invocation's 4×4 block.
fn tile_product(off: GemmOffsets, row0: u32, col0: u32, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    if (!SHARED_TILES) {
        return direct_product(off, row0, col0, lid);
    }
    var acc: array<vec4<f32>, 4>;
    let flat = lid.y * 16u + lid.x;
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        // 64·TILE_K elements of each tile, TILE_K / 4 per invocation.
        for (var e = 0u; e < TILE_K / 4u; e += 1u) {
            let idx = flat + e * 256u;
            // A: consecutive invocations walk k (contiguous for row-major A).
            let am = idx / TILE_K;
            let ak = idx % TILE_K;
            tile_a[ak * 16u + am / 4u][am % 4u] = load_a(off.a, row0 + am, k0 + ak);
            // B: consecutive invocations walk n (contiguous for row-major B).
            let bk = idx / TILE_N;
            let bn = idx % TILE_N;
            tile_b[bk * 16u + bn / 4u][bn % 4u] = load_b(off.b, k0 + bk, col0 + bn);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk += 1u) {
            let av = tile_a[kk * 16u + lid.y];
            let bv = tile_b[kk * 16u + lid.x];
            acc[0] += av.x * bv;
            acc[1] += av.y * bv;
            acc[2] += av.z * bv;
            acc[3] += av.w * bv;
        }
        workgroupBarrier();
    }
    return acc;
}
