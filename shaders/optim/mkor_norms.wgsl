// MKOR: one workgroup per layer, the rescale (‖∇W‖ + ‖∇b‖) / (‖Δ_W‖ + ‖Δ_b‖) of its
// preconditioned gradient Δ = G⁻¹ [∇W | ∇b] A⁻¹ (not finite: the apply pass keeps the raw
// gradient).

@group(0) @binding(0) var<storage, read> layers: array<MkorLayerDesc>;
@group(0) @binding(1) var<storage, read> packed: array<f32>;
@group(0) @binding(2) var<storage, read> delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> scale: array<f32>;

var<workgroup> sums: array<vec4<f32>, MKOR_WG>;

@compute @workgroup_size(MKOR_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let l = layers[wid.x];
    // (gradient weight, gradient bias, update weight, update bias) sums of squares.
    var s = vec4<f32>(0.0);
    let total = l.d_out * l.a_dim;
    for (var k = lid; k < total; k += MKOR_WG) {
        let g = packed[l.p_off + k];
        let d = delta[l.p_off + k];
        if (k % l.a_dim < l.d_in) {
            s += vec4<f32>(g * g, 0.0, d * d, 0.0);
        } else {
            s += vec4<f32>(0.0, g * g, 0.0, d * d);
        }
    }
    sums[lid] = s;
    workgroupBarrier();
    for (var k = MKOR_WG / 2u; k > 0u; k /= 2u) {
        if (lid < k) {
            sums[lid] += sums[lid + k];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let t = sqrt(sums[0]);
        scale[wid.x] = (t.x + t.y) / (t.z + t.w);
    }
}
