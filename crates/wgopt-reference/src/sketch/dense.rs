//! Dense f64 helpers over faer (factorisations the solvers and their oracles need).

use super::SolveError;
use faer::linalg::solvers::{Solve, SolveLstsq};
use faer::{Mat, Side};
use ndarray::{Array1, Array2, ArrayView2};

pub fn to_faer(a: ArrayView2<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

pub fn from_faer(m: faer::MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// Eigenvalues of a symmetric matrix, ascending.
pub fn sym_eigenvalues(a: ArrayView2<'_, f64>) -> Result<Vec<f64>, SolveError> {
    to_faer(a)
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| SolveError::Singular(format!("eigenvalues did not converge: {e:?}")))
}

/// The lower Cholesky factor of an SPD matrix (faer), or `NotSpd`.
pub fn cholesky(a: ArrayView2<'_, f64>) -> Result<Array2<f64>, SolveError> {
    let llt = to_faer(a)
        .llt(Side::Lower)
        .map_err(|e| SolveError::NotSpd(format!("Cholesky failed: {e:?}")))?;
    Ok(from_faer(llt.L()))
}

/// The solution of a square system by LU with partial pivoting; `Singular` when the result is
/// not finite.
pub fn lu_solve(a: ArrayView2<'_, f64>, b: &[f64]) -> Result<Vec<f64>, SolveError> {
    if a.nrows() != a.ncols() || a.nrows() != b.len() {
        return Err(SolveError::Dimension(format!(
            "{}×{} system with {} right-hand sides",
            a.nrows(),
            a.ncols(),
            b.len()
        )));
    }
    let lu = to_faer(a).partial_piv_lu();
    let rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    let x = lu.solve(&rhs);
    let out: Vec<f64> = (0..b.len()).map(|i| x[(i, 0)]).collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(SolveError::Singular(
            "LU solve produced non-finite values".into(),
        ))
    }
}

/// Dense least squares `min ‖Ax − b‖` by Householder QR (the oracle the sketched solvers race).
pub fn qr_lstsq(a: ArrayView2<'_, f64>, b: &[f64]) -> Result<Vec<f64>, SolveError> {
    if a.nrows() != b.len() || a.nrows() < a.ncols() {
        return Err(SolveError::Dimension(format!(
            "{}×{} least squares with {} right-hand sides",
            a.nrows(),
            a.ncols(),
            b.len()
        )));
    }
    let qr = to_faer(a).qr();
    let rhs = Mat::from_fn(b.len(), 1, |i, _| b[i]);
    let x = qr.solve_lstsq(&rhs);
    let out: Vec<f64> = (0..a.ncols()).map(|i| x[(i, 0)]).collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(SolveError::Singular(
            "QR least squares produced non-finite values (rank-deficient A?)".into(),
        ))
    }
}

/// The R factor (n × n upper triangular) of a thin QR of a tall matrix.
pub fn qr_r(a: ArrayView2<'_, f64>) -> Array2<f64> {
    let qr = to_faer(a).qr();
    let r = qr.thin_R();
    from_faer(r)
}

pub fn matvec(a: ArrayView2<'_, f64>, x: &[f64]) -> Vec<f64> {
    a.dot(&Array1::from(x.to_vec())).to_vec()
}

pub fn rmatvec(a: ArrayView2<'_, f64>, y: &[f64]) -> Vec<f64> {
    a.t().dot(&Array1::from(y.to_vec())).to_vec()
}

pub fn norm(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}
