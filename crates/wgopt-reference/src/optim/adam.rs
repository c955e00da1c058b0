//! Adam and AdamW exactly as `torch.optim.Adam` / `torch.optim.AdamW` (single-tensor path).
//!
//! AdamW is Adam with `decoupled_weight_decay` (the way torch ≥ 2.6 implements it too): the
//! parameter is first multiplied by `1 - lr·wd`; plain Adam instead adds `wd·p` to the gradient
//! (L2) so that the decay goes through the moments. With amsgrad the running maximum is kept of
//! the raw, un-bias-corrected `exp_avg_sq`, as torch's code does (its docs say otherwise).

use crate::optim::muon::lerp;
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of Adam / AdamW (torch names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW when true, Adam with L2 decay when false.
    pub decoupled_weight_decay: bool,
    pub amsgrad: bool,
    pub maximize: bool,
    /// ROOT's internal AdamW instead of torch's: `v.lerp_(g², 1 − β2)`, eps added to the raw
    /// `sqrt(v)`, and the step `lr·sqrt(bc2)/bc1` (torch Adam with eps' = eps/sqrt(bc2)).
    #[serde(default)]
    pub root_fallback: bool,
}

impl AdamConfig {
    /// `torch.optim.Adam` defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no decay.
    pub fn adam() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            amsgrad: false,
            maximize: false,
            root_fallback: false,
        }
    }

    /// `torch.optim.AdamW` defaults: as Adam but weight_decay 1e-2, decoupled.
    pub fn adamw() -> Self {
        AdamConfig {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Self::adam()
        }
    }

    /// ROOT's fallback for the parameters it does not orthogonalise (example_train.py):
    /// betas (0.9, 0.95), eps 1e-8, weight decay 0.1 (on every parameter), lr 1e-3.
    pub fn root_fallback() -> Self {
        AdamConfig {
            betas: (0.9, 0.95),
            weight_decay: 0.1,
            root_fallback: true,
            ..Self::adamw()
        }
    }

    /// Rejects what torch's constructor rejects.
    pub fn validate(&self) -> Result<(), RefError> {
        let bad = |m: String| Err(RefError::InvalidHyperparameter(m));
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        for (i, b) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("beta{} must be in [0, 1), got {b}", i + 1));
            }
        }
        crate::non_negative("weight_decay", self.weight_decay)?;
        Ok(())
    }
}

/// Per-tensor state, torch's field names.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
    pub max_exp_avg_sq: Option<Vec<f32>>,
}

impl AdamState {
    pub fn new(len: usize, amsgrad: bool) -> Self {
        AdamState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            max_exp_avg_sq: amsgrad.then(|| vec![0.0; len]),
        }
    }
}

/// One Adam/AdamW step on one tensor with learning rate `lr` (the scheduled value).
pub fn step(
    cfg: &AdamConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut AdamState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    if let Some(vmax) = &st.max_exp_avg_sq {
        check_len("max_exp_avg_sq", p.len(), vmax.len())?;
    }
    st.step += 1;
    let t = st.step as i32;
    let (beta1, beta2) = cfg.betas;
    // Scalars in f64 as Python computes them, rounded once to f32 as torch does when it
    // combines a Python float with an f32 tensor.
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let wd = cfg.weight_decay as f32;
    let one_minus_beta1 = (1.0 - beta1) as f32;
    let beta2_f = beta2 as f32;
    let one_minus_beta2 = (1.0 - beta2) as f32;
    let bias_correction1 = 1.0 - beta1.powi(t);
    let bias_correction2 = 1.0 - beta2.powi(t);
    let step_size = (lr / bias_correction1) as f32;
    let bias_correction2_sqrt = bias_correction2.sqrt() as f32;
    let root_step_size = (lr * bias_correction2.sqrt() / bias_correction1) as f32;
    let eps = cfg.eps as f32;

    for i in 0..p.len() {
        let mut gi = if cfg.maximize { -g[i] } else { g[i] };
        if cfg.weight_decay != 0.0 {
            if cfg.decoupled_weight_decay {
                p[i] *= decay;
            } else {
                gi += wd * p[i];
            }
        }
        // exp_avg.lerp_(grad, 1 - beta1)
        let m = lerp(st.exp_avg[i], gi, one_minus_beta1);
        let v = if cfg.root_fallback {
            lerp(st.exp_avg_sq[i], gi * gi, one_minus_beta2)
        } else {
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            st.exp_avg_sq[i] * beta2_f + one_minus_beta2 * (gi * gi)
        };
        st.exp_avg[i] = m;
        st.exp_avg_sq[i] = v;
        let v_used = match &mut st.max_exp_avg_sq {
            Some(vmax) => {
                vmax[i] = vmax[i].max(v);
                vmax[i]
            }
            None => v,
        };
        if cfg.root_fallback {
            p[i] += -root_step_size * (m / (eps + v_used.sqrt()));
            continue;
        }
        let denom = v_used.sqrt() / bias_correction2_sqrt + eps;
        // param.addcdiv_(exp_avg, denom, value=-step_size), CUDA form: p + α·(m / d).
        p[i] += -step_size * (m / denom);
    }
    Ok(())
}

crate::optim::per_tensor!(
    AdamConfig,
    AdamState,
    new: |cfg, shape, slot| AdamState::new(shape.iter().product(), cfg.amsgrad),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| {
        let mut v = vec![
            ("exp_avg", &st.exp_avg[..]),
            ("exp_avg_sq", &st.exp_avg_sq[..]),
        ];
        if let Some(m) = &st.max_exp_avg_sq {
            v.push(("max_exp_avg_sq", &m[..]));
        }
        v
    },
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_adamw_step_is_lr_sign_plus_decay() {
        // Spec identity: Δp = −lr·g/(|g|+eps) after the decoupled decay.
        let cfg = AdamConfig::adamw();
        let mut p = vec![1.0f32, -2.0, 0.5];
        let g = [0.3f32, -4.0, 1e-3];
        let before = p.clone();
        let mut st = AdamState::new(3, false);
        step(&cfg, 1e-3, &mut p, &g, &mut st).unwrap();
        for i in 0..3 {
            let decayed = before[i] * (1.0 - 1e-3 * 1e-2) as f32;
            let expect = decayed as f64 - 1e-3 * g[i] as f64 / (g[i].abs() as f64 + 1e-8);
            assert!(
                (p[i] as f64 - expect).abs() < 1e-7,
                "{i}: {} vs {expect}",
                p[i]
            );
        }
    }

    #[test]
    fn root_fallback_is_adam_with_eps_over_sqrt_bc2() {
        // Spec: ROOT's placement equals torch's with eps' = eps/sqrt(bc2) (up to rounding).
        let root = AdamConfig {
            eps: 1e-3,
            ..AdamConfig::root_fallback()
        };
        let (mut p, mut q) = (vec![0.5f32, -1.0], vec![0.5f32, -1.0]);
        let (mut a, mut b) = (AdamState::new(2, false), AdamState::new(2, false));
        for t in 1..=3 {
            let g = [0.01f32 * t as f32, -0.02];
            step(&root, 1e-2, &mut p, &g, &mut a).unwrap();
            let torch = AdamConfig {
                eps: 1e-3 / (1.0 - 0.95f64.powi(t)).sqrt(),
                root_fallback: false,
                ..root
            };
            step(&torch, 1e-2, &mut q, &g, &mut b).unwrap();
        }
        for i in 0..2 {
            assert!((p[i] - q[i]).abs() < 1e-6, "{} vs {}", p[i], q[i]);
        }
    }

    #[test]
    fn amsgrad_keeps_max_of_raw_second_moment() {
        let cfg = AdamConfig {
            amsgrad: true,
            ..AdamConfig::adam()
        };
        let mut p = vec![0.0f32];
        let mut st = AdamState::new(1, true);
        step(&cfg, 1e-3, &mut p, &[10.0], &mut st).unwrap();
        step(&cfg, 1e-3, &mut p, &[0.0], &mut st).unwrap();
        let vmax = st.max_exp_avg_sq.as_ref().unwrap()[0];
        assert_eq!(vmax, (1.0 - 0.999f64) as f32 * 100.0);
        assert!(st.exp_avg_sq[0] < vmax);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut st = AdamState::new(2, false);
        let e = step(&AdamConfig::adam(), 1e-3, &mut [0.0; 2], &[0.0; 3], &mut st);
        assert!(matches!(
            e,
            Err(RefError::LengthMismatch { what: "grad", .. })
        ));
        assert_eq!(st.step, 0);
    }
}
