// Batched Frobenius normalisation: out = in / (factor·‖in‖_F + 1e-7) (Muon's
// `X / (X.norm() + 1e-7)`; Polar Express uses factor 1.01), over a grid of workgroups: x = one
// chunk of a matrix (`chunk` floats, at most NORM_WG chunks), y = the matrix in the batch.
// Two passes of this one kernel (override SCALE_PASS):
//   1. every workgroup sums the squares of its chunk (fixed-order tree) into `partials`;
//   2. every workgroup re-reduces its matrix's partials in the same fixed order, so all chunks
//      of a matrix compute the bit-identical scale, and scales its chunk.
// Why a grid: one workgroup per matrix ran a 4096² matrix on one compute unit, and on lavapipe
// its store loop left entries unwritten past a few million (tests/linalg_parity.rs).
// With CLAMP (ROOT), each matrix is first soft-thresholded at its quantile threshold ε,
// `u − sign(u)·relu(|u| − ε)` as ROOT computes it, fused here so the clamp costs no extra pass.
// Reference twins: the normalisation in wgopt_reference::linalg::newton_schulz, the clamp in
// wgopt_reference::linalg::quantile::soft_threshold_clamp.

const NORM_WG: u32 = 256u;

override CLAMP: bool = false;
override SCALE_PASS: bool = false;

// Rust twin: wgopt_solvers::newton_schulz::NormalizeParams.
struct NormalizeParams {
    len: u32,
    factor: f32,
    clamp_base: u32,
    // Floats per chunk (a multiple of NORM_WG) and chunks per matrix (≤ NORM_WG).
    chunk: u32,
    chunks: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Rust twin: wgopt_solvers::newton_schulz::NormalizeOffsets.
struct NormalizeOffsets {
    src: u32,
    dst: u32,
}

@group(0) @binding(0) var<uniform> norm_params: NormalizeParams;
@group(0) @binding(1) var<storage, read> norm_offsets: array<NormalizeOffsets>;
// StoreIn / StoreOut: the precision prelude (see linalg/tile_core.wgsl).
@group(0) @binding(2) var<storage, read> src: array<StoreIn>;
@group(0) @binding(3) var<storage, read_write> dst: array<StoreOut>;
// Matrix i's threshold at clamp_base + i (read only with CLAMP).
@group(0) @binding(4) var<storage, read> clamp_thresholds: array<f32>;
// Matrix b's chunk sums of squares at b·chunks + c: written by pass 1, read by pass 2.
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;

var<workgroup> tree: array<f32, NORM_WG>;

fn load(i: u32, eps: f32) -> f32 {
    let u = f32(src[i]);
    if (CLAMP) {
        return u - sign(u) * max(abs(u) - eps, 0.0);
    }
    return u;
}

// The workgroup's sum of `value` in a fixed order (the same on every workgroup).
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    tree[lid] = value;
    workgroupBarrier();
    for (var w = NORM_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            tree[lid] += tree[lid + w];
        }
        workgroupBarrier();
    }
    return tree[0];
}

@compute @workgroup_size(NORM_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let matrix = wid.y;
    let off = norm_offsets[matrix];
    var eps = 0.0;
    if (CLAMP) {
        eps = clamp_thresholds[norm_params.clamp_base + matrix];
    }
    let start = wid.x * norm_params.chunk;
    let end = min(start + norm_params.chunk, norm_params.len);
    let slot = matrix * norm_params.chunks;
    if (!SCALE_PASS) {
        var s = 0.0;
        for (var i = start + lid; i < end; i += NORM_WG) {
            let v = load(off.src + i, eps);
            s += v * v;
        }
        let total = workgroup_sum(lid, s);
        if (lid == 0u) {
            partials[slot + wid.x] = total;
        }
        return;
    }
    var p = 0.0;
    if (lid < norm_params.chunks) {
        p = partials[slot + lid];
    }
    let scale = 1.0 / (norm_params.factor * sqrt(workgroup_sum(lid, p)) + 1e-7);
    for (var i = start + lid; i < end; i += NORM_WG) {
        dst[off.dst + i] = StoreOut(load(off.src + i, eps) * scale);
    }
}
