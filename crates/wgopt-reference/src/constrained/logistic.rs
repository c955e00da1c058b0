//! Constrained logistic regression (the paper's second experiment, on seeded synthetic data
//! instead of LIBSVM files): `min (1/N) Σ log(1 + exp(−y_i a_iᵀθ))` subject to `Cθ = e`
//! (10 random Gaussian rows) and `‖θ‖² = 1`; start θ₀ = 1, λ₀ = 1 as the authors do.

use super::operator::OperatorProblem;
use super::problem::Problem;
use crate::random::{self, Distribution, StreamId};
use crate::sketch::SolveError;
use ndarray::{Array2, ArrayView2};

/// The problem and its data.
#[derive(Debug, Clone)]
pub struct Logistic {
    /// N × d features.
    pub a: Array2<f64>,
    /// ±1 labels.
    pub y: Vec<f64>,
    /// 10 × d linear constraints and their right-hand side.
    pub c: Array2<f64>,
    pub e: Vec<f64>,
}

fn gaussians(seed: u64, slot: u32, len: usize) -> Vec<f64> {
    let mut v = vec![0.0f32; len];
    random::fill(
        Distribution::Gaussian,
        StreamId {
            seed,
            slot,
            draw: 0,
            stream: 0x1061_5710,
        },
        &mut v,
    );
    v.into_iter().map(f64::from).collect()
}

impl Logistic {
    /// `n` samples in `d` dimensions: features N(0, 1), labels from a planted unit vector with
    /// 10 % flipped; constraint rows and right-hand side N(0, 1), all from Philox with `seed`.
    pub fn generate(n: usize, d: usize, seed: u64) -> Logistic {
        let a = Array2::from_shape_vec((n, d), gaussians(seed, 0, n * d)).expect("n·d values");
        let planted = gaussians(seed, 1, d);
        let flips = gaussians(seed, 2, n);
        let y = (0..n)
            .map(|i| {
                let s: f64 = a.row(i).iter().zip(&planted).map(|(p, q)| p * q).sum();
                let label = if s >= 0.0 { 1.0 } else { -1.0 };
                if flips[i] > 1.2816 {
                    -label
                } else {
                    label
                } // P(N(0,1) > 1.2816) = 0.1
            })
            .collect();
        let c = Array2::from_shape_vec((10, d), gaussians(seed, 3, 10 * d)).expect("10·d values");
        // A right-hand side the unit sphere can meet: e = C θ̂ for a unit θ̂.
        let th = gaussians(seed, 4, d);
        let nrm = th.iter().map(|v| v * v).sum::<f64>().sqrt();
        let e = (0..10)
            .map(|i| c.row(i).iter().zip(&th).map(|(p, q)| p * q / nrm).sum())
            .collect();
        Logistic { a, y, c, e }
    }

    fn margins(&self, x: &[f64]) -> Vec<f64> {
        (0..self.y.len())
            .map(|i| self.y[i] * self.a.row(i).iter().zip(x).map(|(p, q)| p * q).sum::<f64>())
            .collect()
    }
}

/// The constraints `Cθ − e` and `‖θ‖² − 1`: shared by the dense problem, its product form and
/// the GPU problem, which keeps them on the host in f64.
pub fn constraint_values(c: ArrayView2<'_, f64>, e: &[f64], x: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = c
        .rows()
        .into_iter()
        .zip(e)
        .map(|(row, ei)| row.iter().zip(x).map(|(p, q)| p * q).sum::<f64>() - ei)
        .collect();
    out.push(x.iter().map(|v| v * v).sum::<f64>() - 1.0);
    out
}

/// `G·v = (C v, 2θᵀv)`.
pub fn jacobian_product(
    c: ArrayView2<'_, f64>,
    x: &[f64],
    v: &[f64],
) -> Result<Vec<f64>, SolveError> {
    if v.len() != c.ncols() || x.len() != c.ncols() {
        return Err(SolveError::Dimension(format!(
            "G·v: θ has {} and v {} entries, want {}",
            x.len(),
            v.len(),
            c.ncols()
        )));
    }
    let mut out: Vec<f64> = c
        .rows()
        .into_iter()
        .map(|row| row.iter().zip(v).map(|(p, q)| p * q).sum())
        .collect();
    out.push(2.0 * x.iter().zip(v).map(|(p, q)| p * q).sum::<f64>());
    Ok(out)
}

/// `Gᵀ·w = Cᵀ w_{..10} + 2 w_{10} θ`.
pub fn jacobian_transpose_product(
    c: ArrayView2<'_, f64>,
    x: &[f64],
    w: &[f64],
) -> Result<Vec<f64>, SolveError> {
    let m = c.nrows();
    if w.len() != m + 1 || x.len() != c.ncols() {
        return Err(SolveError::Dimension(format!(
            "Gᵀ·w: θ has {} and w {} entries, want {} and {}",
            x.len(),
            w.len(),
            c.ncols(),
            m + 1
        )));
    }
    let mut out: Vec<f64> = x.iter().map(|xi| 2.0 * w[m] * xi).collect();
    for (row, wi) in c.rows().into_iter().zip(w) {
        out.iter_mut().zip(row).for_each(|(o, c)| *o += wi * c);
    }
    Ok(out)
}

/// log(1 + e^{−t}) without overflow.
fn softplus_neg(t: f64) -> f64 {
    if t > 0.0 {
        (-t).exp().ln_1p()
    } else {
        -t + t.exp().ln_1p()
    }
}

fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        t.exp() / (1.0 + t.exp())
    }
}

impl Problem for Logistic {
    fn name(&self) -> &str {
        "logistic"
    }

    fn dims(&self) -> (usize, usize) {
        (self.a.ncols(), 11)
    }

    fn x0(&self) -> Vec<f64> {
        vec![1.0; self.a.ncols()]
    }

    fn lambda0(&self) -> Vec<f64> {
        vec![1.0; 11]
    }

    fn objective(&self, x: &[f64]) -> f64 {
        let n = self.y.len() as f64;
        self.margins(x)
            .iter()
            .map(|&t| softplus_neg(t))
            .sum::<f64>()
            / n
    }

    fn gradient(&self, x: &[f64]) -> Vec<f64> {
        let n = self.y.len() as f64;
        let mut g = vec![0.0; x.len()];
        for (i, t) in self.margins(x).into_iter().enumerate() {
            let w = -self.y[i] * sigmoid(-t) / n;
            for (gj, aij) in g.iter_mut().zip(self.a.row(i)) {
                *gj += w * aij;
            }
        }
        g
    }

    fn constraints(&self, x: &[f64]) -> Vec<f64> {
        constraint_values(self.c.view(), &self.e, x)
    }

    fn jacobian(&self, x: &[f64]) -> Array2<f64> {
        let d = x.len();
        let mut g = Array2::<f64>::zeros((11, d));
        g.slice_mut(ndarray::s![..10, ..]).assign(&self.c);
        for j in 0..d {
            g[[10, j]] = 2.0 * x[j];
        }
        g
    }

    fn lagrangian_hessian(&self, x: &[f64], lambda: &[f64]) -> Array2<f64> {
        let mut h = self.objective_hessian(x);
        for j in 0..x.len() {
            h[[j, j]] += 2.0 * lambda[10];
        }
        h
    }

    fn objective_hessian(&self, x: &[f64]) -> Array2<f64> {
        let (n, d) = self.a.dim();
        let mut h = Array2::<f64>::zeros((d, d));
        for (i, t) in self.margins(x).into_iter().enumerate() {
            let s = sigmoid(t);
            let w = s * (1.0 - s) / n as f64;
            let row = self.a.row(i);
            for p in 0..d {
                for q in 0..d {
                    h[[p, q]] += w * row[p] * row[q];
                }
            }
        }
        h
    }
}

/// The problem seen only through products, O(N·d) each and no d × d Hessian: what the
/// matrix-free method needs for large N and d, and the host twin of the GPU-resident
/// `wgopt_solvers::constrained::GpuLogistic`.
#[derive(Debug, Clone, Copy)]
pub struct LogisticProducts<'a>(pub &'a Logistic);

impl Logistic {
    /// This problem as an [`OperatorProblem`].
    pub fn products(&self) -> LogisticProducts<'_> {
        LogisticProducts(self)
    }

    /// `∇²f(x)·v = Aᵀ(w ∘ A v)` with `w_i = σ(t_i)(1 − σ(t_i))/N`.
    fn objective_hvp(&self, x: &[f64], v: &[f64]) -> Vec<f64> {
        let n = self.y.len() as f64;
        let mut out = vec![0.0; x.len()];
        for (i, t) in self.margins(x).into_iter().enumerate() {
            let s = sigmoid(t);
            let row = self.a.row(i);
            let av: f64 = row.iter().zip(v).map(|(p, q)| p * q).sum();
            let w = s * (1.0 - s) / n * av;
            out.iter_mut().zip(row).for_each(|(o, a)| *o += w * a);
        }
        out
    }
}

impl OperatorProblem for LogisticProducts<'_> {
    fn name(&self) -> &str {
        "logistic"
    }

    fn dims(&self) -> (usize, usize) {
        Problem::dims(self.0)
    }

    fn x0(&self) -> Vec<f64> {
        Problem::x0(self.0)
    }

    fn lambda0(&self) -> Vec<f64> {
        Problem::lambda0(self.0)
    }

    fn objective(&self, x: &[f64]) -> Result<f64, SolveError> {
        Ok(Problem::objective(self.0, x))
    }

    fn gradient(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(Problem::gradient(self.0, x))
    }

    fn constraints(&self, x: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(Problem::constraints(self.0, x))
    }

    fn jacobian_product(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        jacobian_product(self.0.c.view(), x, v)
    }

    fn jacobian_transpose_product(&self, x: &[f64], w: &[f64]) -> Result<Vec<f64>, SolveError> {
        jacobian_transpose_product(self.0.c.view(), x, w)
    }

    fn lagrangian_hvp(&self, x: &[f64], lambda: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        let mut out = self.0.objective_hvp(x, v);
        out.iter_mut()
            .zip(v)
            .for_each(|(o, vi)| *o += 2.0 * lambda[10] * vi);
        Ok(out)
    }

    fn objective_hvp(&self, x: &[f64], v: &[f64]) -> Result<Vec<f64>, SolveError> {
        Ok(self.0.objective_hvp(x, v))
    }
}
