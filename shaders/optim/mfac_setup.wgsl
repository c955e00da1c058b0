// M-FAC 3/4, one workgroup: updates row/column `newest` of the Gram matrix GGᵀ from the dot
// partials, runs the Sherman–Morrison recursion (B lower-triangular with B[i,i] = 1/λ,
// D[i,j] = (B·GGᵀ)[i,j] for j ≥ i, den_i = m + D[i,i]) in f32, and from q = GGᵀ[:, newest]
// (= G·g) the coefficients w = Bᵀ·c, c_i = (B·q)_i / den_i, so that F⁻¹g = g/λ − Σ_k w_k g_k.
// `small` holds [GG (m²), B (m²), D (m²), den (m), c (m), w (m)].

const SETUP_WG: u32 = 256u;

@group(0) @binding(0) var<uniform> params: MfacParams;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> small: array<f32>;

@compute @workgroup_size(SETUP_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    if (stats.found_inf != 0u) {
        return;
    }
    let m = params.m;
    let mm = m * m;
    let gg = 0u;
    let bb = mm;
    let dd = 2u * mm;
    let den = 3u * mm;
    let cc = den + m;
    let ww = cc + m;
    let newest = mfac_row(params);
    for (var i = lid; i < m; i += SETUP_WG) {
        var s = 0.0;
        for (var t = 0u; t < params.tiles; t += 1u) {
            s += partials[i * params.tiles + t];
        }
        small[gg + i * m + newest] = s;
        small[gg + newest * m + i] = s;
    }
    storageBarrier();
    for (var i = 0u; i < m; i += 1u) {
        // Row i of B from the rows before it.
        for (var c = lid; c <= i; c += SETUP_WG) {
            var acc = select(0.0, params.inv_damp, c == i);
            for (var k = c; k < i; k += 1u) {
                acc -= small[dd + k * m + i] / small[den + k] * small[bb + k * m + c];
            }
            small[bb + i * m + c] = acc;
        }
        storageBarrier();
        // Row i of D (j ≥ i).
        for (var j = i + lid; j < m; j += SETUP_WG) {
            var acc = 0.0;
            for (var k = 0u; k <= i; k += 1u) {
                acc += small[bb + i * m + k] * small[gg + k * m + j];
            }
            small[dd + i * m + j] = acc;
        }
        storageBarrier();
        if (lid == 0u) {
            small[den + i] = f32(m) + small[dd + i * m + i];
        }
        storageBarrier();
    }
    for (var i = lid; i < m; i += SETUP_WG) {
        var acc = 0.0;
        for (var k = 0u; k <= i; k += 1u) {
            acc += small[bb + i * m + k] * small[gg + k * m + newest];
        }
        small[cc + i] = acc / small[den + i];
    }
    storageBarrier();
    for (var k = lid; k < m; k += SETUP_WG) {
        var acc = 0.0;
        for (var i = k; i < m; i += 1u) {
            acc += small[bb + i * m + k] * small[cc + i];
        }
        small[ww + k] = acc;
    }
}
