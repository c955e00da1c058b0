// Per active problem, one workgroup: from the column sums, the L1 column-marginal error (rows
// are exact after the f-update), the mass, ⟨P, C⟩, the entropic objective ⟨P,C⟩ + εΣP log P =
// Σ P(f_i + g_j), and the KL objective ⟨P,C⟩ + ε(KL(P‖a⊗b) + Σa·Σb − ΣP) (Σa·Σb = 1 for
// normalised weights, passed in). Writes summary[problem] = (err, mass, linear, entropic, kl).

const SUMMARY_WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> problems: array<OtProblem>;
@group(0) @binding(1) var<storage, read> logw: array<f32>;
@group(0) @binding(2) var<storage, read> pot: array<f32>;
@group(0) @binding(3) var<storage, read> columns: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> summary: array<f32>;

var<workgroup> scratch_a: array<vec4<f32>, SUMMARY_WG>;
var<workgroup> scratch_b: array<vec2<f32>, SUMMARY_WG>;

@compute @workgroup_size(SUMMARY_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let q = problems[wid.x];
    if (q.live == 0u) {
        return;
    }
    // (|c_j − b_j|, c_j, Σ P C, Σ P f + c_j g_j) and (Σ P log a + c_j log b, Σ b)
    var s = vec4<f32>(0.0);
    var t = vec2<f32>(0.0);
    for (var j = lid; j < q.m; j += SUMMARY_WG) {
        let col = columns[q.g_off + j];
        let lb = logw[q.lb_off + j];
        let b = exp(lb);
        s += vec4<f32>(abs(col.x - b), col.x, col.y, col.z + col.x * pot[q.g_off + j]);
        t += vec2<f32>(col.w + col.x * lb, b);
    }
    scratch_a[lid] = s;
    scratch_b[lid] = t;
    workgroupBarrier();
    for (var w = SUMMARY_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch_a[lid] += scratch_a[lid + w];
            scratch_b[lid] += scratch_b[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let r = scratch_a[0];
        let u = scratch_b[0];
        let entropic = r.w;
        // Σ a = Σ b (checked on the host), so Σa·Σb = (Σ b)².
        let kl = entropic - q.eps * u.x + q.eps * (u.y * u.y - r.y);
        summary[wid.x * 5u + 0u] = r.x;
        summary[wid.x * 5u + 1u] = r.y;
        summary[wid.x * 5u + 2u] = r.z;
        summary[wid.x * 5u + 3u] = entropic;
        summary[wid.x * 5u + 4u] = kl;
    }
}
