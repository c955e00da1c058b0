//! diffGrad, the authors' fixed `diffGrad_v2.py`: Adam whose first moment is damped by the
//! friction `ξ = sigmoid(|g_{t−1} − g_t|)`, with eps on the un-corrected `sqrt(v)` and the step
//! `lr·sqrt(bc2)/bc1`; weight decay is L2 (added to the gradient, which the stored previous
//! gradient then includes). On step 1 the previous gradient is 0, so ξ = sigmoid(|g|).

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiffGradConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for DiffGradConfig {
    fn default() -> Self {
        DiffGradConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl DiffGradConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiffGradState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
    pub previous_grad: Vec<f32>,
}

impl DiffGradState {
    pub fn new(len: usize) -> Self {
        DiffGradState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            previous_grad: vec![0.0; len],
        }
    }
}

/// The friction coefficient, as the reference computes it: `1 / (1 + exp(−|prev − g|))`.
pub fn friction(prev: f32, g: f32) -> f32 {
    1.0 / (1.0 + (-(prev - g).abs()).exp())
}

pub fn step(
    cfg: &DiffGradConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut DiffGradState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    check_len("previous_grad", p.len(), st.previous_grad.len())?;
    st.step += 1;
    let t = st.step as i32;
    let (beta1, beta2) = cfg.betas;
    let step_size = (lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t))) as f32;
    let (b1, c1) = (beta1 as f32, (1.0 - beta1) as f32);
    let (b2, c2) = (beta2 as f32, (1.0 - beta2) as f32);
    let (eps, wd) = (cfg.eps as f32, cfg.weight_decay as f32);
    for i in 0..p.len() {
        let gi = if cfg.weight_decay != 0.0 {
            g[i] + wd * p[i]
        } else {
            g[i]
        };
        let m = st.exp_avg[i] * b1 + c1 * gi;
        let v = st.exp_avg_sq[i] * b2 + c2 * (gi * gi);
        st.exp_avg[i] = m;
        st.exp_avg_sq[i] = v;
        let xi = friction(st.previous_grad[i], gi);
        st.previous_grad[i] = gi;
        p[i] += -step_size * ((m * xi) / (v.sqrt() + eps));
    }
    Ok(())
}

crate::optim::per_tensor!(
    DiffGradConfig,
    DiffGradState,
    new: |cfg, shape, slot| DiffGradState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| vec![
        ("exp_avg", &st.exp_avg[..]),
        ("exp_avg_sq", &st.exp_avg_sq[..]),
        ("previous_grad", &st.previous_grad[..]),
    ],
);
