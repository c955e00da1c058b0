// CG's search direction, one invocation per unknown: p = z + β p. Skipped once CG is done.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = params.n;
    let i = gid.x;
    if (scalars[N_DONE] != 0.0 || i >= n) {
        return;
    }
    let p = W_P * n + i;
    vecs[p] = vecs[W_Z * n + i] + scalars[N_BETA] * vecs[p];
}
