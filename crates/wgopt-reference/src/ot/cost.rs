//! Cost sources: a dense n×m matrix, or two point clouds with a cost evaluated on the fly
//! (`‖x − y‖²`, POT/OTT's convention, or `‖x − y‖_p^p / p`... see [`Cost::eval`]).

use crate::RefError;

/// Where the cost comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Cost {
    /// Row-major n×m.
    Dense { n: usize, m: usize, c: Vec<f64> },
    /// Squared Euclidean `‖xᵢ − yⱼ‖²` between rows of x (n×d) and y (m×d).
    SqEuclidean { d: usize, x: Vec<f64>, y: Vec<f64> },
    /// `‖xᵢ − yⱼ‖_p^p` (p ≥ 1).
    PNorm {
        d: usize,
        p: f64,
        x: Vec<f64>,
        y: Vec<f64>,
    },
}

impl Cost {
    /// (n, m).
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Cost::Dense { n, m, .. } => (*n, *m),
            Cost::SqEuclidean { d, x, y } | Cost::PNorm { d, x, y, .. } => {
                (x.len() / d.max(&1), y.len() / d.max(&1))
            }
        }
    }

    /// Checks dimensions and finiteness.
    pub fn validate(&self) -> Result<(), RefError> {
        let bad = |m: String| Err(RefError::InvalidHyperparameter(m));
        match self {
            Cost::Dense { n, m, c } => {
                crate::check_len("cost matrix", n * m, c.len())?;
                if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                    return bad(format!("cost[{}, {}] is not finite", i / m, i % m));
                }
            }
            Cost::SqEuclidean { d, x, y } | Cost::PNorm { d, x, y, .. } => {
                if *d == 0 {
                    return bad("point dimension must be >= 1".into());
                }
                if x.len() % d != 0 || y.len() % d != 0 {
                    return bad(format!(
                        "point clouds of {} and {} values are not multiples of d = {d}",
                        x.len(),
                        y.len()
                    ));
                }
                if x.iter().chain(y).any(|v| !v.is_finite()) {
                    return bad("a point coordinate is not finite".into());
                }
                if let Cost::PNorm { p, .. } = self {
                    if p.is_nan() || *p < 1.0 {
                        return bad(format!("p must be >= 1, got {p}"));
                    }
                }
            }
        }
        let (n, m) = self.shape();
        if n == 0 || m == 0 {
            return bad(format!("empty problem: {n} sources, {m} targets"));
        }
        Ok(())
    }

    /// C_ij.
    pub fn eval(&self, i: usize, j: usize) -> f64 {
        match self {
            Cost::Dense { m, c, .. } => c[i * m + j],
            Cost::SqEuclidean { d, x, y } => {
                (0..*d).map(|k| (x[i * d + k] - y[j * d + k]).powi(2)).sum()
            }
            Cost::PNorm { d, p, x, y } => (0..*d)
                .map(|k| (x[i * d + k] - y[j * d + k]).abs().powf(*p))
                .sum(),
        }
    }

    /// The dense matrix.
    pub fn to_dense(&self) -> Vec<f64> {
        let (n, m) = self.shape();
        (0..n * m).map(|k| self.eval(k / m, k % m)).collect()
    }
}
