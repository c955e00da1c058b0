//! SinkGD ("Gradient Multi-Normalization for Stateless and Scalable LLM Training", Scetbon et
//! al. 2025; spec §13, corroborated by four independent re-implementations): stateless.
//! Each matrix gradient G (m×n) is alternately normalised, L times: rows to ℓ2-norm √n, then
//! columns to ℓ2-norm √m (norm denominators clamped at eps); then
//! `W ← W·(1 − lr_s·wd)`, `W ← W − lr_s·X` with `lr_s = α·lr`.
//! This oracle normalises X directly in f64; the GPU keeps X = diag(r)·G·diag(c) and updates
//! only the scale vectors (the spec's trick), so the two are independent derivations.

use crate::optim::muon::matrix_dims;
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of SinkGD. wgopt's choice of defaults (the paper's were not available):
/// lr 0.02 with α = 0.05 (the re-implementations' "0.05×"), L = 5, eps 1e-8, no decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SinkGdConfig {
    pub lr: f64,
    /// α: the step is α·lr.
    pub lr_scale: f64,
    pub iterations: usize,
    pub weight_decay: f64,
    pub eps: f64,
}

impl Default for SinkGdConfig {
    fn default() -> Self {
        SinkGdConfig {
            lr: 0.02,
            lr_scale: 0.05,
            iterations: 5,
            weight_decay: 0.0,
            eps: 1e-8,
        }
    }
}

impl SinkGdConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("lr_scale", self.lr_scale)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("eps", self.eps)?;
        if self.iterations == 0 {
            return Err(RefError::InvalidHyperparameter(
                "iterations must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The multi-normalised matrix X of one m×n gradient, in f64.
pub fn normalize(g: &[f32], rows: usize, cols: usize, iterations: usize, eps: f64) -> Vec<f64> {
    let mut x: Vec<f64> = g.iter().map(|&v| v as f64).collect();
    for _ in 0..iterations {
        for i in 0..rows {
            let row = &mut x[i * cols..(i + 1) * cols];
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            let s = (cols as f64).sqrt() / norm.max(eps);
            row.iter_mut().for_each(|v| *v *= s);
        }
        for j in 0..cols {
            let norm = (0..rows)
                .map(|i| x[i * cols + j].powi(2))
                .sum::<f64>()
                .sqrt();
            let s = (rows as f64).sqrt() / norm.max(eps);
            (0..rows).for_each(|i| x[i * cols + j] *= s);
        }
    }
    x
}

/// One SinkGD step on a parameter of shape `shape` (at least 2-D; 3-D as a batch, 4-D+ as
/// `shape[0] × prod(rest)`).
pub fn step(
    cfg: &SinkGdConfig,
    lr: f64,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
) -> Result<(), RefError> {
    if shape.len() < 2 {
        return Err(RefError::InvalidHyperparameter(format!(
            "SinkGD needs parameters with at least 2 dimensions, got shape {shape:?}"
        )));
    }
    check_len("param", shape.iter().product(), p.len())?;
    check_len("grad", p.len(), g.len())?;
    let (rows, cols) = matrix_dims(shape);
    let lr_s = lr * cfg.lr_scale;
    let decay = (1.0 - lr_s * cfg.weight_decay) as f32;
    let neg = (-lr_s) as f32;
    for b in 0..p.len() / (rows * cols) {
        let r = b * rows * cols..(b + 1) * rows * cols;
        let x = normalize(&g[r.clone()], rows, cols, cfg.iterations, cfg.eps);
        for (k, v) in r.zip(x) {
            p[k] = p[k] * decay + neg * v as f32;
        }
    }
    Ok(())
}

crate::optim::per_tensor!(
    SinkGdConfig,
    (),
    new: |cfg, shape, slot| (),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, shape, p, g),
    fields: |st| Vec::new(),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_have_norm_sqrt_m_and_frobenius_sqrt_mn() {
        // Spec oracle: after each full pass every column norm is √m and ‖X‖_F = √(mn).
        let (m, n) = (5, 7);
        let g: Vec<f32> = (0..m * n)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let x = normalize(&g, m, n, 5, 1e-8);
        for j in 0..n {
            let c = (0..m).map(|i| x[i * n + j].powi(2)).sum::<f64>().sqrt();
            assert!((c - (m as f64).sqrt()).abs() < 1e-12);
        }
        let f = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((f - ((m * n) as f64).sqrt()).abs() < 1e-10);
        // Stateless and scale-invariant: 4·G (exact in f32) gives the same X.
        let g3: Vec<f32> = g.iter().map(|v| v * 4.0).collect();
        let x3 = normalize(&g3, m, n, 5, 1e-8);
        assert!(x.iter().zip(&x3).all(|(a, b)| (a - b).abs() < 1e-9));
    }
}
