// CG's scalars, one workgroup summing the partial sums of the pass before (`parts` of them,
// `product_parts` after the product):
// MODE 0 after the product: α = rz / pᵀAp, or stop (pᵀAp ≤ 0: not positive definite);
// MODE 1 after pcg_update: rr = ‖r‖², its + 1; done when rr ≤ tol²·‖b‖² or at cg_max;
// MODE 2 after the start (first preconditioning): rz = r·z, bb = rr = ‖b‖², β = 0, its = 0,
//   done when b = 0;
// MODE 3 after a later preconditioning: β = rz'/rz, rz = rz';
// MODE 4 after a Jacobi pcg_update (r·z, r·r together): MODE 3 then MODE 1;
// MODE 5: the sum's first component into scalars[SUM_SLOT] (a problem's own reduction).

override MODE: u32 = 0u;
override SUM_SLOT: u32 = 0u;

@group(0) @binding(0) var<uniform> params: PcgParams;
@group(0) @binding(1) var<storage, read> partial: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> scalars: array<f32>;

var<workgroup> scratch: array<vec2<f32>, PCG_WG>;

fn residual_test(rr: f32) {
    let its = scalars[PCG_ITS] + 1.0;
    scalars[PCG_ITS] = its;
    scalars[PCG_RR] = rr;
    if (rr <= params.tol2 * scalars[PCG_BB] || its >= f32(params.cg_max)) {
        scalars[PCG_DONE] = 1.0;
    }
}

@compute @workgroup_size(PCG_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var count = params.parts;
    if (MODE == 0u) {
        count = params.product_parts;
    }
    var s = vec2<f32>(0.0);
    for (var t = lid; t < count; t += PCG_WG) {
        s += partial[t];
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = PCG_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid != 0u) {
        return;
    }
    let r = scratch[0];
    if (MODE == 5u) {
        scalars[SUM_SLOT] = r.x;
        return;
    }
    if (MODE == 2u) {
        scalars[PCG_RZ] = r.x;
        scalars[PCG_BB] = r.y;
        scalars[PCG_RR] = r.y;
        scalars[PCG_BETA] = 0.0;
        scalars[PCG_ITS] = 0.0;
        scalars[PCG_NOT_SPD] = 0.0;
        scalars[PCG_DONE] = select(0.0, 1.0, !(r.y > 0.0));
        return;
    }
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    if (MODE == 0u) {
        scalars[PCG_PAP] = r.x;
        if (!(r.x > 0.0)) {
            scalars[PCG_ALPHA] = 0.0;
            scalars[PCG_NOT_SPD] = 1.0;
            scalars[PCG_DONE] = 1.0;
        } else {
            scalars[PCG_ALPHA] = scalars[PCG_RZ] / r.x;
        }
        return;
    }
    if (MODE == 3u || MODE == 4u) {
        scalars[PCG_BETA] = r.x / scalars[PCG_RZ];
        scalars[PCG_RZ] = r.x;
    }
    if (MODE == 1u || MODE == 4u) {
        residual_test(r.y);
    }
}
