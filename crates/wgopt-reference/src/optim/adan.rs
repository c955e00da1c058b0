//! Adan as in sail-sg/Adan `adan.py`: three moments (gradient, gradient difference, squared
//! Nesterov-corrected gradient), bias corrections on each, and proximal weight decay
//! `p/(1 + lr·wd)` unless `no_prox`. The code's betas weigh the history (the paper's β are
//! `1 −` these). The previous gradient is stored negated as `neg_pre_grad`, the reference's
//! state name, and on the first step it is the gradient itself, so the first difference is 0.
//!
//! Adan's optional global-norm clip (`max_grad_norm`) is the step guard's clip here
//! (`GuardConfig::max_grad_norm`): both scale every gradient by `min(1, c/‖g‖)` before the step
//! (Adan divides by `‖g‖ + eps`, the guard by `‖g‖ + 1e-6`, as torch's clip_grad_norm_).

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdanConfig {
    pub lr: f64,
    pub betas: (f64, f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// Decoupled decay `p·(1 − lr·wd)` before the update instead of the proximal division.
    pub no_prox: bool,
}

impl Default for AdanConfig {
    fn default() -> Self {
        AdanConfig {
            lr: 1e-3,
            betas: (0.98, 0.92, 0.99),
            eps: 1e-8,
            weight_decay: 0.0,
            no_prox: false,
        }
    }
}

impl AdanConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1, self.betas.2])?;
        crate::non_negative("weight_decay", self.weight_decay)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdanState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_diff: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
    pub neg_pre_grad: Vec<f32>,
}

impl AdanState {
    pub fn new(len: usize) -> Self {
        AdanState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_diff: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            neg_pre_grad: vec![0.0; len],
        }
    }
}

/// Per-step scalars (f64 on the host): (lr/bc1, lr·β2/bc2, sqrt(bc3)).
pub fn step_scalars(cfg: &AdanConfig, lr: f64, t: u64) -> (f64, f64, f64) {
    let (b1, b2, b3) = cfg.betas;
    let t = t as i32;
    (
        lr / (1.0 - b1.powi(t)),
        lr * b2 / (1.0 - b2.powi(t)),
        (1.0 - b3.powi(t)).sqrt(),
    )
}

pub fn step(
    cfg: &AdanConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut AdanState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    for (n, v) in [
        ("exp_avg", &st.exp_avg),
        ("exp_avg_diff", &st.exp_avg_diff),
        ("exp_avg_sq", &st.exp_avg_sq),
        ("neg_pre_grad", &st.neg_pre_grad),
    ] {
        check_len(n, p.len(), v.len())?;
    }
    st.step += 1;
    let (b1, b2, b3) = cfg.betas;
    let (step1, step2, bc3_sqrt) = step_scalars(cfg, lr, st.step);
    let (step1, step2, bc3_sqrt) = (step1 as f32, step2 as f32, bc3_sqrt as f32);
    let (b1f, b2f, b3f) = (b1 as f32, b2 as f32, b3 as f32);
    let (c1, c2, c3) = ((1.0 - b1) as f32, (1.0 - b2) as f32, (1.0 - b3) as f32);
    let eps = cfg.eps as f32;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let prox = (1.0 + lr * cfg.weight_decay) as f32;
    for i in 0..p.len() {
        let gi = g[i];
        let neg_prev = if st.step == 1 {
            -gi
        } else {
            st.neg_pre_grad[i]
        };
        let d = gi + neg_prev;
        let m = st.exp_avg[i] * b1f + c1 * gi;
        let v = st.exp_avg_diff[i] * b2f + c2 * d;
        let z = gi + b2f * d;
        let n = st.exp_avg_sq[i] * b3f + c3 * (z * z);
        st.exp_avg[i] = m;
        st.exp_avg_diff[i] = v;
        st.exp_avg_sq[i] = n;
        let denom = n.sqrt() / bc3_sqrt + eps;
        let update = (step1 * m + step2 * v) / denom;
        if cfg.no_prox {
            p[i] = p[i] * decay - update;
        } else {
            p[i] = (p[i] - update) / prox;
        }
        st.neg_pre_grad[i] = -gi;
    }
    Ok(())
}

crate::optim::per_tensor!(
    AdanConfig,
    AdanState,
    new: |cfg, shape, slot| AdanState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| vec![
        ("exp_avg", &st.exp_avg[..]),
        ("exp_avg_diff", &st.exp_avg_diff[..]),
        ("exp_avg_sq", &st.exp_avg_sq[..]),
        ("neg_pre_grad", &st.neg_pre_grad[..]),
    ],
);
