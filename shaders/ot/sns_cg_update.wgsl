// CG's update, one invocation per unknown: x += α p, res −= α ap, z = res/diag (Jacobi);
// partial sums (res·z, res·res) per workgroup. Skipped once CG is done.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> scratch: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[S_DONE] != 0.0) {
        return;
    }
    let total = params.n + params.m;
    let k = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (k < total) {
        let alpha = scalars[S_ALPHA];
        vecs[V_X * total + k] += alpha * vecs[V_P * total + k];
        let res = vecs[V_RES * total + k] - alpha * vecs[V_AP * total + k];
        let z = res / vecs[V_DIAG * total + k];
        vecs[V_RES * total + k] = res;
        vecs[V_Z * total + k] = z;
        s = vec2<f32>(res * z, res * res);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = ELEMENT_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[wid.x] = scratch[0];
    }
}
