// Setup of block Kaczmarz / block Newton, one workgroup per block: the block's q×q matrix
// (Gram A_τ A_τᵀ + δI, or A_ττ) into workgroup memory, then its Cholesky factor by the
// row-by-row recurrence (one thread; q ≤ 32, so ≤ 5.5k multiply-adds) — the order of
// wgopt_reference::sketch::project::cholesky_ridge — and last the factor's inverse L⁻¹, one
// column per thread (lower_inverse there), which is what block_project applies. A
// non-positive pivot sets status[t] = 0.

@group(0) @binding(0) var<uniform> params: BlockParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> factors: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<u32>;

var<workgroup> mat: array<f32, 1024>;
var<workgroup> inv: array<f32, 1024>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= params.blocks) {
        return;
    }
    let q = params.q;
    let n = params.n;
    let lo = t * q;
    let qb = min(q, params.m - lo);
    for (var e = lid; e < qb * qb; e += 256u) {
        let i = e / qb;
        let k = e % qb;
        var v = 0.0;
        if (k <= i) {
            if (NEWTON == 1u) {
                v = a[(lo + i) * n + lo + k];
            } else {
                for (var j = 0u; j < n; j++) {
                    v += a[(lo + i) * n + j] * a[(lo + k) * n + j];
                }
            }
        }
        mat[i * QMAX + k] = v;
    }
    workgroupBarrier();
    if (lid == 0u) {
        var trace = 0.0;
        for (var i = 0u; i < qb; i++) {
            trace += mat[i * QMAX + i];
        }
        let ridge = params.ridge_rel * trace / f32(qb);
        var ok = 1u;
        for (var j = 0u; j < qb; j++) {
            var d = mat[j * QMAX + j] + ridge;
            for (var k = 0u; k < j; k++) {
                d -= mat[j * QMAX + k] * mat[j * QMAX + k];
            }
            if (!(d > 0.0)) {
                ok = 0u;
                d = 1.0;
            }
            let djj = sqrt(d);
            mat[j * QMAX + j] = djj;
            for (var i = j + 1u; i < qb; i++) {
                var v = mat[i * QMAX + j];
                for (var k = 0u; k < j; k++) {
                    v -= mat[i * QMAX + k] * mat[j * QMAX + k];
                }
                mat[i * QMAX + j] = v / djj;
            }
        }
        status[t] = ok;
    }
    workgroupBarrier();
    // Column j of L⁻¹ by forward substitution on e_j (entries above the diagonal stay 0).
    if (lid < qb) {
        let j = lid;
        for (var i = 0u; i < QMAX; i++) {
            inv[i * QMAX + j] = 0.0;
        }
        for (var i = j; i < qb; i++) {
            var v = select(0.0, 1.0, i == j);
            for (var k = j; k < i; k++) {
                v -= mat[i * QMAX + k] * inv[k * QMAX + j];
            }
            inv[i * QMAX + j] = v / mat[i * QMAX + i];
        }
    }
    workgroupBarrier();
    for (var e = lid; e < q * q; e += 256u) {
        let i = e / q;
        let k = e % q;
        var v = 0.0;
        if (i < qb && k <= i) {
            v = inv[i * QMAX + k];
        }
        factors[t * q * q + e] = v;
    }
}
