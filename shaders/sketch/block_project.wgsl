// Block Kaczmarz / block Newton steps first_step .. first_step + steps in one dispatch of one
// workgroup (the iteration is sequential; keeping x in place and looping inside the kernel
// avoids a dispatch per step). Step k takes block philox((k, 3, 0, SKETCH_STREAM), key).x mod
// blocks, as wgopt_reference::sketch::project::BlockPlan::run:
//   r_τ = A_τ x − b_τ   (8 threads per row, a partial sum each)
//   y = L⁻ᵀ L⁻¹ r_τ     (one thread, q ≤ 32)
//   x ← x − A_τᵀ y (Kaczmarz, threads over columns) or x_τ ← x_τ − y (Newton).

const WG: u32 = 256u;
const LANES: u32 = 8u;

@group(0) @binding(0) var<uniform> params: BlockParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> factors: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

var<workgroup> red: array<f32, 256>;
var<workgroup> y: array<f32, 32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let q = params.q;
    let n = params.n;
    for (var s = 0u; s < params.steps; s++) {
        let t = philox4x32_10(vec4<u32>(params.first_step + s, 3u, 0u, SKETCH_STREAM), params.key).x % params.blocks;
        let lo = t * q;
        let qb = min(q, params.m - lo);
        let row = lid / LANES;
        var partial = 0.0;
        if (row < qb) {
            for (var j = lid % LANES; j < n; j += LANES) {
                partial += a[(lo + row) * n + j] * x[j];
            }
        }
        red[lid] = partial;
        workgroupBarrier();
        if (lid == 0u) {
            let f = t * q * q;
            for (var i = 0u; i < qb; i++) {
                var v = -b[lo + i];
                for (var l = 0u; l < LANES; l++) {
                    v += red[i * LANES + l];
                }
                for (var k = 0u; k < i; k++) {
                    v -= factors[f + i * q + k] * y[k];
                }
                y[i] = v / factors[f + i * q + i];
            }
            for (var ii = qb; ii > 0u; ii--) {
                let i = ii - 1u;
                var v = y[i];
                for (var k = i + 1u; k < qb; k++) {
                    v -= factors[f + k * q + i] * y[k];
                }
                y[i] = v / factors[f + i * q + i];
            }
        }
        workgroupBarrier();
        if (NEWTON == 1u) {
            if (lid < qb) {
                x[lo + lid] -= y[lid];
            }
        } else {
            for (var j = lid; j < n; j += WG) {
                var acc = 0.0;
                for (var i = 0u; i < qb; i++) {
                    acc += a[(lo + i) * n + j] * y[i];
                }
                x[j] -= acc;
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
}
