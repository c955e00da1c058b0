// Batched Frobenius normalisation, one workgroup per matrix: out = in / (factor·‖in‖_F + 1e-7)
// (Muon's `X / (X.norm() + 1e-7)`; Polar Express uses factor 1.01). Fixed-order tree sum.
// With CLAMP (ROOT), each matrix is first soft-thresholded at its quantile threshold ε,
// `u − sign(u)·relu(|u| − ε)` as ROOT computes it, fused here so the clamp costs no extra pass.
// Reference twins: the normalisation in wgopt_reference::linalg::newton_schulz, the clamp in
// wgopt_reference::linalg::quantile::soft_threshold_clamp.

const NORM_WG: u32 = 256u;

override CLAMP: bool = false;

// Rust twin: wgopt_scheduler::linalg::NormalizeParams.
struct NormalizeParams {
    len: u32,
    factor: f32,
    clamp_base: u32,
    _pad1: u32,
}

// Rust twin: wgopt_scheduler::linalg::NormalizeOffsets.
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

var<workgroup> partial: array<f32, NORM_WG>;

fn load(i: u32, eps: f32) -> f32 {
    let u = f32(src[i]);
    if (CLAMP) {
        return u - sign(u) * max(abs(u) - eps, 0.0);
    }
    return u;
}

@compute @workgroup_size(NORM_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let off = norm_offsets[wid.x];
    var eps = 0.0;
    if (CLAMP) {
        eps = clamp_thresholds[norm_params.clamp_base + wid.x];
    }
    var s = 0.0;
    for (var i = lid; i < norm_params.len; i += NORM_WG) {
        let v = load(off.src + i, eps);
        s += v * v;
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var w = NORM_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            partial[lid] += partial[lid + w];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / (norm_params.factor * sqrt(partial[0]) + 1e-7);
    for (var i = lid; i < norm_params.len; i += NORM_WG) {
        dst[off.dst + i] = StoreOut(load(off.src + i, eps) * scale);
    }
}
