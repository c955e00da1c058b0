//! RAdam exactly as `torch.optim.RAdam` (single-tensor path; Liu et al., ICLR 2020): Adam's
//! moments, and a step that is rectified by the variance of the adaptive learning rate. While
//! that variance is intractable (the approximated SMA length ρ_t ≤ 5, the first few steps) the
//! step is SGD with momentum on the bias-corrected first moment; after, it is Adam's step times
//! the rectification r_t, which tends to 1.
//!
//! torch's order, per element: maximize negates g; weight decay either multiplies p by
//! 1 − lr·wd (`decoupled_weight_decay`) or adds wd·p to g (L2); `exp_avg.lerp_(g, 1 − β1)`;
//! `exp_avg_sq.mul_(β2).addcmul_(g, g, value = 1 − β2)`; m̂ = m / bc1; then
//! `p −= m̂·lr·(√bc2 / (√v + ε))·r_t` or `p −= m̂·lr`. The scalars (bc1, √bc2, ρ_t, r_t) are
//! Python floats in torch: f64 here, rounded once to f32.

use crate::optim::muon::lerp;
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of RAdam (torch names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RAdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW-style decay (multiply p by 1 − lr·wd) instead of L2 on the gradient.
    #[serde(default)]
    pub decoupled_weight_decay: bool,
    #[serde(default)]
    pub maximize: bool,
}

impl Default for RAdamConfig {
    /// `torch.optim.RAdam` defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay.
    fn default() -> Self {
        RAdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl RAdamConfig {
    /// Rejects what torch's constructor rejects.
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)
    }
}

/// r_t at step t (from 1) when the adaptive step is tractable (ρ_t > 5), `None` before.
pub fn rectification(beta2: f64, t: u64) -> Option<f64> {
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let beta2_t = beta2.powi(t.min(i32::MAX as u64) as i32);
    let rho_t = rho_inf - 2.0 * t as f64 * beta2_t / (1.0 - beta2_t);
    (rho_t > 5.0).then(|| {
        ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt()
    })
}

/// Per-tensor state, torch's names.
#[derive(Debug, Clone, PartialEq)]
pub struct RAdamState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
}

impl RAdamState {
    pub fn new(len: usize) -> Self {
        RAdamState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
        }
    }
}

/// One RAdam step on one tensor with learning rate `lr` (the scheduled value).
pub fn step(
    cfg: &RAdamConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut RAdamState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    st.step += 1;
    let t = st.step.min(i32::MAX as u64) as i32;
    let (beta1, beta2) = cfg.betas;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let wd = cfg.weight_decay as f32;
    let (c1, b2, c2) = ((1.0 - beta1) as f32, beta2 as f32, (1.0 - beta2) as f32);
    let bias_correction1 = (1.0 - beta1.powi(t)) as f32;
    let bias_correction2_sqrt = (1.0 - beta2.powi(t)).sqrt() as f32;
    let rect = rectification(beta2, st.step).map(|r| r as f32);
    let (lr32, eps) = (lr as f32, cfg.eps as f32);
    for i in 0..p.len() {
        let mut gi = if cfg.maximize { -g[i] } else { g[i] };
        if cfg.weight_decay != 0.0 {
            if cfg.decoupled_weight_decay {
                p[i] *= decay;
            } else {
                gi += wd * p[i];
            }
        }
        let m = lerp(st.exp_avg[i], gi, c1);
        let v = st.exp_avg_sq[i] * b2 + c2 * (gi * gi);
        st.exp_avg[i] = m;
        st.exp_avg_sq[i] = v;
        let m_hat = m / bias_correction1;
        p[i] -= match rect {
            Some(r) => m_hat * lr32 * (bias_correction2_sqrt / (v.sqrt() + eps)) * r,
            None => m_hat * lr32,
        };
    }
    Ok(())
}

crate::optim::per_tensor!(
    RAdamConfig,
    RAdamState,
    new: |cfg, shape, slot| RAdamState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| vec![
        ("exp_avg", &st.exp_avg[..]),
        ("exp_avg_sq", &st.exp_avg_sq[..]),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    /// With torch's defaults (β2 = 0.999, ρ∞ = 1999) ρ_t crosses 5 between t = 5 and t = 6,
    /// and r_t rises towards 1; torch's formula by hand at t = 6 and t = 1000.
    #[test]
    fn rectification_follows_torch() {
        for t in 1..=5 {
            assert_eq!(rectification(0.999, t), None, "t = {t}");
        }
        let rho = |t: f64| 1999.0 - 2.0 * t * 0.999f64.powf(t) / (1.0 - 0.999f64.powf(t));
        for t in [6u64, 1000] {
            let r = rho(t as f64);
            let want = ((r - 4.0) * (r - 2.0) * 1999.0 / (1995.0 * 1997.0 * r)).sqrt();
            let got = rectification(0.999, t).unwrap();
            assert!((got - want).abs() < 1e-12, "t = {t}: {got} vs {want}");
        }
        assert!(rectification(0.999, 6).unwrap() < 0.1);
        assert!(rectification(0.999, 1_000_000).unwrap() > 0.999);
    }

    /// The first step (ρ_1 = 1 ≤ 5) is SGD on m̂ = g: p − lr·g exactly.
    #[test]
    fn first_step_is_lr_times_gradient() {
        let cfg = RAdamConfig::default();
        let mut p = vec![1.0f32, -2.0, 0.5];
        let g = [0.3f32, -0.7, 2.0];
        let mut st = RAdamState::new(3);
        step(&cfg, 0.1, &mut p, &g, &mut st).unwrap();
        for ((p, g), p0) in p.iter().zip(g).zip([1.0f32, -2.0, 0.5]) {
            assert!(
                (p - (p0 - 0.1 * g)).abs() <= 1e-6,
                "{p} vs {}",
                p0 - 0.1 * g
            );
        }
    }
}
