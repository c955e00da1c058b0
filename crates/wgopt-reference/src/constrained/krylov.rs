//! The Krylov pieces the matrix-free Newton method needs when K, G and ∇²L exist only as
//! products: MINRES for the symmetric indefinite KKT system, conjugate gradients for the
//! projections' `G Gᵀ` solves, and Lanczos for the smallest eigenvalue of a symmetric
//! operator (λ_min(G Gᵀ) for the LICQ test, and of the reduced Hessian on null(G)).
//!
//! Every operator is a closure `v ↦ A·v` that may fail (a GPU product can), and every result
//! is checked for non-finite values before it is used.

use crate::sketch::dense::{dot, norm, sym_eigenvalues};
use crate::sketch::SolveError;
use ndarray::Array2;

/// `v ↦ A·v` for a symmetric `A`.
pub type Operator<'a> = dyn FnMut(&[f64]) -> Result<Vec<f64>, SolveError> + 'a;

fn checked(what: &str, v: Vec<f64>) -> Result<Vec<f64>, SolveError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(v)
    } else {
        Err(SolveError::NonFinite(what.into()))
    }
}

/// The smallest Ritz value of `op` after at most `steps` Lanczos steps from `start`, with
/// full reorthogonalisation (the steps are few, and without it lost orthogonality produces
/// spurious copies of the extreme eigenvalues).
///
/// A Ritz value is never below λ_min, and it equals λ_min (to rounding) once the Krylov space
/// is invariant: after `dim` steps, or earlier when the recurrence breaks down. Fewer steps
/// overestimate λ_min, most for an eigenvalue whose eigenvector `start` hardly touches.
pub fn lanczos_min(op: &mut Operator<'_>, start: &[f64], steps: usize) -> Result<f64, SolveError> {
    let s = norm(start);
    if !(s > 0.0 && s.is_finite()) {
        return Err(SolveError::Invalid(
            "Lanczos needs a finite, nonzero start".into(),
        ));
    }
    let mut basis: Vec<Vec<f64>> = vec![start.iter().map(|v| v / s).collect()];
    let (mut alphas, mut betas) = (Vec::new(), Vec::<f64>::new());
    for j in 0..steps.max(1) {
        let mut w = checked("a Lanczos product", op(&basis[j])?)?;
        let alpha = dot(&basis[j], &w);
        alphas.push(alpha);
        // Two passes of Gram–Schmidt against the whole basis ("twice is enough").
        for _ in 0..2 {
            for q in &basis {
                let c = dot(q, &w);
                w.iter_mut().zip(q).for_each(|(a, b)| *a -= c * b);
            }
        }
        let beta = norm(&w);
        let scale = alpha
            .abs()
            .max(betas.last().copied().unwrap_or(0.0))
            .max(1e-300);
        if j + 1 == steps || beta <= 1e-12 * scale {
            break;
        }
        betas.push(beta);
        basis.push(w.iter().map(|v| v / beta).collect());
    }
    let k = alphas.len();
    let t = Array2::from_shape_fn((k, k), |(i, j)| match i.abs_diff(j) {
        0 => alphas[i],
        1 => betas[i.min(j)],
        _ => 0.0,
    });
    Ok(sym_eigenvalues(t.view())?[0])
}

/// Solves `A x = b` for a symmetric positive definite `A` by conjugate gradients from x = 0,
/// to ‖b − A x‖ ≤ `rel_tol`·‖b‖ or `cap` iterations (whichever first; the caller decides
/// whether an approximate solve is good enough).
pub fn conjugate_gradient(
    op: &mut Operator<'_>,
    b: &[f64],
    rel_tol: f64,
    cap: usize,
) -> Result<Vec<f64>, SolveError> {
    let mut x = vec![0.0; b.len()];
    let mut r = b.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let stop = (rel_tol * norm(b)).powi(2);
    for _ in 0..cap {
        if rr <= stop {
            break;
        }
        let ap = checked("a conjugate-gradient product", op(&p)?)?;
        let pap = dot(&p, &ap);
        if pap <= 0.0 {
            return Err(SolveError::NotSpd(format!(
                "pᵀAp = {pap:e} in conjugate gradients"
            )));
        }
        let a = rr / pap;
        x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += a * pi);
        r.iter_mut().zip(&ap).for_each(|(ri, ai)| *ri -= a * ai);
        let rr_new = dot(&r, &r);
        let beta = rr_new / rr;
        rr = rr_new;
        p.iter_mut()
            .zip(&r)
            .for_each(|(pi, ri)| *pi = ri + beta * *pi);
    }
    Ok(x)
}

/// MINRES (Paige & Saunders) on `A x = b` for a symmetric, possibly indefinite `A`, from
/// x = 0, until its residual estimate ‖b − A x‖ ≤ `target` or `cap` products. Returns
/// (x, products, the residual estimate). The estimate is exact in exact arithmetic; callers
/// that need the true residual recompute it.
pub fn minres(
    op: &mut Operator<'_>,
    b: &[f64],
    target: f64,
    cap: usize,
) -> Result<(Vec<f64>, usize, f64), SolveError> {
    let n = b.len();
    let mut x = vec![0.0; n];
    let beta1 = norm(b);
    if beta1 <= target || beta1 == 0.0 {
        return Ok((x, 0, beta1));
    }
    let (mut r1, mut r2, mut y) = (b.to_vec(), b.to_vec(), b.to_vec());
    let (mut oldb, mut beta, mut dbar, mut epsln, mut phibar) = (0.0, beta1, 0.0, 0.0, beta1);
    let (mut cs, mut sn) = (-1.0f64, 0.0f64);
    let (mut w, mut w2) = (vec![0.0; n], vec![0.0; n]);
    let mut steps = 0;
    while steps < cap && phibar > target {
        steps += 1;
        let v: Vec<f64> = y.iter().map(|yi| yi / beta).collect();
        y = checked("a MINRES product", op(&v)?)?;
        if steps >= 2 {
            y.iter_mut()
                .zip(&r1)
                .for_each(|(yi, ri)| *yi -= (beta / oldb) * ri);
        }
        let alpha = dot(&v, &y);
        y.iter_mut()
            .zip(&r2)
            .for_each(|(yi, ri)| *yi -= (alpha / beta) * ri);
        r1 = std::mem::replace(&mut r2, y.clone());
        oldb = beta;
        beta = norm(&y);
        let oldeps = epsln;
        let delta = cs * dbar + sn * alpha;
        let gbar = sn * dbar - cs * alpha;
        epsln = sn * beta;
        dbar = -cs * beta;
        let gamma = gbar.hypot(beta).max(f64::EPSILON);
        cs = gbar / gamma;
        sn = beta / gamma;
        let phi = cs * phibar;
        phibar *= sn;
        let w1 = std::mem::replace(&mut w2, w.clone());
        for i in 0..n {
            w[i] = (v[i] - oldeps * w1[i] - delta * w2[i]) / gamma;
            x[i] += phi * w[i];
        }
        if beta == 0.0 {
            break; // the Krylov space is invariant: x is exact
        }
    }
    Ok((x, steps, phibar))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::dense::matvec;

    /// A symmetric matrix with eigenvalues `eig` in a rotated basis (Householder reflector).
    fn symmetric(eig: &[f64]) -> Array2<f64> {
        let n = eig.len();
        let u: Vec<f64> = (0..n).map(|i| ((i * 7 + 3) % 11) as f64 - 5.0).collect();
        let uu = dot(&u, &u);
        let q = Array2::from_shape_fn((n, n), |(i, j)| {
            f64::from(u8::from(i == j)) - 2.0 * u[i] * u[j] / uu
        });
        let d = Array2::from_diag(&ndarray::Array1::from(eig.to_vec()));
        q.dot(&d).dot(&q.t())
    }

    #[test]
    fn lanczos_finds_the_smallest_eigenvalue_of_an_indefinite_matrix() {
        let eig: Vec<f64> = (0..13).map(|i| i as f64 * 0.75 - 2.5).collect();
        let a = symmetric(&eig);
        let mut op = |v: &[f64]| Ok(matvec(a.view(), v));
        let start: Vec<f64> = (0..13).map(|i| 1.0 + (i % 3) as f64).collect();
        // The full dimension: exact to rounding (tolerance: a few ulps of ‖A‖ ≈ 7).
        let full = lanczos_min(&mut op, &start, 13).unwrap();
        assert!((full + 2.5).abs() < 1e-10, "{full}");
        // Fewer steps: a Ritz value, never below λ_min.
        let few = lanczos_min(&mut op, &start, 4).unwrap();
        assert!((-2.5 - 1e-12..4.0).contains(&few), "{few}");
    }

    #[test]
    fn minres_solves_an_indefinite_system_and_cg_an_spd_one() {
        let eig: Vec<f64> = (0..17)
            .map(|i| {
                if i % 2 == 0 {
                    1.0 + i as f64
                } else {
                    -0.5 - i as f64
                }
            })
            .collect();
        let a = symmetric(&eig);
        let b: Vec<f64> = (0..17).map(|i| (i as f64).sin()).collect();
        let mut op = |v: &[f64]| Ok(matvec(a.view(), v));
        let (x, steps, est) = minres(&mut op, &b, 1e-10, 100).unwrap();
        let r: Vec<f64> = matvec(a.view(), &x)
            .iter()
            .zip(&b)
            .map(|(p, q)| p - q)
            .collect();
        // The estimate tracks the true residual to rounding on a well-conditioned system.
        assert!(norm(&r) < 1e-9 && est <= 1e-10, "{} {est}", norm(&r));
        assert!(steps <= 17 + 2, "{steps} products for n = 17");
        let spd = symmetric(&(1..=17).map(f64::from).collect::<Vec<_>>());
        let mut op = |v: &[f64]| Ok(matvec(spd.view(), v));
        let x = conjugate_gradient(&mut op, &b, 1e-12, 100).unwrap();
        let r: Vec<f64> = matvec(spd.view(), &x)
            .iter()
            .zip(&b)
            .map(|(p, q)| p - q)
            .collect();
        assert!(norm(&r) <= 1e-11 * norm(&b), "{}", norm(&r));
        // An indefinite matrix is refused by CG with a typed error.
        let mut op = |v: &[f64]| Ok(matvec(a.view(), v));
        assert!(matches!(
            conjugate_gradient(&mut op, &b, 1e-12, 100),
            Err(SolveError::NotSpd(_))
        ));
    }
}
