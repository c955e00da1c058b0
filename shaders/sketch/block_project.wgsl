// Block Kaczmarz / block Newton steps first_step .. first_step + steps in one dispatch of one
// workgroup (the iteration is sequential; keeping x in place and looping inside the kernel
// avoids a dispatch per step). Step k takes block philox((k, 3, 0, SKETCH_STREAM), key).x mod
// blocks, as wgopt_reference::sketch::project::BlockPlan::run:
//   r_τ = A_τ x − b_τ   (8 threads per row, a partial sum each, eight loads in flight)
//   y = L⁻ᵀ L⁻¹ r_τ     (two triangular mat-vecs with the stored L⁻¹, a row per thread)
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
var<workgroup> fac: array<f32, 1024>;
var<workgroup> z: array<f32, 32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let q = params.q;
    let n = params.n;
    for (var s = 0u; s < params.steps; s++) {
        let t = philox4x32_10(vec4<u32>(params.first_step + s, 3u, 0u, SKETCH_STREAM), params.key).x % params.blocks;
        let lo = t * q;
        let qb = min(q, params.m - lo);
        let row = lid / LANES;
        // Eight independent loads per trip: one workgroup alone on a GPU is bound by memory
        // latency, not bandwidth, and a loop that waits on each load before the next ran at
        // ~60 µs a step for q = 32, n = 1024 on an H100.
        var p = vec4<f32>(0.0);
        if (row < qb) {
            let base = (lo + row) * n;
            var j = lid % LANES;
            while (j + 7u * LANES < n) {
                p += vec4<f32>(a[base + j], a[base + j + LANES], a[base + j + 2u * LANES],
                               a[base + j + 3u * LANES])
                   * vec4<f32>(x[j], x[j + LANES], x[j + 2u * LANES], x[j + 3u * LANES]);
                let k = j + 4u * LANES;
                p += vec4<f32>(a[base + k], a[base + k + LANES], a[base + k + 2u * LANES],
                               a[base + k + 3u * LANES])
                   * vec4<f32>(x[k], x[k + LANES], x[k + 2u * LANES], x[k + 3u * LANES]);
                j += 8u * LANES;
            }
            while (j < n) {
                p.x += a[base + j] * x[j];
                j += LANES;
            }
        }
        red[lid] = (p.x + p.y) + (p.z + p.w);
        // The block's inverse factor L⁻¹ into workgroup memory, then y = L⁻ᵀ(L⁻¹ r) as two
        // triangular matrix-vector products, a row per thread. Two triangular solves by one
        // thread reading the factor from global memory were a dependent chain of q² loads:
        // ~140 µs of a step on an H100.
        let f = t * q * q;
        for (var e = lid; e < q * q; e += WG) {
            fac[e] = factors[f + e];
        }
        workgroupBarrier();
        if (lid < qb) {
            var v = -b[lo + lid];
            for (var l = 0u; l < LANES; l++) {
                v += red[lid * LANES + l];
            }
            y[lid] = v;
        }
        workgroupBarrier();
        if (lid < qb) {
            var v = 0.0;
            for (var k = 0u; k <= lid; k++) {
                v += fac[lid * q + k] * y[k];
            }
            z[lid] = v;
        }
        workgroupBarrier();
        if (lid < qb) {
            var v = 0.0;
            for (var k = lid; k < qb; k++) {
                v += fac[k * q + lid] * z[k];
            }
            y[lid] = v;
        }
        workgroupBarrier();
        if (NEWTON == 1u) {
            if (lid < qb) {
                x[lo + lid] -= y[lid];
            }
        } else {
            for (var j = lid; j < n; j += WG) {
                var acc = vec4<f32>(0.0);
                var i = 0u;
                while (i + 8u <= qb) {
                    let r = (lo + i) * n + j;
                    acc += vec4<f32>(a[r], a[r + n], a[r + 2u * n], a[r + 3u * n])
                         * vec4<f32>(y[i], y[i + 1u], y[i + 2u], y[i + 3u]);
                    acc += vec4<f32>(a[r + 4u * n], a[r + 5u * n], a[r + 6u * n], a[r + 7u * n])
                         * vec4<f32>(y[i + 4u], y[i + 5u], y[i + 6u], y[i + 7u]);
                    i += 8u;
                }
                while (i < qb) {
                    acc.x += a[(lo + i) * n + j] * y[i];
                    i++;
                }
                x[j] -= (acc.x + acc.y) + (acc.z + acc.w);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
}
