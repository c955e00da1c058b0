// w = Uᵀ·r for the preconditioner, one workgroup per column j of U (Uᵀ is stored ℓ × n, so
// each workgroup reads a contiguous row). Skipped once CG is done.

const PROJECT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> ut: array<f32>;
@group(0) @binding(2) var<storage, read> scalars: array<f32>;
@group(0) @binding(3) var<storage, read> vecs: array<f32>;
@group(0) @binding(4) var<storage, read_write> w: array<f32>;

var<workgroup> red: array<f32, PROJECT_WG>;

@compute @workgroup_size(PROJECT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    let n = params.n;
    let j = wid.x;
    var s = 0.0;
    for (var i = lid; i < n; i += PROJECT_WG) {
        s += ut[j * n + i] * vecs[PCG_R * n + i];
    }
    red[lid] = s;
    workgroupBarrier();
    for (var k = PROJECT_WG / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            red[lid] += red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        w[j] = red[0];
    }
}
