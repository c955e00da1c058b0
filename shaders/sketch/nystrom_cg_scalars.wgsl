// CG's scalars, one workgroup summing the partial sums of the pass before (the reference's
// order: test the residual after the update, then precondition):
// MODE 0 after nystrom_matvec: α = rz / pᵀ(A + μI)p, or stop (not positive definite);
// MODE 1 after nystrom_cg_update: rr = ‖r‖², its + 1; done when rr ≤ tol²·‖b‖² or at cg_max;
// MODE 2 after the first nystrom_precondition: rz = r·z, bb = ‖b‖², β = 0 (so p = z);
// MODE 3 after a later nystrom_precondition: β = rz'/rz, rz = rz'.

override MODE: u32 = 0u;
const SCALARS_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: NystromParams;
@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> scalars: array<f32>;

var<workgroup> red: array<vec2<f32>, SCALARS_WG>;

@compute @workgroup_size(SCALARS_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var count = params.parts;
    if (MODE == 0u) {
        count = params.matvec_parts;
    }
    var s = vec2<f32>(0.0);
    for (var t = lid; t < count; t += SCALARS_WG) {
        s += partial[t];
    }
    red[lid] = s;
    workgroupBarrier();
    for (var k = SCALARS_WG / 2u; k > 0u; k = k / 2u) {
        if (lid < k) {
            red[lid] += red[lid + k];
        }
        workgroupBarrier();
    }
    if (lid != 0u) {
        return;
    }
    let r = red[0];
    if (MODE == 2u) {
        scalars[N_RZ] = r.x;
        scalars[N_BB] = r.y;
        scalars[N_RR] = r.y;
        scalars[N_BETA] = 0.0;
        scalars[N_ITS] = 0.0;
        scalars[N_NOT_SPD] = 0.0;
        scalars[N_DONE] = select(0.0, 1.0, !(r.y > 0.0));
        return;
    }
    if (scalars[N_DONE] != 0.0) {
        return;
    }
    if (MODE == 0u) {
        scalars[N_PAP] = r.x;
        if (!(r.x > 0.0)) {
            scalars[N_NOT_SPD] = 1.0;
            scalars[N_DONE] = 1.0;
        } else {
            scalars[N_ALPHA] = scalars[N_RZ] / r.x;
        }
    } else if (MODE == 1u) {
        let its = scalars[N_ITS] + 1.0;
        scalars[N_ITS] = its;
        scalars[N_RR] = r.y;
        if (r.y <= params.tol2 * scalars[N_BB] || its >= f32(params.cg_max)) {
            scalars[N_DONE] = 1.0;
        }
    } else {
        scalars[N_BETA] = r.x / scalars[N_RZ];
        scalars[N_RZ] = r.x;
    }
}
