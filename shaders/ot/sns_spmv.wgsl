// CG's product ap = (S̃ + diag) p with the sparsified symmetric Newton matrix
// [[diag(r) + σ, S], [Sᵀ, diag(c) + σ]]: invocation k < n walks CSR row k, k ≥ n walks CSC
// column k − n. Partial sums (p·ap, 0) per workgroup. Skipped once CG is done.

const ELEMENT_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: SnsParams;
@group(0) @binding(1) var<storage, read> pattern: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> val: array<f32>;
@group(0) @binding(4) var<storage, read> scalars: array<f32>;
@group(0) @binding(5) var<storage, read_write> vecs: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<vec2<f32>>;

var<workgroup> scratch: array<vec2<f32>, ELEMENT_WG>;

@compute @workgroup_size(ELEMENT_WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (scalars[PCG_DONE] != 0.0) {
        return;
    }
    let n = params.n;
    let total = n + params.m;
    let k = wid.x * ELEMENT_WG + lid;
    var s = vec2<f32>(0.0);
    if (k < total) {
        let p = PCG_P * total;
        var y = vecs[PCG_DIAG * total + k] * vecs[p + k];
        let offsets = pattern_offsets(n, params.m);
        if (k < n) {
            for (var e = pattern[offsets + k]; e < pattern[offsets + k + 1u]; e += 1u) {
                y += val[e] * vecs[p + n + idx[e]];
            }
        } else {
            let j = k - n;
            let lo = params.cap_total + pattern[offsets + n + 1u + j];
            let hi = params.cap_total + pattern[offsets + n + 2u + j];
            for (var e = lo; e < hi; e += 1u) {
                y += val[e] * vecs[p + idx[e]];
            }
        }
        vecs[PCG_AP * total + k] = y;
        s = vec2<f32>(vecs[p + k] * y, 0.0);
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
