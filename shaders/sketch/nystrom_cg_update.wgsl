// CG's update, one invocation per unknown: x += α p, r −= α ap; partial sums (0, r·r) per
// workgroup for the residual test. Skipped once CG is done.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> red: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[N_DONE] != 0.0) {
        return;
    }
    let n = params.n;
    let i = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (i < n) {
        let alpha = scalars[N_ALPHA];
        vecs[W_X * n + i] += alpha * vecs[W_P * n + i];
        let r = vecs[W_R * n + i] - alpha * vecs[W_AP * n + i];
        vecs[W_R * n + i] = r;
        s = vec2<f32>(0.0, r * r);
    }
    red[lid] = s;
    workgroupBarrier();
    for (var k = ELEMENT_WG / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            red[lid] += red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[wid.x] = red[0];
    }
}
