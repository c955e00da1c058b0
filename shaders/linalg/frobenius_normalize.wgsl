// Batched Frobenius normalisation, one workgroup per matrix: out = in / (factor·‖in‖_F + 1e-7)
// (Muon's `X / (X.norm() + 1e-7)`; Polar Express uses factor 1.01). Fixed-order tree sum.
// Reference twin: the normalisation in wgopt_reference::linalg::newton_schulz.

const NORM_WG: u32 = 256u;

// Rust twin: wgopt_scheduler::linalg::NormalizeParams.
struct NormalizeParams {
    len: u32,
    factor: f32,
    _pad0: u32,
    _pad1: u32,
}

// Rust twin: wgopt_scheduler::linalg::NormalizeOffsets.
struct NormalizeOffsets {
    src: u32,
    dst: u32,
}

@group(0) @binding(0) var<uniform> norm_params: NormalizeParams;
@group(0) @binding(1) var<storage, read> norm_offsets: array<NormalizeOffsets>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

var<workgroup> partial: array<f32, NORM_WG>;

@compute @workgroup_size(NORM_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let off = norm_offsets[wid.x];
    var s = 0.0;
    for (var i = lid; i < norm_params.len; i += NORM_WG) {
        let v = src[off.src + i];
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
        dst[off.dst + i] = src[off.src + i] * scale;
    }
}
