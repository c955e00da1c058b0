//! Sketch-and-project (Gower & Richtárik 2015) for consistent `A x = b`:
//!
//! - [`block_kaczmarz`]: geometry `B = I`, `S` = the rows of a block `τ` of a fixed partition
//!   into blocks of `q` consecutive rows, blocks drawn uniformly with replacement. Each
//!   block's `A_τ A_τᵀ + δI` is factored once (Cholesky), so a step costs two passes over `q`
//!   rows: `r_τ = A_τ x − b_τ`, `y = (A_τ A_τᵀ)⁻¹ r_τ`, `x ← x − A_τᵀ y`.
//! - [`block_newton`]: for SPD `A`, geometry `B = A` and `S` = coordinate blocks (randomised
//!   Newton / block coordinate descent): `x_τ ← x_τ − A_ττ⁻¹ (A_τ x − b_τ)`.
//! - [`gaussian_sketch_project`]: geometry `I`, a fresh Gaussian `S ∈ R^{m×q}` per step:
//!   `x ← x − Aᵀ S (Sᵀ A Aᵀ S)⁻¹ Sᵀ (A x − b)`.
//!
//! The expected error contracts by `ρ = 1 − λ_min(E[Z])` per step ([`kaczmarz_rate`],
//! [`newton_rate`]). Block draws use Philox: step `k` takes block
//! `philox([k, 3, 0, SKETCH_STREAM], key(seed))[0] mod #blocks`, the same on the GPU.

use super::dense::{cholesky, dot, matvec, norm, rmatvec, sym_eigenvalues};
use super::{SolveError, SKETCH_STREAM};
use crate::random::{self, Distribution, StreamId};
use ndarray::{s, Array2, ArrayView2};

/// Stopping rule and budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IterOptions {
    /// Stop when `‖A x − b‖ ≤ tol · ‖b‖`.
    pub tol: f64,
    pub max_steps: usize,
    /// Steps between residual checks (0: one check per pass over all rows).
    pub check_every: usize,
    pub seed: u64,
}

impl Default for IterOptions {
    fn default() -> Self {
        IterOptions {
            tol: 1e-8,
            max_steps: 1_000_000,
            check_every: 0,
            seed: 0,
        }
    }
}

/// A solve's answer and how it got there.
#[derive(Debug, Clone, PartialEq)]
pub struct IterSolution {
    pub x: Vec<f64>,
    pub steps: usize,
    /// Relative residual at the end.
    pub residual: f64,
    /// (step, relative residual) at every check.
    pub history: Vec<(usize, f64)>,
}

/// Contiguous blocks of `q` indices out of `m` (the last may be shorter).
pub fn blocks(m: usize, q: usize) -> Vec<(usize, usize)> {
    (0..m.div_ceil(q.max(1)))
        .map(|i| (i * q, ((i + 1) * q).min(m)))
        .collect()
}

/// The block step `k` draws.
pub fn block_of_step(seed: u64, k: usize, nblocks: usize) -> usize {
    let w = random::philox4x32_10([k as u32, 3, 0, SKETCH_STREAM], random::key(seed));
    w[0] as usize % nblocks
}

/// Relative ridge of the reference's Kaczmarz block factors: `δ = 1e-12 · tr/q` keeps
/// rank-deficient blocks (repeated rows) factorable and acts as the pseudo-inverse on their
/// range.
pub const REFERENCE_RIDGE: f64 = 1e-12;

/// `ridge_rel · tr(G)/q` for a block Gram matrix `G`.
pub fn block_ridge(gram: ArrayView2<'_, f64>, ridge_rel: f64) -> f64 {
    ridge_rel * gram.diag().sum() / gram.nrows().max(1) as f64
}

/// Lower Cholesky factor of `M + δI` by the textbook row-by-row recurrence: the twin of the
/// GPU's one-workgroup factorisation (same order of operations).
pub fn cholesky_ridge(mat: ArrayView2<'_, f64>, ridge: f64) -> Result<Array2<f64>, SolveError> {
    let q = mat.nrows();
    let mut l = Array2::<f64>::zeros((q, q));
    for j in 0..q {
        let mut d = mat[[j, j]] + ridge;
        for k in 0..j {
            d -= l[[j, k]] * l[[j, k]];
        }
        if d.is_nan() || d <= 0.0 {
            return Err(SolveError::NotSpd(format!("pivot {j} is {d:e}")));
        }
        let djj = d.sqrt();
        l[[j, j]] = djj;
        for i in j + 1..q {
            let mut v = mat[[i, j]];
            for k in 0..j {
                v -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = v / djj;
        }
    }
    Ok(l)
}

/// `L⁻¹` of a lower-triangular `L`, column by column (column j by forward substitution on
/// e_j, terms in increasing k): the twin of shaders/sketch/block_factor.wgsl, where thread j
/// makes column j.
pub fn lower_inverse(l: ArrayView2<'_, f64>) -> Array2<f64> {
    let q = l.nrows();
    let mut inv = Array2::<f64>::zeros((q, q));
    for j in 0..q {
        for i in j..q {
            let mut v = if i == j { 1.0 } else { 0.0 };
            for k in j..i {
                v -= l[[i, k]] * inv[[k, j]];
            }
            inv[[i, j]] = v / l[[i, i]];
        }
    }
    inv
}

/// `r ← L⁻ᵀ L⁻¹ r = (L Lᵀ)⁻¹ r` from `L⁻¹`: `z_i = Σ_{k≤i} L⁻¹_ik r_k`, then
/// `y_i = Σ_{k≥i} L⁻¹_ki z_k` (terms in increasing k, as in block_project.wgsl).
pub fn apply_inverse_factor(linv: ArrayView2<'_, f64>, r: &mut [f64]) {
    let q = r.len();
    let z: Vec<f64> = (0..q)
        .map(|i| (0..=i).map(|k| linv[[i, k]] * r[k]).sum())
        .collect();
    for (i, ri) in r.iter_mut().enumerate() {
        *ri = (i..q).map(|k| linv[[k, i]] * z[k]).sum();
    }
}

/// Solves `L Lᵀ y = r` in place.
pub fn cholesky_solve(l: ArrayView2<'_, f64>, r: &mut [f64]) {
    let q = r.len();
    for i in 0..q {
        let mut v = r[i];
        for k in 0..i {
            v -= l[[i, k]] * r[k];
        }
        r[i] = v / l[[i, i]];
    }
    for i in (0..q).rev() {
        let mut v = r[i];
        for k in i + 1..q {
            v -= l[[k, i]] * r[k];
        }
        r[i] = v / l[[i, i]];
    }
}

fn check_system(a: ArrayView2<'_, f64>, b: &[f64], q: usize) -> Result<(), SolveError> {
    if a.nrows() != b.len() {
        return Err(SolveError::Dimension(format!(
            "A has {} rows, b has {}",
            a.nrows(),
            b.len()
        )));
    }
    if q == 0 || a.nrows() == 0 || a.ncols() == 0 {
        return Err(SolveError::Invalid("empty system or block size 0".into()));
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return Err(SolveError::NonFinite("A or b".into()));
    }
    Ok(())
}

fn relative_residual(a: ArrayView2<'_, f64>, x: &[f64], b: &[f64]) -> f64 {
    let ax = matvec(a, x);
    let r: Vec<f64> = ax.iter().zip(b).map(|(p, q)| p - q).collect();
    norm(&r) / norm(b).max(f64::MIN_POSITIVE)
}

/// Every block's Cholesky factor of `A_τ A_τᵀ + δI` (row blocks) — the setup both the
/// reference and the GPU solver do once.
pub fn kaczmarz_factors(
    a: ArrayView2<'_, f64>,
    q: usize,
    ridge_rel: f64,
) -> Result<Vec<Array2<f64>>, SolveError> {
    blocks(a.nrows(), q)
        .into_iter()
        .map(|(lo, hi)| {
            let at = a.slice(s![lo..hi, ..]);
            let g = at.dot(&at.t());
            cholesky_ridge(g.view(), block_ridge(g.view(), ridge_rel))
        })
        .collect()
}

/// Runs `step` until the residual test passes or the budget ends.
fn iterate(
    a: ArrayView2<'_, f64>,
    b: &[f64],
    x: &mut [f64],
    opts: &IterOptions,
    per_pass: usize,
    mut step: impl FnMut(usize, &mut [f64]),
) -> Result<IterSolution, SolveError> {
    let check = if opts.check_every == 0 {
        per_pass.max(1)
    } else {
        opts.check_every
    };
    let mut history = vec![(0, relative_residual(a, x, b))];
    let mut k = 0;
    while k < opts.max_steps {
        if history.last().is_some_and(|h| h.1 <= opts.tol) {
            break;
        }
        for _ in 0..check.min(opts.max_steps - k) {
            step(k, x);
            k += 1;
        }
        let res = relative_residual(a, x, b);
        if !res.is_finite() {
            return Err(SolveError::NonFinite("the iterate".into()));
        }
        history.push((k, res));
    }
    let residual = history.last().map_or(f64::INFINITY, |h| h.1);
    if residual > opts.tol {
        return Err(SolveError::IterationCap {
            iterations: k,
            residual,
            tolerance: opts.tol,
        });
    }
    Ok(IterSolution {
        x: x.to_vec(),
        steps: k,
        residual,
        history,
    })
}

/// Block Kaczmarz or block Newton set up for one matrix: the partition and, for every block,
/// the inverse `L⁻¹` of the Cholesky factor of `A_τ A_τᵀ + δI` (Kaczmarz) or `A_ττ` (Newton),
/// computed once. A step then applies `(L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹` as two triangular matrix-vector
/// products, which run in parallel on a GPU where two triangular solves are a chain of q
/// dependent steps each (that chain was most of a step's time on an H100).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockPlan {
    pub parts: Vec<(usize, usize)>,
    /// `L⁻¹` per block (lower triangular).
    pub inverse_factors: Vec<Array2<f64>>,
    /// Newton (update `x_τ` only) rather than Kaczmarz (update `x` along `A_τᵀ`).
    pub newton: bool,
}

impl BlockPlan {
    pub fn kaczmarz(a: ArrayView2<'_, f64>, q: usize) -> Result<BlockPlan, SolveError> {
        Self::kaczmarz_with_ridge(a, q, REFERENCE_RIDGE)
    }

    /// Kaczmarz with ridge `δ = ridge_rel · tr/q` per block (the GPU solver's f32 ridge is
    /// 1e-6; parity tests use this).
    pub fn kaczmarz_with_ridge(
        a: ArrayView2<'_, f64>,
        q: usize,
        ridge_rel: f64,
    ) -> Result<BlockPlan, SolveError> {
        Ok(BlockPlan {
            parts: blocks(a.nrows(), q),
            inverse_factors: kaczmarz_factors(a, q, ridge_rel)?
                .iter()
                .map(|l| lower_inverse(l.view()))
                .collect(),
            newton: false,
        })
    }

    /// For SPD `A` (checked: square, symmetric, positive pivots).
    pub fn newton(a: ArrayView2<'_, f64>, q: usize) -> Result<BlockPlan, SolveError> {
        if a.nrows() != a.ncols() {
            return Err(SolveError::Dimension(format!(
                "SPD solver given a {}×{} matrix",
                a.nrows(),
                a.ncols()
            )));
        }
        let asym = a
            .iter()
            .zip(a.t().iter())
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        let scale = a.iter().map(|v| v.abs()).fold(0.0, f64::max);
        if asym > 1e-12 * scale.max(1.0) {
            return Err(SolveError::NotSpd(format!(
                "not symmetric (max |A − Aᵀ| = {asym:e})"
            )));
        }
        let parts = blocks(a.nrows(), q);
        let inverse_factors = parts
            .iter()
            .map(|&(lo, hi)| {
                cholesky_ridge(a.slice(s![lo..hi, lo..hi]), 0.0).map(|l| lower_inverse(l.view()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BlockPlan {
            parts,
            inverse_factors,
            newton: true,
        })
    }

    /// Steps `first .. first + steps` (block choices depend on the step number and seed only).
    pub fn run(
        &self,
        a: ArrayView2<'_, f64>,
        b: &[f64],
        x: &mut [f64],
        first: usize,
        steps: usize,
        seed: u64,
    ) {
        let nb = self.parts.len();
        for k in first..first + steps {
            let t = block_of_step(seed, k, nb);
            let (lo, hi) = self.parts[t];
            let mut r: Vec<f64> = (lo..hi)
                .map(|i| {
                    // Any view works: a strided (e.g. transposed) row takes the iterator path.
                    let row = a.row(i);
                    row.as_slice().map_or_else(
                        || row.iter().zip(x.iter()).map(|(p, q)| p * q).sum::<f64>(),
                        |r| dot(r, x),
                    ) - b[i]
                })
                .collect();
            apply_inverse_factor(self.inverse_factors[t].view(), &mut r);
            if self.newton {
                for (xi, y) in x[lo..hi].iter_mut().zip(&r) {
                    *xi -= y;
                }
            } else {
                for (i, &y) in (lo..hi).zip(&r) {
                    for (xj, &aij) in x.iter_mut().zip(a.row(i)) {
                        *xj -= y * aij;
                    }
                }
            }
        }
    }
}

/// Runs a block plan from `x0` (zeros if `None`) until the residual test passes.
fn solve_with_plan(
    a: ArrayView2<'_, f64>,
    b: &[f64],
    plan: &BlockPlan,
    x0: Option<&[f64]>,
    opts: &IterOptions,
) -> Result<IterSolution, SolveError> {
    let mut x = x0.map_or_else(|| vec![0.0; a.ncols()], <[f64]>::to_vec);
    iterate(a, b, &mut x, opts, plan.parts.len(), |k, x| {
        plan.run(a, b, x, k, 1, opts.seed)
    })
}

/// Randomised block Kaczmarz from `x0` (zeros if `None`).
pub fn block_kaczmarz(
    a: ArrayView2<'_, f64>,
    b: &[f64],
    q: usize,
    x0: Option<&[f64]>,
    opts: &IterOptions,
) -> Result<IterSolution, SolveError> {
    check_system(a, b, q)?;
    solve_with_plan(a, b, &BlockPlan::kaczmarz(a, q)?, x0, opts)
}

#[cfg(test)]
mod strided_views {
    use super::*;

    #[test]
    fn block_kaczmarz_accepts_a_transposed_view() {
        // A = Bᵀ for a row-major B: A's rows are strided. The answer must match the
        // row-major copy's exactly (same arithmetic, same order).
        let b_mat = ndarray::Array2::from_shape_fn((4, 6), |(i, j)| {
            ((i * 7 + j * 3) % 5) as f64 + f64::from(u8::from(i == j)) * 4.0
        });
        let a_view = b_mat.t();
        let owned = a_view.to_owned();
        let x_true = [1.0, -2.0, 0.5, 3.0];
        let rhs: Vec<f64> = (0..6)
            .map(|i| (0..4).map(|j| owned[[i, j]] * x_true[j]).sum())
            .collect();
        let opts = IterOptions {
            tol: 1e-10,
            max_steps: 20_000,
            check_every: 0,
            seed: 3,
        };
        let strided = block_kaczmarz(a_view, &rhs, 2, None, &opts).unwrap();
        let dense = block_kaczmarz(owned.view(), &rhs, 2, None, &opts).unwrap();
        assert_eq!(strided.x, dense.x);
        for (x, t) in strided.x.iter().zip(x_true) {
            assert!((x - t).abs() < 1e-8, "{x} vs {t}");
        }
    }
}

/// Randomised block Newton (block coordinate descent in the A-norm) for SPD `A`.
pub fn block_newton(
    a: ArrayView2<'_, f64>,
    b: &[f64],
    q: usize,
    x0: Option<&[f64]>,
    opts: &IterOptions,
) -> Result<IterSolution, SolveError> {
    check_system(a, b, q)?;
    solve_with_plan(a, b, &BlockPlan::newton(a, q)?, x0, opts)
}

/// Gaussian sketch-and-project with `q` sketch columns per step (draw `k` of the sketch
/// stream is step `k`'s `S`).
pub fn gaussian_sketch_project(
    a: ArrayView2<'_, f64>,
    b: &[f64],
    q: usize,
    x0: Option<&[f64]>,
    opts: &IterOptions,
) -> Result<IterSolution, SolveError> {
    check_system(a, b, q)?;
    let (m, n) = a.dim();
    let mut x = x0.map_or_else(|| vec![0.0; n], <[f64]>::to_vec);
    let per_pass = m.div_ceil(q);
    let mut fail = None;
    let out = iterate(a, b, &mut x, opts, per_pass, |k, x| {
        // Sᵀ A (q × n) and Sᵀ r (q).
        let mut sa = Array2::<f64>::zeros((q, n));
        let mut sr = vec![0.0; q];
        let ax = matvec(a, x);
        for (i, sri) in sr.iter_mut().enumerate() {
            let mut col = vec![0.0f32; m];
            random::fill(
                Distribution::Gaussian,
                StreamId {
                    seed: opts.seed,
                    slot: i as u32,
                    draw: k as u32,
                    stream: SKETCH_STREAM,
                },
                &mut col,
            );
            for (r, &g) in col.iter().enumerate() {
                let g = g as f64;
                sa.row_mut(i).scaled_add(g, &a.row(r));
                *sri += g * (ax[r] - b[r]);
            }
        }
        let g = sa.dot(&sa.t());
        match cholesky_ridge(g.view(), block_ridge(g.view(), REFERENCE_RIDGE)) {
            Ok(l) => {
                cholesky_solve(l.view(), &mut sr);
                let d = rmatvec(sa.view(), &sr);
                for (xj, dj) in x.iter_mut().zip(d) {
                    *xj -= dj;
                }
            }
            Err(e) => fail = Some(e),
        }
    });
    match fail {
        Some(e) => Err(e),
        None => out,
    }
}

/// `ρ = 1 − λ_min(E[Z])` of block Kaczmarz with uniform blocks: `E[Z]` is the mean of the
/// projections onto the blocks' row spaces. Meaningful for full-column-rank `A`.
pub fn kaczmarz_rate(a: ArrayView2<'_, f64>, q: usize) -> Result<f64, SolveError> {
    let n = a.ncols();
    let parts = blocks(a.nrows(), q);
    let mut ez = Array2::<f64>::zeros((n, n));
    for (&(lo, hi), l) in parts.iter().zip(kaczmarz_factors(a, q, REFERENCE_RIDGE)?) {
        let at = a.slice(s![lo..hi, ..]);
        // Z = A_τᵀ (A_τ A_τᵀ)⁻¹ A_τ, column by column of A_τ.
        let mut w = at.to_owned();
        for j in 0..n {
            let mut col: Vec<f64> = w.column(j).to_vec();
            cholesky_solve(l.view(), &mut col);
            w.column_mut(j).assign(&ndarray::Array1::from(col));
        }
        ez = ez + at.t().dot(&w);
    }
    ez /= parts.len() as f64;
    let lmin = sym_eigenvalues(ez.view())?[0];
    Ok(1.0 - lmin)
}

/// `ρ = 1 − λ_min(A^{1/2} E[I_C A_CC⁻¹ I_Cᵀ] A^{1/2})` of block Newton with uniform blocks,
/// computed as the eigenvalues of `Lᵀ M L` with `A = L Lᵀ` (the same spectrum).
pub fn newton_rate(a: ArrayView2<'_, f64>, q: usize) -> Result<f64, SolveError> {
    let n = a.nrows();
    let parts = blocks(n, q);
    let mut m = Array2::<f64>::zeros((n, n));
    for &(lo, hi) in &parts {
        let l = cholesky_ridge(a.slice(s![lo..hi, lo..hi]), 0.0)?;
        for j in 0..hi - lo {
            let mut e = vec![0.0; hi - lo];
            e[j] = 1.0;
            cholesky_solve(l.view(), &mut e);
            for (i, v) in e.iter().enumerate() {
                m[[lo + i, lo + j]] += v;
            }
        }
    }
    m /= parts.len() as f64;
    let l = cholesky(a)?;
    let sym = l.t().dot(&m).dot(&l);
    Ok(1.0 - sym_eigenvalues(sym.view())?[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `L⁻ᵀ L⁻¹ r` from the inverse factor equals the two triangular solves, on a 5×5 SPD
    /// matrix with κ ≈ 30: f64 rounding apart (1e-12 relative).
    #[test]
    fn inverse_factor_applies_the_same_solve() {
        let q = 5;
        let m = Array2::from_shape_fn((q, q), |(i, j)| {
            if i == j {
                4.0 + i as f64
            } else {
                1.0 / (1.0 + (i + j) as f64)
            }
        });
        let l = cholesky_ridge(m.view(), 0.0).unwrap();
        let linv = lower_inverse(l.view());
        let prod = l.dot(&linv);
        for i in 0..q {
            for j in 0..q {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((prod[[i, j]] - want).abs() < 1e-12, "L·L⁻¹ at ({i}, {j})");
            }
        }
        let r0: Vec<f64> = (0..q).map(|i| i as f64 - 1.5).collect();
        let (mut a, mut b) = (r0.clone(), r0);
        cholesky_solve(l.view(), &mut a);
        apply_inverse_factor(linv.view(), &mut b);
        for (p, w) in b.iter().zip(&a) {
            assert!((p - w).abs() <= 1e-12 * w.abs().max(1.0), "{p} vs {w}");
        }
    }
}
