//! Nyström-preconditioned CG (Frangella, Tropp & Udell, SIMAX 2023) for `(A + μI) x = b`
//! with `A` symmetric positive semidefinite:
//!
//! 1. `Ω` (n × ℓ) Gaussian from Philox (draw 1 of the sketch stream), `Y = A·Ω`;
//! 2. shift `ν = √n · ε · ‖Y‖_F`, `Y_ν = Y + ν·Ω`, `C = chol(Ωᵀ·Y_ν)`, `B = Y_ν·C⁻ᵀ`;
//! 3. `B = U·Σ·Vᵀ` (thin SVD), `Λ̂ = max(0, Σ² − ν)`;
//! 4. `P⁻¹ = (λ̂_ℓ + μ)·U·(Λ̂ + μI)⁻¹·Uᵀ + (I − U·Uᵀ)`, used in CG.
//!
//! With ℓ above the effective dimension of `A` at `μ`, the preconditioned system is
//! well-conditioned and CG needs O(log 1/ε) iterations.

use super::dense::{cholesky, dot, norm, to_faer};
use super::{SolveError, SKETCH_STREAM};
use crate::random::{self, Distribution, StreamId};
use ndarray::{Array1, Array2, ArrayView2};

/// The low-rank part of the preconditioner.
#[derive(Debug, Clone, PartialEq)]
pub struct Nystrom {
    /// n × ℓ, orthonormal columns.
    pub u: Array2<f64>,
    /// λ̂, descending.
    pub lambda: Vec<f64>,
}

impl Nystrom {
    /// The randomized Nyström approximation of PSD `A` of rank `rank`.
    pub fn new(a: ArrayView2<'_, f64>, rank: usize, seed: u64) -> Result<Nystrom, SolveError> {
        let n = a.nrows();
        if a.ncols() != n || rank == 0 || rank > n {
            return Err(SolveError::Dimension(format!(
                "Nyström of rank {rank} of a {}×{} matrix",
                n,
                a.ncols()
            )));
        }
        let mut omega = Array2::<f64>::zeros((n, rank));
        for j in 0..rank {
            let mut col = vec![0.0f32; n];
            random::fill(
                Distribution::Gaussian,
                StreamId {
                    seed,
                    slot: j as u32,
                    draw: 1,
                    stream: SKETCH_STREAM,
                },
                &mut col,
            );
            for (i, v) in col.iter().enumerate() {
                omega[[i, j]] = *v as f64;
            }
        }
        // Orthonormalise Ω (thin QR) as the paper's Algorithm 2.1 does.
        let q = to_faer(omega.view()).qr().compute_thin_Q();
        let omega = Array2::from_shape_fn((n, rank), |(i, j)| q[(i, j)]);
        let y = a.dot(&omega);
        let fro = y.iter().map(|v| v * v).sum::<f64>().sqrt();
        let nu = (n as f64).sqrt() * f64::EPSILON * fro;
        let y_nu = &y + &(&omega * nu);
        let mut core = omega.t().dot(&y_nu);
        // Symmetrise against rounding before Cholesky.
        core = (&core + &core.t()) * 0.5;
        let c = cholesky(core.view())?; // lower: core = C Cᵀ
                                        // B = Y_ν C⁻ᵀ: solve C·Bᵀ = Y_νᵀ row by row.
        let mut bmat = y_nu.clone();
        for mut row in bmat.rows_mut() {
            let mut v: Vec<f64> = row.to_vec();
            for i in 0..rank {
                let mut s = v[i];
                for k in 0..i {
                    s -= c[[i, k]] * v[k];
                }
                v[i] = s / c[[i, i]];
            }
            row.assign(&Array1::from(v));
        }
        let svd = to_faer(bmat.view())
            .thin_svd()
            .map_err(|e| SolveError::Singular(format!("SVD did not converge: {e:?}")))?;
        let u = Array2::from_shape_fn((n, rank), |(i, j)| svd.U()[(i, j)]);
        let lambda = (0..rank)
            .map(|j| (svd.S()[j] * svd.S()[j] - nu).max(0.0))
            .collect();
        Ok(Nystrom { u, lambda })
    }

    /// `P⁻¹ v`.
    pub fn precondition(&self, v: &[f64], mu: f64) -> Vec<f64> {
        let last = self.lambda.last().copied().unwrap_or(0.0);
        let utv = self.u.t().dot(&Array1::from(v.to_vec()));
        let scaled: Array1<f64> = utv
            .iter()
            .zip(&self.lambda)
            .map(|(c, l)| c * ((last + mu) / (l + mu) - 1.0))
            .collect();
        let corr = self.u.dot(&scaled);
        v.iter().zip(corr.iter()).map(|(a, b)| a + b).collect()
    }
}

/// CG's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CgSolution {
    pub x: Vec<f64>,
    pub iterations: usize,
    /// ‖b − (A + μI)x‖ / ‖b‖.
    pub residual: f64,
}

/// Preconditioned CG on `(A + μI) x = b`; `precond` is `None` for plain CG.
pub fn pcg(
    a: ArrayView2<'_, f64>,
    mu: f64,
    b: &[f64],
    precond: Option<&Nystrom>,
    tol: f64,
    max_iter: usize,
) -> Result<CgSolution, SolveError> {
    let n = a.nrows();
    if a.ncols() != n || b.len() != n {
        return Err(SolveError::Dimension(format!(
            "{}×{} system, b of {}",
            n,
            a.ncols(),
            b.len()
        )));
    }
    if mu.is_nan() || mu < 0.0 {
        return Err(SolveError::Invalid(format!("μ must be ≥ 0, got {mu}")));
    }
    let apply = |v: &[f64]| -> Vec<f64> {
        let av = a.dot(&Array1::from(v.to_vec()));
        av.iter().zip(v).map(|(p, q)| p + mu * q).collect()
    };
    let pre = |r: &[f64]| precond.map_or_else(|| r.to_vec(), |p| p.precondition(r, mu));
    let bnorm = norm(b).max(f64::MIN_POSITIVE);
    let mut x = vec![0.0; n];
    let mut r = b.to_vec();
    let mut z = pre(&r);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    for it in 1..=max_iter {
        let ap = apply(&p);
        let pap = dot(&p, &ap);
        if pap.is_nan() || pap <= 0.0 {
            return Err(SolveError::NotSpd(format!(
                "pᵀ(A + μI)p = {pap:e} at iteration {it}"
            )));
        }
        let alpha = rz / pap;
        for i in 0..n {
            x[i] += alpha * p[i];
            r[i] -= alpha * ap[i];
        }
        let res = norm(&r) / bnorm;
        if !res.is_finite() {
            return Err(SolveError::NonFinite("CG iterate".into()));
        }
        if res <= tol {
            return Ok(CgSolution {
                x,
                iterations: it,
                residual: res,
            });
        }
        z = pre(&r);
        let rz_new = dot(&r, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for i in 0..n {
            p[i] = z[i] + beta * p[i];
        }
    }
    let residual = norm(&r) / bnorm;
    Err(SolveError::IterationCap {
        iterations: max_iter,
        residual,
        tolerance: tol,
    })
}
