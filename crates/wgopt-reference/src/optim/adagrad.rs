//! AdaGrad exactly as `torch.optim.Adagrad` (single-tensor path): L2 decay through the
//! gradient, a learning rate decayed as `lr / (1 + (t − 1)·lr_decay)`, the accumulator `sum`
//! started at `initial_accumulator_value`, and eps outside the square root.
//!
//! Also the AdAdaGrad batch-size rule (Lau, Liu, Kolar 2024, "AdAdaGrad: Adaptive Batch Size
//! Schemes for Adaptive Gradient Methods"): grow the batch when the *norm test* fails, i.e.
//! when the variance of the mean gradient is large against its squared norm.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaGradConfig {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub initial_accumulator_value: f64,
    pub eps: f64,
    pub maximize: bool,
}

impl Default for AdaGradConfig {
    fn default() -> Self {
        AdaGradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdaGradConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("lr_decay", self.lr_decay)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        crate::non_negative("eps", self.eps)
    }

    /// The decayed learning rate of applied step `t` (torch's `clr`).
    pub fn clr(&self, lr: f64, t: u64) -> f64 {
        lr / (1.0 + (t as f64 - 1.0) * self.lr_decay)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdaGradState {
    pub step: u64,
    pub sum: Vec<f32>,
}

impl AdaGradState {
    pub fn new(len: usize, cfg: &AdaGradConfig) -> Self {
        AdaGradState {
            step: 0,
            sum: vec![cfg.initial_accumulator_value as f32; len],
        }
    }
}

pub fn step(
    cfg: &AdaGradConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut AdaGradState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("sum", p.len(), st.sum.len())?;
    st.step += 1;
    let neg_clr = (-cfg.clr(lr, st.step)) as f32;
    let (wd, eps) = (cfg.weight_decay as f32, cfg.eps as f32);
    for i in 0..p.len() {
        let mut gi = if cfg.maximize { -g[i] } else { g[i] };
        if cfg.weight_decay != 0.0 {
            gi += wd * p[i];
        }
        let s = st.sum[i] + gi * gi;
        st.sum[i] = s;
        p[i] += neg_clr * (gi / (s.sqrt() + eps));
    }
    Ok(())
}

/// The AdAdaGrad norm test for the next batch size.
///
/// Given `b ≥ 2` per-example (or per-micro-batch) gradients summarised by the sum of their
/// squared distances to their mean, `Σᵢ‖gᵢ − ḡ‖²`, and the mean's squared norm `‖ḡ‖²`, the
/// sample variance of the mean gradient is `Σᵢ‖gᵢ − ḡ‖² / (b(b − 1))`. The test passes when
/// that is at most `η²·‖ḡ‖²`; when it fails, the batch grows to the smallest size that would
/// pass with the same per-example variance: `⌈Σᵢ‖gᵢ − ḡ‖² / ((b − 1)·η²·‖ḡ‖²)⌉`, never
/// shrinking and capped at `max_batch`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NormTest {
    /// η: the tolerated ratio of gradient noise to signal (the paper uses values around 0.1–1).
    pub eta: f64,
    pub max_batch: usize,
}

impl NormTest {
    /// The batch size for the next step; `batch` is the current one.
    pub fn next_batch(
        &self,
        batch: usize,
        sum_sq_deviation: f64,
        mean_sq_norm: f64,
    ) -> Result<usize, RefError> {
        if batch < 2 {
            return Err(RefError::InvalidHyperparameter(
                "the norm test needs at least 2 gradients per batch".into(),
            ));
        }
        if self.eta.is_nan()
            || self.eta <= 0.0
            || !sum_sq_deviation.is_finite()
            || !mean_sq_norm.is_finite()
        {
            return Err(RefError::InvalidHyperparameter(format!(
                "norm test: eta {} must be > 0 and statistics finite ({sum_sq_deviation}, \
                 {mean_sq_norm})",
                self.eta
            )));
        }
        let b = batch as f64;
        let variance = sum_sq_deviation / (b * (b - 1.0));
        let bound = self.eta * self.eta * mean_sq_norm;
        if variance <= bound {
            return Ok(batch);
        }
        if bound == 0.0 {
            return Ok(self.max_batch.max(batch));
        }
        let needed = (sum_sq_deviation / ((b - 1.0) * bound)).ceil();
        Ok((needed.min(self.max_batch as f64) as usize).max(batch))
    }
}

crate::optim::per_tensor!(
    AdaGradConfig,
    AdaGradState,
    new: |cfg, shape, slot| AdaGradState::new(shape.iter().product(), cfg),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| vec![("sum", &st.sum[..])],
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The norm test keeps the batch while the mean gradient's variance is within η²‖ḡ‖², and
    /// otherwise grows it to the size at which it would be (capped, never shrinking).
    #[test]
    fn adadagrad_norm_test() {
        let t = NormTest {
            eta: 0.5,
            max_batch: 4096,
        };
        // b = 16, Σ‖gᵢ − ḡ‖² = 60: variance 60/(16·15) = 0.25; bound 0.25·‖ḡ‖².
        assert_eq!(t.next_batch(16, 60.0, 1.0).unwrap(), 16);
        // ‖ḡ‖² = 0.5: bound 0.125 < 0.25, so b' = ⌈60/(15·0.125)⌉ = 32.
        assert_eq!(t.next_batch(16, 60.0, 0.5).unwrap(), 32);
        assert_eq!(t.next_batch(16, 6e6, 0.5).unwrap(), 4096);
        assert_eq!(t.next_batch(16, 60.0, 0.0).unwrap(), 4096);
        assert!(t.next_batch(1, 1.0, 1.0).is_err());
        assert!(NormTest {
            eta: 0.0,
            max_batch: 8
        }
        .next_batch(4, 1.0, 1.0)
        .is_err());
    }
}
