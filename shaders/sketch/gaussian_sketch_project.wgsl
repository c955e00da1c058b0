// One step of Gaussian sketch-and-project for a consistent system A x = b, after
// sketch_gaussian has written [S·A | S·b] (q × (n + 1), S drawn fresh for the step) into `sab`
// (wgopt_reference::sketch::project::gaussian_sketch_project; the 1/√q scale cancels):
//   t = (S·A)·x − S·b            (8 invocations per row, a partial sum each)
//   G = (S·A)(S·A)ᵀ + δI, δ = ridge_rel·tr(G)/q   (the lower triangle, one dot per entry)
//   y = G⁻¹ t                    (Cholesky by one invocation, q ≤ 32)
//   x ← x − (S·A)ᵀ y             (invocations over columns).
// A non-positive pivot clears status[0] (the host reports it).

const WG: u32 = 256u;
const LANES: u32 = 8u;
const QMAX: u32 = 32u;

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read> sab: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> status: array<u32>;

var<workgroup> red: array<f32, WG>;
var<workgroup> mat: array<f32, 1024>;
var<workgroup> y: array<f32, QMAX>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    let q = params.rows;
    let w = params.cols;
    let n = w - 1u;
    let row = lid / LANES;
    var partial = 0.0;
    if (row < q) {
        for (var j = lid % LANES; j < n; j += LANES) {
            partial += sab[row * w + j] * x[j];
        }
    }
    red[lid] = partial;
    for (var e = lid; e < q * q; e += WG) {
        let i = e / q;
        let k = e % q;
        var v = 0.0;
        if (k <= i) {
            for (var j = 0u; j < n; j++) {
                v += sab[i * w + j] * sab[k * w + j];
            }
        }
        mat[i * QMAX + k] = v;
    }
    workgroupBarrier();
    if (lid == 0u) {
        var trace = 0.0;
        for (var i = 0u; i < q; i++) {
            trace += mat[i * QMAX + i];
        }
        let ridge = params.ridge_rel * trace / f32(q);
        for (var j = 0u; j < q; j++) {
            var d = mat[j * QMAX + j] + ridge;
            for (var k = 0u; k < j; k++) {
                d -= mat[j * QMAX + k] * mat[j * QMAX + k];
            }
            if (!(d > 0.0)) {
                status[0] = 0u;
                d = 1.0;
            }
            let djj = sqrt(d);
            mat[j * QMAX + j] = djj;
            for (var i = j + 1u; i < q; i++) {
                var v = mat[i * QMAX + j];
                for (var k = 0u; k < j; k++) {
                    v -= mat[i * QMAX + k] * mat[j * QMAX + k];
                }
                mat[i * QMAX + j] = v / djj;
            }
        }
        for (var i = 0u; i < q; i++) {
            var v = -sab[i * w + n];
            for (var l = 0u; l < LANES; l++) {
                v += red[i * LANES + l];
            }
            for (var k = 0u; k < i; k++) {
                v -= mat[i * QMAX + k] * y[k];
            }
            y[i] = v / mat[i * QMAX + i];
        }
        for (var ii = q; ii > 0u; ii--) {
            let i = ii - 1u;
            var v = y[i];
            for (var k = i + 1u; k < q; k++) {
                v -= mat[k * QMAX + i] * y[k];
            }
            y[i] = v / mat[i * QMAX + i];
        }
    }
    workgroupBarrier();
    for (var j = lid; j < n; j += WG) {
        var acc = 0.0;
        for (var i = 0u; i < q; i++) {
            acc += sab[i * w + j] * y[i];
        }
        x[j] -= acc;
    }
}
