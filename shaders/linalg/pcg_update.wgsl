// CG's update, one invocation per unknown: x += α p, r −= α ap, and with JACOBI also
// z = r/diag; partial sums (r·z, r·r) per workgroup ((0, r·r) without JACOBI: the problem's
// preconditioner pass sums r·z). Skipped once CG is done.

override JACOBI: bool = false;

@group(0) @binding(0) var<uniform> params: PcgParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> scratch: array<vec2<f32>, PCG_WG>;

@compute @workgroup_size(PCG_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    let len = params.len;
    let k = wid.x * PCG_WG + lid;
    var s = vec2<f32>(0.0);
    if (k < len) {
        let alpha = scalars[PCG_ALPHA];
        vecs[PCG_X * len + k] += alpha * vecs[PCG_P * len + k];
        let r = vecs[PCG_R * len + k] - alpha * vecs[PCG_AP * len + k];
        vecs[PCG_R * len + k] = r;
        if (JACOBI) {
            let z = r / vecs[PCG_DIAG * len + k];
            vecs[PCG_Z * len + k] = z;
            s = vec2<f32>(r * z, r * r);
        } else {
            s = vec2<f32>(0.0, r * r);
        }
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = PCG_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[wid.x] = scratch[0];
    }
}
