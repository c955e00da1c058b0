//! FRUGAL's SVD projector (GaLore-like, upstream `proj_type='svd'`, `proj_side='std'`): every
//! `update_gap` steps the top-r singular subspace of the current gradient G (rows×cols) becomes
//! the state-full subspace. With d = min(rows, cols), r = round(d·ρ) and an orthonormal basis
//! W (d×r) of that subspace:
//! - rows ≥ cols (right projector, upstream `B = Vh[:r]`): P(G) = G·W (rows×r),
//!   P⁻¹(L) = L·Wᵀ;
//! - rows < cols (left projector, upstream `A = U[:, :r]`): P(G) = Wᵀ·G (r×cols),
//!   P⁻¹(L) = W·L.
//!
//! AdamW state lives only in the low-dimensional coordinates (r·max(rows, cols) floats per
//! field instead of rows·cols); the residual G − P⁻¹(P(G)) takes the state-free rule.
//!
//! **The basis.** Upstream takes an exact f32 SVD of G. wgopt computes it the way the GPU can:
//! a randomized subspace iteration on C = HᵀH (H = G, or Gᵀ for the left projector; d×d) with
//! k = min(r + [`SVD_OVERSAMPLE`], d) Gaussian probes Ω (Philox stream [`SVD_STREAM`], per
//! slot and period): Z = C²·Ω (four skinny products with G), Q = orth(Z) on the host
//! ([`orthonormalize`], faer's QR), B = H·Q (a fifth product), and Rayleigh–Ritz on the host
//! ([`basis_from_image`]: W = Q·E, E the top-r eigenvectors of BᵀB). Both host steps are
//! small (d×k and k×k) and shared by both faces. A Rayleigh–Ritz from the sketch alone
//! (through Z's Gram) saves the fifth product but amplifies the sketch's f32 rounding by the
//! inverse of its smallest kept singular value (measured: 4e-3 relative parameter error after
//! one step); this form does not. Adam is equivariant to flipping or permuting coordinates, so
//! only the vectors up to sign matter; [`basis_from_image`] fixes the sign anyway (largest
//! entry positive). The test
//! `randomized_basis_spans_the_top_singular_subspace` checks it against faer's exact SVD.

use super::{FrugalConfig, FrugalState, InactiveRule};
use crate::random::{fill, Distribution, StreamId};
use crate::RefError;
use faer::{Mat, Side};

/// Philox counter word 3 of the sketch's Gaussian probes ("FRSV").
pub const SVD_STREAM: u32 = 0x4652_5356;
/// Probes beyond the rank r (Halko, Martinsson and Tropp's p; 10 is their usual choice).
pub const SVD_OVERSAMPLE: usize = 10;

/// The sizes of one 2-D weight under the SVD projector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvdShape {
    pub rows: usize,
    pub cols: usize,
    /// min(rows, cols): the side the basis lives on.
    pub d: usize,
    /// max(rows, cols).
    pub other: usize,
    /// Rank r = round(d·ρ) (ties to even, as Python's `round`).
    pub r: usize,
    /// Probes k = min(r + oversample, d).
    pub k: usize,
    /// rows ≥ cols: P(G) = G·W; else P(G) = Wᵀ·G.
    pub right: bool,
}

impl SvdShape {
    pub fn new(cfg: &FrugalConfig, shape: &[usize]) -> SvdShape {
        let (rows, cols) = (shape[0], shape[1]);
        let d = rows.min(cols);
        let r = ((d as f64 * cfg.density).round_ties_even() as usize).min(d);
        SvdShape {
            rows,
            cols,
            d,
            other: rows.max(cols),
            r,
            k: (r + SVD_OVERSAMPLE).min(d),
            right: rows >= cols,
        }
    }

    /// Length of the low-dimensional gradient and of each state field: max(rows, cols)·r.
    pub fn low_len(&self) -> usize {
        self.other * self.r
    }
}

/// op(A)·B with f64 accumulation, rounded to f32 (as a GEMM's f32 output): A is `a_rows`×
/// `a_cols` row-major, op(A) its transpose when `trans_a`; B is row-major with `b_cols` columns.
fn product(
    a: &[f32],
    a_rows: usize,
    a_cols: usize,
    trans_a: bool,
    b: &[f32],
    b_cols: usize,
) -> Vec<f32> {
    let (m, inner) = if trans_a {
        (a_cols, a_rows)
    } else {
        (a_rows, a_cols)
    };
    let at = |i: usize, l: usize| -> f64 {
        if trans_a {
            a[l * a_cols + i] as f64
        } else {
            a[i * a_cols + l] as f64
        }
    };
    let mut out = vec![0f32; m * b_cols];
    for i in 0..m {
        for j in 0..b_cols {
            let s: f64 = (0..inner)
                .map(|l| at(i, l) * b[l * b_cols + j] as f64)
                .sum();
            out[i * b_cols + j] = s as f32;
        }
    }
    out
}

/// The probes Ω (d×k, row-major) of slot `slot` in period `period`.
pub fn probes(seed: u64, slot: u32, period: u32, s: &SvdShape) -> Vec<f32> {
    let mut omega = vec![0f32; s.d * s.k];
    let id = StreamId {
        seed,
        slot,
        draw: period,
        stream: SVD_STREAM,
    };
    fill(Distribution::Gaussian, id, &mut omega);
    omega
}

/// H·X (max(rows, cols)×k): G·X for the right projector, Gᵀ·X for the left.
pub fn image(g: &[f32], s: &SvdShape, x: &[f32]) -> Vec<f32> {
    product(g, s.rows, s.cols, !s.right, x, s.k)
}

/// Hᵀ·Y (d×k).
fn coimage(g: &[f32], s: &SvdShape, y: &[f32]) -> Vec<f32> {
    product(g, s.rows, s.cols, s.right, y, s.k)
}

/// Z = C²·Ω with C = HᵀH, as the GPU computes it (each product rounded to f32):
/// Y = H·Ω, Z₁ = Hᵀ·Y, Y = H·Z₁, Z = Hᵀ·Y.
pub fn sketch(g: &[f32], s: &SvdShape, omega: &[f32]) -> Vec<f32> {
    let z1 = coimage(g, s, &image(g, s, omega));
    coimage(g, s, &image(g, s, &z1))
}

fn mat(x: &[f32], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| x[i * cols + j] as f64)
}

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// An orthonormal basis Q (d×k, f32) of span(Z) by faer's Householder QR: the probes of the
/// second pass. `None` when Z is not finite.
pub fn orthonormalize(z: &[f32], d: usize, k: usize) -> Option<Vec<f32>> {
    if !finite(z) {
        return None;
    }
    let q = mat(z, d, k).qr().compute_thin_Q();
    Some((0..d * k).map(|x| q[(x / k, x % k)] as f32).collect())
}

/// The basis W (d×r, row-major, orthonormal columns, largest singular direction first) from
/// the probes Q and their image B = H·Q (max(rows, cols)×k): Rayleigh–Ritz, W = Q·E with E
/// the top-r eigenvectors of BᵀB (in f64; B is read back in f32, so the directions come out
/// as accurate as the f32 products allow, with no amplification). `None` when B is not
/// finite.
pub fn basis_from_image(q: &[f32], b: &[f32], s: &SvdShape) -> Option<Vec<f32>> {
    let (d, k, r) = (s.d, s.k, s.r);
    if !finite(b) {
        return None;
    }
    let bm = mat(b, s.other, k);
    let gram = bm.transpose() * &bm;
    let eig = gram.self_adjoint_eigen(Side::Lower).ok()?;
    let x = mat(q, d, k) * eig.U();
    let mut w = vec![0f32; d * r];
    for c in 0..r {
        // Eigenvalues come in nondecreasing order: the largest is the last.
        let col: Vec<f64> = (0..d).map(|i| x[(i, k - 1 - c)]).collect();
        let lead = col
            .iter()
            .fold(0.0f64, |a, &v| if v.abs() > a.abs() { v } else { a });
        let sign = if lead < 0.0 { -1.0 } else { 1.0 };
        for (i, v) in col.iter().enumerate() {
            w[i * r + c] = (sign * v) as f32;
        }
    }
    Some(w)
}

/// The basis of one refresh, as both faces compute it: sketch, orthonormalize (host), image
/// (a fifth product), Rayleigh–Ritz (host). `None` when a stage is not finite.
pub fn basis(g: &[f32], s: &SvdShape, omega: &[f32]) -> Option<Vec<f32>> {
    let q = orthonormalize(&sketch(g, s, omega), s.d, s.k)?;
    basis_from_image(&q, &image(g, s, &q), s)
}

/// P(G): G·W (rows×r) or Wᵀ·G (r×cols).
pub fn project(g: &[f32], s: &SvdShape, w: &[f32]) -> Vec<f32> {
    if s.right {
        product(g, s.rows, s.cols, false, w, s.r)
    } else {
        product(w, s.d, s.r, true, g, s.cols)
    }
}

/// P⁻¹(L): L·Wᵀ or W·L (rows×cols).
pub fn lift(low: &[f32], s: &SvdShape, w: &[f32]) -> Vec<f32> {
    if s.right {
        let wt: Vec<f32> = (0..s.r * s.d)
            .map(|x| w[(x % s.d) * s.r + x / s.d])
            .collect();
        product(low, s.rows, s.r, false, &wt, s.d)
    } else {
        product(w, s.d, s.r, false, low, s.cols)
    }
}

/// One FRUGAL step on a 2-D weight with the SVD projector (`st.exp_avg`/`exp_avg_sq` have
/// [`SvdShape::low_len`] entries; `st.basis` d·r).
#[allow(clippy::too_many_arguments)]
pub fn step(
    cfg: &FrugalConfig,
    lr: f64,
    slot: u32,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut FrugalState,
) -> Result<(), RefError> {
    let s = SvdShape::new(cfg, shape);
    crate::check_len("exp_avg", s.low_len(), st.exp_avg.len())?;
    crate::check_len("exp_avg_sq", s.low_len(), st.exp_avg_sq.len())?;
    st.step += 1;
    let gap = cfg.update_gap as u64;
    let since = (st.step - 1) % gap;
    if since == 0 {
        let period = ((st.step - 1) / gap) as u32;
        if let Some(w) = basis(g, &s, &probes(cfg.seed, slot, period, &s)) {
            st.basis = w;
        }
        st.basis.resize(s.d * s.r, 0.0);
        st.exp_avg.fill(0.0);
        st.exp_avg_sq.fill(0.0);
    }
    let local = (since + 1) as i32;
    let (beta1, beta2) = cfg.betas;
    let scaled = lr * cfg.proj_params_lr_scale;
    let step_size = (scaled / (1.0 - beta1.powi(local))) as f32;
    let bc2_sqrt = (1.0 - beta2.powi(local)).sqrt() as f32;
    let (b1, c1, b2, c2) = (
        beta1 as f32,
        (1.0 - beta1) as f32,
        beta2 as f32,
        (1.0 - beta2) as f32,
    );
    let low = project(g, &s, &st.basis);
    let mut update = vec![0f32; low.len()];
    for (i, &gl) in low.iter().enumerate() {
        let m = st.exp_avg[i] * b1 + c1 * gl;
        let v = st.exp_avg_sq[i] * b2 + c2 * (gl * gl);
        st.exp_avg[i] = m;
        st.exp_avg_sq[i] = v;
        update[i] = step_size * (m / (v.sqrt() / bc2_sqrt + cfg.eps as f32));
    }
    let (back, delta) = (lift(&low, &s, &st.basis), lift(&update, &s, &st.basis));
    let inactive = (scaled * cfg.inactive_lr_scale) as f32;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    for i in 0..p.len() {
        let residual = g[i] - back[i];
        let mut x = p[i] * decay - delta[i];
        match cfg.inactive_update_rule {
            InactiveRule::SignSgd => x -= inactive * crate::optim::lion::sign(residual),
            InactiveRule::Sgd => x -= inactive * residual,
            InactiveRule::No => {}
        }
        p[i] = x;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::polar::singular_values;

    /// G = U·diag(σ)·Vᵀ with σ_i = 0.7^i, random orthonormal U, V (from faer's QR).
    fn decaying(rows: usize, cols: usize) -> Vec<f32> {
        let d = rows.min(cols);
        let mut a = vec![0f32; rows * d];
        let mut b = vec![0f32; cols * d];
        let id = |stream| StreamId {
            seed: 5,
            slot: 0,
            draw: 0,
            stream,
        };
        fill(Distribution::Gaussian, id(1), &mut a);
        fill(Distribution::Gaussian, id(2), &mut b);
        let u = mat(&a, rows, d).qr().compute_thin_Q();
        let v = mat(&b, cols, d).qr().compute_thin_Q();
        let sigma = Mat::from_fn(
            d,
            d,
            |i, j| if i == j { 0.7f64.powi(i as i32) } else { 0.0 },
        );
        let g = &u * &sigma * v.transpose();
        (0..rows * cols)
            .map(|x| g[(x / cols, x % cols)] as f32)
            .collect()
    }

    #[test]
    fn randomized_basis_spans_the_top_singular_subspace() {
        for (rows, cols) in [(60, 40), (30, 70)] {
            let g = decaying(rows, cols);
            let cfg = FrugalConfig {
                density: 0.25,
                ..FrugalConfig::default()
            };
            let s = SvdShape::new(&cfg, &[rows, cols]);
            let w = basis(&g, &s, &probes(1, 3, 0, &s)).unwrap();
            // ‖P(G)‖² captures Σ_{i<r} σ_i² exactly when W spans the top-r subspace.
            let captured: f64 = project(&g, &s, &w)
                .iter()
                .map(|&x| (x as f64).powi(2))
                .sum();
            let gm = ndarray::Array2::from_shape_fn((rows, cols), |(i, j)| g[i * cols + j] as f64);
            let sv = singular_values(gm.view()).unwrap();
            let best: f64 = sv[..s.r].iter().map(|x| x * x).sum();
            assert!(
                (captured - best).abs() < 1e-5 * best,
                "{rows}×{cols}: {captured} vs {best}"
            );
            for a in 0..s.r {
                for b in 0..s.r {
                    let dot: f64 = (0..s.d)
                        .map(|i| w[i * s.r + a] as f64 * w[i * s.r + b] as f64)
                        .sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5, "WᵀW[{a},{b}] = {dot}");
                }
            }
        }
    }

    #[test]
    fn low_rank_gradients_leave_no_residual_and_bad_sketches_none() {
        let (rows, cols) = (24, 16);
        let g: Vec<f32> = (0..rows * cols)
            .map(|x| ((x / cols) as f32 + 1.0) * ((x % cols) as f32 - 7.5))
            .collect();
        let cfg = FrugalConfig {
            density: 0.5,
            ..FrugalConfig::default()
        };
        let s = SvdShape::new(&cfg, &[rows, cols]);
        let w = basis(&g, &s, &probes(0, 0, 0, &s)).unwrap();
        // The rank-1 gradient lies in the subspace: the residual vanishes.
        let back = lift(&project(&g, &s, &w), &s, &w);
        assert!(g
            .iter()
            .zip(&back)
            .all(|(a, b)| (a - b).abs() < 1e-3 * a.abs().max(1.0)));
        let mut bad = g.clone();
        bad[3] = f32::NAN;
        assert!(basis(&bad, &s, &probes(0, 0, 0, &s)).is_none());
    }
}
