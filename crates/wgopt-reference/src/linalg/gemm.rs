//! `D = alpha·op(A)·op(B) + beta·C` and the Gram matrix `X·Xᵀ`: the oracles of
//! `shaders/linalg/gemm.wgsl` and `shaders/linalg/gram.wgsl`.

use ndarray::{Array2, ArrayView2};

/// `alpha·op(A)·op(B) + beta·C`, where `op` transposes when asked. `c` may be `None` (β ignored).
pub fn gemm(
    alpha: f64,
    a: ArrayView2<'_, f64>,
    trans_a: bool,
    b: ArrayView2<'_, f64>,
    trans_b: bool,
    beta: f64,
    c: Option<ArrayView2<'_, f64>>,
) -> Array2<f64> {
    let a = if trans_a { a.t() } else { a };
    let b = if trans_b { b.t() } else { b };
    let mut d = a.dot(&b) * alpha;
    if let Some(c) = c {
        d.scaled_add(beta, &c);
    }
    d
}

/// `X·Xᵀ`.
pub fn gram(x: ArrayView2<'_, f64>) -> Array2<f64> {
    x.dot(&x.t())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gemm_transposes_and_epilogue() {
        let a = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]; // 3×2
        let b = array![[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]; // 2×3
        let c = Array2::from_elem((3, 3), 1.0);
        let d = gemm(2.0, a.view(), false, b.view(), false, 0.5, Some(c.view()));
        assert_eq!(d[[0, 0]], 2.0 * (1.0 + 4.0) + 0.5);
        let dt = gemm(1.0, a.t(), true, b.t(), true, 0.0, None);
        assert_eq!(dt, a.dot(&b));
        assert_eq!(gram(a.view()), a.dot(&a.t()));
    }
}
