//! Ground truth: the exact polar factor U·Vᵀ of G = U·Σ·Vᵀ and singular values, through faer's
//! SVD.

use crate::RefError;
use ndarray::{Array2, ArrayView2};

fn to_faer(g: ArrayView2<'_, f64>) -> faer::Mat<f64> {
    faer::Mat::from_fn(g.nrows(), g.ncols(), |i, j| g[[i, j]])
}

/// Singular values, largest first.
pub fn singular_values(g: ArrayView2<'_, f64>) -> Result<Vec<f64>, RefError> {
    let mut s = to_faer(g)
        .singular_values()
        .map_err(|e| RefError::InvalidHyperparameter(format!("SVD did not converge: {e:?}")))?;
    s.sort_by(|a, b| b.total_cmp(a));
    Ok(s)
}

/// The orthogonal polar factor U·Vᵀ (m×n).
pub fn polar_factor(g: ArrayView2<'_, f64>) -> Result<Array2<f64>, RefError> {
    let svd = to_faer(g)
        .thin_svd()
        .map_err(|e| RefError::InvalidHyperparameter(format!("SVD did not converge: {e:?}")))?;
    let p = svd.U() * svd.V().transpose();
    Ok(Array2::from_shape_fn((g.nrows(), g.ncols()), |(i, j)| {
        p[(i, j)]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn polar_of_diagonal_is_sign_pattern() {
        let g = array![[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]];
        let p = polar_factor(g.view()).unwrap();
        let want = array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        assert!((&p - &want).iter().all(|d| d.abs() < 1e-12), "{p}");
        assert_eq!(singular_values(g.view()).unwrap(), vec![3.0, 0.5]);
    }
}
