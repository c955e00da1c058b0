// CG's new search direction, one invocation per unknown: p = z + β p. Skipped once CG is done
// (the update's sums may have just finished it: then p is not needed again).

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let total = params.n + params.m;
    let k = gid.x;
    if (scalars[S_DONE] != 0.0 || k >= total) {
        return;
    }
    let p = V_P * total + k;
    vecs[p] = vecs[V_Z * total + k] + scalars[S_BETA] * vecs[p];
}
