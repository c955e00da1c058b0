//! Random sketches and the solvers built on them (twins of `shaders/sketch/*` and
//! `wgopt_solvers::sketch`), all in f64 on matrices stored row-major (`ndarray`).
//!
//! A sketch `S` (s × m) is never stored: its entries are functions of (seed, position) through
//! Philox (see [`crate::random`]), so the GPU regenerates exactly the entries the reference
//! uses.
//!
//! - **Gaussian**: `S[i, r] = g(i, r)/√s`, `g(i, r)` = element `r` of the Gaussian stream
//!   `(seed, slot i, draw 0, stream SKETCH_STREAM)`.
//! - **CountSketch** (sparse sign): row `r` of `A` is added, with sign `σ(r)`, to bucket
//!   `h(r)`: `(w0, w1, ..) = philox([r, 0, 0, COUNT_STREAM], key(seed))`, `h = w0 mod s`,
//!   `σ` = Rademacher of `w1`. No scaling: `E[SᵀS] = I`.
//! - **SRHT**: rows are padded to `m' = 2^⌈log₂ m⌉`, signed by `D[r]` (Rademacher of
//!   `philox([r, 1, 0, SRHT_STREAM])[0]`), mixed by the unnormalised Walsh–Hadamard transform,
//!   and `s` of the `m'` mixed rows are kept (the `s` smallest keys
//!   `philox([p, 2, 0, SRHT_STREAM])[0]`, ties by index), scaled by `1/√s`. `E[SᵀS] = I`.
//!
//! Submodules: [`project`] (sketch-and-project: block Kaczmarz, Gaussian sketch-and-project,
//! block Newton for SPD systems), [`lsqr`] (LSQR and sketch-and-precondition least squares),
//! [`nystrom`] (Nyström-preconditioned CG).

pub mod dense;
pub mod lsqr;
pub mod nystrom;
pub mod project;

use crate::random::{self, Distribution, StreamId};
use ndarray::{Array2, ArrayView2};

/// Philox stream numbers of the sketches (counter word 3), apart from the optimizers' probes.
pub const SKETCH_STREAM: u32 = 0x5E7C_0001;
pub const COUNT_STREAM: u32 = 0x5E7C_0002;
pub const SRHT_STREAM: u32 = 0x5E7C_0003;

/// Errors of the solvers (and of bad input to them).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    #[error("dimension mismatch: {0}")]
    Dimension(String),
    #[error("matrix is not symmetric positive definite ({0})")]
    NotSpd(String),
    #[error("matrix is singular or rank-deficient ({0})")]
    Singular(String),
    #[error("non-finite value from {0}")]
    NonFinite(String),
    #[error("no convergence after {iterations} iterations (residual {residual:e}, wanted {tolerance:e})")]
    IterationCap {
        iterations: usize,
        residual: f64,
        tolerance: f64,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The residual stopped improving above the tolerance: no 1% gain over `window` checks.
    /// In f32 the reachable relative residual is about 1e-7 · cond(A); an inconsistent system
    /// stalls at its least-squares residual.
    #[error(
        "stalled after {iterations} iterations at residual {residual:e} (wanted {tolerance:e}; \
         no 1% progress over the last {window} checks: the f32 floor, about 1e-7·cond(A), or \
         an inconsistent system)"
    )]
    Stalled {
        iterations: usize,
        residual: f64,
        tolerance: f64,
        window: usize,
    },
}

/// Which sketch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SketchKind {
    Gaussian,
    CountSketch,
    Srht,
}

/// A sketch `S` of `rows` × `input` (it maps vectors of length `input` to length `rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sketch {
    pub kind: SketchKind,
    pub rows: usize,
    pub input: usize,
    pub seed: u64,
}

impl Sketch {
    pub fn new(
        kind: SketchKind,
        rows: usize,
        input: usize,
        seed: u64,
    ) -> Result<Sketch, SolveError> {
        if rows == 0 || input == 0 {
            return Err(SolveError::Invalid("a sketch needs positive sizes".into()));
        }
        if rows > u32::MAX as usize || input > u32::MAX as usize / 2 {
            return Err(SolveError::Invalid(
                "sketch sizes must fit 32-bit counters".into(),
            ));
        }
        if kind == SketchKind::Srht && rows > input.next_power_of_two() {
            return Err(SolveError::Invalid(format!(
                "an SRHT keeps at most m' = {} rows, asked for {rows}",
                input.next_power_of_two()
            )));
        }
        Ok(Sketch {
            kind,
            rows,
            input,
            seed,
        })
    }

    /// Row `i` of a Gaussian sketch, unscaled (the standard normals `g(i, 0..m)`), as the GPU
    /// computes them in f32.
    pub fn gaussian_row(&self, i: usize) -> Vec<f32> {
        let mut out = vec![0.0; self.input];
        random::fill(
            Distribution::Gaussian,
            StreamId {
                seed: self.seed,
                slot: i as u32,
                draw: 0,
                stream: SKETCH_STREAM,
            },
            &mut out,
        );
        out
    }

    /// CountSketch's bucket and sign of input row `r`.
    pub fn count_bucket(&self, r: usize) -> (usize, f64) {
        let w = random::philox4x32_10([r as u32, 0, 0, COUNT_STREAM], random::key(self.seed));
        ((w[0] as usize) % self.rows, random::rademacher(w[1]) as f64)
    }

    /// SRHT's sign of (padded) input row `r`.
    pub fn srht_sign(&self, r: usize) -> f64 {
        let w = random::philox4x32_10([r as u32, 1, 0, SRHT_STREAM], random::key(self.seed));
        random::rademacher(w[0]) as f64
    }

    /// SRHT's kept rows of the mixed matrix, in increasing order of their keys.
    pub fn srht_rows(&self) -> Vec<u32> {
        let padded = self.input.next_power_of_two();
        let key = random::key(self.seed);
        let mut keyed: Vec<(u32, u32)> = (0..padded as u32)
            .map(|p| (random::philox4x32_10([p, 2, 0, SRHT_STREAM], key)[0], p))
            .collect();
        keyed.sort_unstable();
        keyed.truncate(self.rows);
        keyed.into_iter().map(|(_, p)| p).collect()
    }

    /// `S·A` for `A` with `input` rows.
    pub fn apply(&self, a: ArrayView2<'_, f64>) -> Result<Array2<f64>, SolveError> {
        if a.nrows() != self.input {
            return Err(SolveError::Dimension(format!(
                "sketch of input {} applied to {} rows",
                self.input,
                a.nrows()
            )));
        }
        let n = a.ncols();
        let mut out = Array2::<f64>::zeros((self.rows, n));
        match self.kind {
            SketchKind::Gaussian => {
                let scale = 1.0 / (self.rows as f64).sqrt();
                for i in 0..self.rows {
                    let g = self.gaussian_row(i);
                    let mut row = out.row_mut(i);
                    for (r, &gr) in g.iter().enumerate() {
                        let w = gr as f64 * scale;
                        row.scaled_add(w, &a.row(r));
                    }
                }
            }
            SketchKind::CountSketch => {
                for r in 0..self.input {
                    let (b, sign) = self.count_bucket(r);
                    out.row_mut(b).scaled_add(sign, &a.row(r));
                }
            }
            SketchKind::Srht => {
                let mixed = self.srht_mix(a);
                let scale = 1.0 / (self.rows as f64).sqrt();
                for (i, &p) in self.srht_rows().iter().enumerate() {
                    out.row_mut(i).assign(&(&mixed.row(p as usize) * scale));
                }
            }
        }
        Ok(out)
    }

    /// `H·D·A` over the padded rows (unnormalised fast Walsh–Hadamard, in place, O(m' log m')
    /// per column).
    pub fn srht_mix(&self, a: ArrayView2<'_, f64>) -> Array2<f64> {
        let padded = self.input.next_power_of_two();
        let n = a.ncols();
        let mut x = Array2::<f64>::zeros((padded, n));
        for r in 0..self.input {
            x.row_mut(r).assign(&(&a.row(r) * self.srht_sign(r)));
        }
        let mut h = 1;
        while h < padded {
            for start in (0..padded).step_by(2 * h) {
                for r in start..start + h {
                    for j in 0..n {
                        let (u, v) = (x[[r, j]], x[[r + h, j]]);
                        x[[r, j]] = u + v;
                        x[[r + h, j]] = u - v;
                    }
                }
            }
            h *= 2;
        }
        x
    }

    /// `S·b` for a vector.
    pub fn apply_vec(&self, b: &[f64]) -> Result<Vec<f64>, SolveError> {
        let a = ArrayView2::from_shape((b.len(), 1), b)
            .map_err(|e| SolveError::Dimension(e.to_string()))?;
        Ok(self.apply(a)?.into_raw_vec_and_offset().0)
    }
}
