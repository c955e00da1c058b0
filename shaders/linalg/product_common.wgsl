// What every matrix-product kernel shares (tile_core.wgsl's 64×64 core and the generated
// 128×128 kernels gemm_128.wgsl / gram_128.wgsl): the uniform, per-batch offsets, bindings,
// bounds-checked loads of op(A) and op(B), and the alpha/beta epilogue. Matrices are row-major
// at per-batch offsets (in elements) read from `offsets`, so they can live anywhere in arenas or
// scratch buffers. op(A) is M×K, op(B) is K×N; TRANS_A / TRANS_B say the stored matrix is the
// transpose. Storage types come from the precision prelude the host puts first
// (wgopt_scheduler::shaders): `alias StoreIn = f32 | f16;` for A, B and C, `alias StoreOut =
// f32 | f16;` for D. Arithmetic and accumulation are f32 either way.

override TRANS_A: bool = false;
override TRANS_B: bool = false;

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

// alpha·acc + beta·C for one element (C only when params.use_c is set).
fn epilogue(off: GemmOffsets, row: u32, col: u32, value: f32) -> f32 {
    var out = params.alpha * value;
    if (params.use_c != 0u) {
        out += params.beta * f32(mat_c[off.c + row * params.n + col]);
    }
    return out;
}
