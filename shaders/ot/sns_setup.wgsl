// The Newton system of slot 0, one invocation per unknown k < N (f then g): the right-hand side
// ε∇D = ε(a − r; b − c), the shifted diagonal (r; c) + σ with σ = ‖∇D‖₁^1.5·mean(r; c)
// (wgopt_reference::ot::sns::SHIFT_POWER), and CG's
// start x = 0, res = rhs, z = res/diag, p = z; partial sums (res·z, rhs·rhs) per workgroup.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(2) var<storage, read> logw: array<f32>;
@group(0) @binding(3) var<storage, read> marg: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> scratch: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = problems[0];
    let total = q.n + q.m;
    let k = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (k < total) {
        let err = scalars[S_ERR];
        let shift = err * sqrt(err) * (scalars[S_SUM_R] + scalars[S_SUM_C]) / f32(total);
        let v = marg[q.f_off + k];
        let rhs = q.eps * (exp(logw[q.la_off + k]) - v);
        let diag = max(v, 1e-30) + shift;
        let z = rhs / diag;
        vecs[PCG_X * total + k] = 0.0;
        vecs[PCG_R * total + k] = rhs;
        vecs[PCG_Z * total + k] = z;
        vecs[PCG_P * total + k] = z;
        vecs[V_RHS * total + k] = rhs;
        vecs[PCG_DIAG * total + k] = diag;
        s = vec2<f32>(rhs * z, rhs * rhs);
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
