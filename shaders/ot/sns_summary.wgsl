// One workgroup: from slot SLOT's marginals, the L1 marginal error ‖a − r‖₁ + ‖b − c‖₁, the
// dual D = ⟨a, f⟩ + ⟨b, g⟩ − ε Σ P and the sums Σr, Σc, written to scalars[4·SLOT ..].

override SLOT: u32 = 0u;
const SUMMARY_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> logw: array<f32>;
@group(0) @binding(2) var<storage, read> pot: array<f32>;
@group(0) @binding(3) var<storage, read> marg: array<f32>;
@group(0) @binding(4) var<storage, read_write> scalars: array<f32>;

var<workgroup> scratch: array<vec4<f32>, SUMMARY_WG>;

@compute @workgroup_size(SUMMARY_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    let q = problems[SLOT];
    let total = q.n + q.m;
    // (|w − marginal|, w·potential, Σr, Σc) over the concatenation (rows, then columns).
    var s = vec4<f32>(0.0);
    for (var k = lid; k < total; k += SUMMARY_WG) {
        let w = exp(logw[q.la_off + k]);
        let v = marg[q.f_off + k];
        var sums = vec2<f32>(v, 0.0);
        if (k >= q.n) {
            sums = vec2<f32>(0.0, v);
        }
        s += vec4<f32>(abs(w - v), w * pot[q.f_off + k], sums);
    }
    scratch[lid] = s;
    workgroupBarrier();
    for (var w = SUMMARY_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch[lid] += scratch[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let r = scratch[0];
        scalars[4u * SLOT + S_ERR] = r.x;
        scalars[4u * SLOT + S_DUAL] = r.y - q.eps * r.z;
        scalars[4u * SLOT + S_SUM_R] = r.z;
        scalars[4u * SLOT + S_SUM_C] = r.w;
    }
}
