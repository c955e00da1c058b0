//! Batch-size-aware learning rates: when the batch grows from `base_batch` to `batch`, keep
//! the update's signal-to-noise behaviour by scaling the learning rate.
//!
//! - SGD (and momentum SGD): **linear** scaling, `lr·(batch/base_batch)` (Goyal et al. 2017,
//!   "Accurate, Large Minibatch SGD"): k times the batch averages k gradients, so k times the
//!   step keeps the distance travelled per example.
//! - Adaptive methods (Adam, AdamW, AdaBelief, Adan, AdaGrad, Sophia, …): **square-root**
//!   scaling, `lr·sqrt(batch/base_batch)` (Malladi et al. 2022, "On the SDEs and scaling rules
//!   for adaptive gradient algorithms"): the preconditioner divides by the gradient's RMS,
//!   whose noise part shrinks as 1/sqrt(batch), so the effective step must grow as its square
//!   root to follow the same SDE.

use crate::RefError;
use serde::{Deserialize, Serialize};

/// Which rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchScaling {
    Linear,
    Sqrt,
}

impl BatchScaling {
    /// The rule recommended for an optimizer by its registry name (linear for SGD, square root
    /// for the adaptive ones).
    pub fn for_optimizer(name: &str) -> BatchScaling {
        match name {
            "sgd" | "sgdp" => BatchScaling::Linear,
            _ => BatchScaling::Sqrt,
        }
    }

    /// The factor that multiplies the learning rate tuned at `base_batch` when training at
    /// `batch`.
    pub fn factor(self, base_batch: usize, batch: usize) -> Result<f64, RefError> {
        if base_batch == 0 || batch == 0 {
            return Err(RefError::InvalidHyperparameter(format!(
                "batch sizes must be >= 1, got base {base_batch}, batch {batch}"
            )));
        }
        let ratio = batch as f64 / base_batch as f64;
        Ok(match self {
            BatchScaling::Linear => ratio,
            BatchScaling::Sqrt => ratio.sqrt(),
        })
    }

    /// `lr` scaled from `base_batch` to `batch`.
    pub fn scale(self, lr: f64, base_batch: usize, batch: usize) -> Result<f64, RefError> {
        Ok(lr * self.factor(base_batch, batch)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_and_square_root_rules() {
        assert_eq!(BatchScaling::Linear.scale(0.1, 256, 1024).unwrap(), 0.4);
        assert_eq!(BatchScaling::Sqrt.scale(1e-3, 256, 1024).unwrap(), 2e-3);
        assert_eq!(BatchScaling::for_optimizer("sgd"), BatchScaling::Linear);
        assert_eq!(BatchScaling::for_optimizer("adamw"), BatchScaling::Sqrt);
        assert!(BatchScaling::Sqrt.factor(0, 4).is_err());
    }
}
