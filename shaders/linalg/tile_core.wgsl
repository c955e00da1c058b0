// Shared core of the tiled matrix products (gemm.wgsl, gram.wgsl): bindings, shared-memory
// tiles and the 64×64 output-tile accumulation. 16×16 invocations, each owning a 4×4 block;
// K advances in slices of TILE_K (8, 16 or 32: the engine's autotuned choice). Matrices are
// row-major at per-batch offsets (in elements) read from `offsets`, so they can live anywhere
// in arenas or scratch buffers. op(A) is M×K, op(B) is K×N; TRANS_A / TRANS_B say the stored
// matrix is the transpose.
// Storage types come from the precision prelude the host puts first (wgopt_scheduler::shaders):
// `alias StoreIn = f32 | f16;` for A, B and C, `alias StoreOut = f32 | f16;` for D. Arithmetic
// and accumulation are f32 either way; f16 halves the traffic of Newton–Schulz's scratch.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override TILE_K: u32 = 16u;
// false: each invocation reads its operands straight from storage (no workgroup tiles, no
// barriers), which wins where barriers are expensive and caches do the reuse (CPU adapters).
override SHARED_TILES: bool = true;

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K_MAX: u32 = 32u;

// Rust twin: wgopt_scheduler::linalg::GemmParams.
struct GemmParams {
    m: u32,
    n: u32,
    k: u32,
    use_c: u32,
    alpha: f32,
    beta: f32,
    _pad0: u32,
    _pad1: u32,
}

// Rust twin: wgopt_scheduler::linalg::GemmOffsets.
struct GemmOffsets {
    a: u32,
    b: u32,
    c: u32,
    d: u32,
}

@group(0) @binding(0) var<uniform> params: GemmParams;
@group(0) @binding(1) var<storage, read> offsets: array<GemmOffsets>;
@group(0) @binding(2) var<storage, read> mat_a: array<StoreIn>;
@group(0) @binding(3) var<storage, read> mat_b: array<StoreIn>;
@group(0) @binding(4) var<storage, read> mat_c: array<StoreIn>;
@group(0) @binding(5) var<storage, read_write> mat_d: array<StoreOut>;

// tile_a[kk * 16 + r] holds op(A)[row0 + 4r .. +4, k0 + kk]; tile_b[kk * 16 + c] holds
// op(B)[k0 + kk, col0 + 4c .. +4].
var<workgroup> tile_a: array<vec4<f32>, 512>;
var<workgroup> tile_b: array<vec4<f32>, 512>;

fn load_a(off: u32, row: u32, col: u32) -> f32 {
    if (row >= params.m || col >= params.k) {
        return 0.0;
    }
    if (TRANS_A) {
        return f32(mat_a[off + col * params.m + row]);
    }
    return f32(mat_a[off + row * params.k + col]);
}

fn load_b(off: u32, row: u32, col: u32) -> f32 {
    if (row >= params.k || col >= params.n) {
        return 0.0;
    }
    if (TRANS_B) {
        return f32(mat_b[off + col * params.k + row]);
    }
    return f32(mat_b[off + row * params.n + col]);
}

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

// alpha·acc + beta·C for one element (C only when params.use_c is set).
fn epilogue(off: GemmOffsets, row: u32, col: u32, value: f32) -> f32 {
    var out = params.alpha * value;
    if (params.use_c != 0u) {
        out += params.beta * f32(mat_c[off.c + row * params.n + col]);
    }
    return out;
}
