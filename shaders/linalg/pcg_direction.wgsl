// CG's new search direction, one invocation per unknown: p = z + β p. Skipped once CG is done
// (the update's sums may have just finished it: then p is not needed again).

@group(0) @binding(0) var<uniform> params: PcgParams;
@group(0) @binding(1) var<storage, read> scalars: array<f32>;
@group(0) @binding(2) var<storage, read_write> vecs: array<f32>;

@compute @workgroup_size(PCG_WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let len = params.len;
    let k = gid.x;
    if (scalars[PCG_DONE] != 0.0 || k >= len) {
        return;
    }
    let p = PCG_P * len + k;
    vecs[p] = vecs[PCG_Z * len + k] + scalars[PCG_BETA] * vecs[p];
}
