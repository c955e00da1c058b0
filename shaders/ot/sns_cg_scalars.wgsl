// CG's scalars, one workgroup summing the per-workgroup partial sums of the pass before:
// MODE 2 after sns_setup (rz = res·z, bb = rr = rhs·rhs, its = 0, done when rhs = 0),
// MODE 0 after sns_spmv (α = rz / p·ap; done if p·ap ≤ 0), MODE 1 after sns_cg_update
// (β = rz'/rz, rr, its + 1; done when ‖res‖² ≤ tol²·‖rhs‖² or at cg_max), MODE 3 after
// sns_trial (the dual's directional derivative times ε, rhs·x).

override MODE: u32 = 0u;
const SCALARS_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> scalars: array<f32>;

var<workgroup> scratch: array<vec2<f32>, SCALARS_WG>;

@compute @workgroup_size(SCALARS_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var s = vec2<f32>(0.0);
    for (var t = lid; t < params.parts; t += SCALARS_WG) {
        s += partial[t];
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = SCALARS_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid != 0u) {
        return;
    }
    let r = scratch[0];
    if (MODE == 2u) {
        scalars[S_RZ] = r.x;
        scalars[S_BB] = r.y;
        scalars[S_RR] = r.y;
        scalars[S_ITS] = 0.0;
        scalars[S_DONE] = select(0.0, 1.0, !(r.y > 0.0));
        return;
    }
    if (MODE == 3u) {
        scalars[S_SLOPE] = r.x;
        return;
    }
    if (scalars[S_DONE] != 0.0) {
        return;
    }
    if (MODE == 0u) {
        if (!(r.x > 0.0)) {
            scalars[S_ALPHA] = 0.0;
            scalars[S_DONE] = 1.0;
        } else {
            scalars[S_ALPHA] = scalars[S_RZ] / r.x;
        }
        return;
    }
    let its = scalars[S_ITS] + 1.0;
    scalars[S_BETA] = r.x / scalars[S_RZ];
    scalars[S_RZ] = r.x;
    scalars[S_RR] = r.y;
    scalars[S_ITS] = its;
    if (r.y <= params.cg_tol2 * scalars[S_BB] || its >= f32(params.cg_max)) {
        scalars[S_DONE] = 1.0;
    }
}
