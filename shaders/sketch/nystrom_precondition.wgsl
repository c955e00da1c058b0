// z = P⁻¹·r = r + U·(scale ⊙ w), one invocation per row of U (n × ℓ, row-major); partial
// sums (r·z, r·r) per workgroup. Skipped once CG is done.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> red: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    let n = params.n;
    let i = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (i < n) {
        let r = vecs[PCG_R * n + i];
        var z = r;
        for (var j = 0u; j < params.rank; j++) {
            z += u[i * params.rank + j] * scale[j] * w[j];
        }
        vecs[PCG_Z * n + i] = z;
        s = vec2<f32>(r * z, r * r);
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
