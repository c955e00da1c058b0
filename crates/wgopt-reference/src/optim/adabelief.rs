//! AdaBelief as in the authors' `adabelief_pytorch` 0.2.x: the second moment tracks the
//! *belief* `(g − m)²` (with the new m), eps is added to that state in place every step,
//! decoupled decay by default, optional amsgrad, and RAdam-style rectification that makes the
//! first steps plain momentum steps (with β2 = 0.999, steps 1–5).

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters (the package's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaBeliefConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    /// Added inside the state every step and to the denominator (default 1e-16).
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
    /// Decoupled (AdamW-style) decay when true, L2 through the gradient when false.
    pub weight_decouple: bool,
    /// With decoupled decay: `p·(1 − wd)` instead of `p·(1 − lr·wd)`.
    pub fixed_decay: bool,
    pub rectify: bool,
    /// While the variance is not tractable (ρ_t < 5), take SGD-momentum steps instead of none.
    pub degenerated_to_sgd: bool,
}

impl Default for AdaBeliefConfig {
    fn default() -> Self {
        AdaBeliefConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-16,
            weight_decay: 0.0,
            amsgrad: false,
            weight_decouple: true,
            fixed_decay: false,
            rectify: true,
            degenerated_to_sgd: true,
        }
    }
}

impl AdaBeliefConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)
    }
}

/// How step `t` moves the parameter (computed on the host in f64).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RectifiedStep {
    /// `p −= lr·k·m / (sqrt(s) + eps)` (rectified; k includes both bias corrections).
    Adaptive(f64),
    /// `p −= lr·k·m` (ρ_t < 5 with degenerated_to_sgd).
    Momentum(f64),
    /// `p −= (lr/bc1)·m / (sqrt(s)/sqrt(bc2) + eps)` (rectify off).
    Plain,
    /// No update this step (ρ_t < 5 without degenerated_to_sgd).
    None,
}

/// The step kind and its multiplier at applied step `t` (the package's buffered rho logic).
pub fn rectified_step(cfg: &AdaBeliefConfig, t: u64) -> RectifiedStep {
    if !cfg.rectify {
        return RectifiedStep::Plain;
    }
    let (beta1, beta2) = cfg.betas;
    let t_i = t as i32;
    let beta2_t = beta2.powi(t_i);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * t as f64 * beta2_t / (1.0 - beta2_t);
    let bc1 = 1.0 - beta1.powi(t_i);
    if rho_t >= 5.0 {
        let r = (1.0 - beta2_t) * (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / rho_t * rho_inf
            / (rho_inf - 2.0);
        RectifiedStep::Adaptive(r.sqrt() / bc1)
    } else if cfg.degenerated_to_sgd {
        RectifiedStep::Momentum(1.0 / bc1)
    } else {
        RectifiedStep::None
    }
}

/// Per-tensor state, the package's names.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaBeliefState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_var: Vec<f32>,
    pub max_exp_avg_var: Option<Vec<f32>>,
}

impl AdaBeliefState {
    pub fn new(len: usize, amsgrad: bool) -> Self {
        AdaBeliefState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_var: vec![0.0; len],
            max_exp_avg_var: amsgrad.then(|| vec![0.0; len]),
        }
    }
}

/// One AdaBelief step on one tensor.
pub fn step(
    cfg: &AdaBeliefConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut AdaBeliefState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_var", p.len(), st.exp_avg_var.len())?;
    if let Some(m) = &st.max_exp_avg_var {
        check_len("max_exp_avg_var", p.len(), m.len())?;
    }
    st.step += 1;
    let t = st.step;
    let (beta1, beta2) = cfg.betas;
    let decay = if cfg.fixed_decay {
        1.0 - cfg.weight_decay
    } else {
        1.0 - lr * cfg.weight_decay
    } as f32;
    let wd = cfg.weight_decay as f32;
    let (b1, c1) = (beta1 as f32, (1.0 - beta1) as f32);
    let (b2, c2) = (beta2 as f32, (1.0 - beta2) as f32);
    let eps = cfg.eps as f32;
    let bc1 = 1.0 - beta1.powi(t as i32);
    let bc2_sqrt = (1.0 - beta2.powi(t as i32)).sqrt() as f32;
    let kind = rectified_step(cfg, t);
    for i in 0..p.len() {
        let mut gi = g[i];
        if cfg.weight_decouple {
            p[i] *= decay;
        } else if cfg.weight_decay != 0.0 {
            gi += wd * p[i];
        }
        let m = st.exp_avg[i] * b1 + c1 * gi;
        st.exp_avg[i] = m;
        let r = gi - m;
        let s = st.exp_avg_var[i] * b2 + c2 * (r * r) + eps;
        st.exp_avg_var[i] = s;
        let s_used = match &mut st.max_exp_avg_var {
            Some(mx) => {
                mx[i] = mx[i].max(s);
                mx[i]
            }
            None => s,
        };
        match kind {
            RectifiedStep::Plain => {
                let denom = s_used.sqrt() / bc2_sqrt + eps;
                p[i] += (-(lr / bc1) as f32) * (m / denom);
            }
            // The package's rectified branch divides by the raw state, also with amsgrad.
            RectifiedStep::Adaptive(k) => p[i] += (-(lr * k) as f32) * (m / (s.sqrt() + eps)),
            RectifiedStep::Momentum(k) => p[i] += (-(lr * k) as f32) * m,
            RectifiedStep::None => {}
        }
    }
    Ok(())
}

crate::optim::per_tensor!(
    AdaBeliefConfig,
    AdaBeliefState,
    new: |cfg, shape, slot| AdaBeliefState::new(shape.iter().product(), cfg.amsgrad),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| {
        let mut v = vec![
            ("exp_avg", &st.exp_avg[..]),
            ("exp_avg_var", &st.exp_avg_var[..]),
        ];
        if let Some(m) = &st.max_exp_avg_var {
            v.push(("max_exp_avg_var", &m[..]));
        }
        v
    },
);
