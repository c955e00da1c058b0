// A line-search trial: slot 1's potentials = slot 0's + α·Δ (Δ = CG's x, α from params), one
// invocation per unknown; partial sums (rhs·Δ, 0) for the Armijo test on the dual.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(2) var<storage, read> vecs: array<f32>;
@group(0) @binding(3) var<storage, read_write> pot: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> scratch: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let cur = problems[0];
    let trial = problems[1];
    let total = cur.n + cur.m;
    let k = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (k < total) {
        let x = vecs[PCG_X * total + k];
        pot[trial.f_off + k] = pot[cur.f_off + k] + params.alpha * x;
        s = vec2<f32>(vecs[V_RHS * total + k] * x, 0.0);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = ELEMENT_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        partial[wid.x] = scratch[0];
    }
}
