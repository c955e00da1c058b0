//! Lion as in google/automl `lion_pytorch.py`: decoupled decay first, the sign of the β1
//! interpolation as the update, and the momentum updated with β2 after the parameter.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of Lion (reference defaults: lr 1e-4, betas (0.9, 0.99), no decay).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LionConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub weight_decay: f64,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig {
            lr: 1e-4,
            betas: (0.9, 0.99),
            weight_decay: 0.0,
        }
    }
}

impl LionConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        let bad = |m: String| Err(RefError::InvalidHyperparameter(m));
        crate::non_negative("lr", self.lr)?;
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..=1.0).contains(&b) {
                return bad(format!("beta{} must be in [0, 1], got {b}", i + 1));
            }
        }
        crate::non_negative("weight_decay", self.weight_decay)?;
        Ok(())
    }
}

/// Per-tensor state: the momentum, named `exp_avg` as in the reference.
#[derive(Debug, Clone, PartialEq)]
pub struct LionState {
    pub exp_avg: Vec<f32>,
}

impl LionState {
    pub fn new(len: usize) -> Self {
        LionState {
            exp_avg: vec![0.0; len],
        }
    }
}

/// torch.sign: 0 maps to 0 (f32::signum would give ±1).
pub fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// One Lion step on one tensor.
pub fn step(
    cfg: &LionConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut LionState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let (b1, b2) = (cfg.betas.0 as f32, cfg.betas.1 as f32);
    let (c1, c2) = ((1.0 - cfg.betas.0) as f32, (1.0 - cfg.betas.1) as f32);
    let neg_lr = (-lr) as f32;
    for i in 0..p.len() {
        p[i] *= decay;
        let m = st.exp_avg[i];
        let c = m * b1 + g[i] * c1;
        p[i] += neg_lr * sign(c);
        st.exp_avg[i] = m * b2 + g[i] * c2;
    }
    Ok(())
}

crate::optim::per_tensor!(
    LionConfig,
    LionState,
    new: |cfg, shape, slot| LionState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| vec![("exp_avg", &st.exp_avg[..])],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nonzero_coordinate_moves_by_lr() {
        let mut p = vec![0.5f32, 0.5, 0.5];
        let mut st = LionState::new(3);
        step(
            &LionConfig::default(),
            0.25,
            &mut p,
            &[2.0, -1e-20, 0.0],
            &mut st,
        )
        .unwrap();
        assert_eq!(p, vec![0.25, 0.75, 0.5]);
    }
}
