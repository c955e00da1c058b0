//! AdamP and SGDP (clovaai/AdamP `adamp.py`, `sgdp.py`): Adam or SGD-momentum whose update is
//! projected onto the tangent space of scale-invariant weights.
//!
//! For a parameter with more than one dimension, the test runs first per channel (rows =
//! dim 0, the rest flattened), then over the whole layer: when the largest
//! `|cos(g_r, p_r)|` is below `delta / sqrt(row_length)`, the weight is treated as
//! scale-invariant, the radial component of the update is removed row by row
//! (`u_r −= p̂_r·⟨p̂_r, u_r⟩`, `p̂_r = p_r/(‖p_r‖ + eps)`), and weight decay is scaled by
//! `wd_ratio`. The cosine is torch's `cosine_similarity(x, y, eps)`, taken here as
//! `x·y / (max(‖x‖, eps)·max(‖y‖, eps))` (the forms differ only for norms below eps). SGDP
//! divides its decay by `1 − momentum`, as the reference does.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamPConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub delta: f64,
    pub wd_ratio: f64,
    pub nesterov: bool,
}

impl Default for AdamPConfig {
    fn default() -> Self {
        AdamPConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            delta: 0.1,
            wd_ratio: 0.1,
            nesterov: false,
        }
    }
}

impl AdamPConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("delta", self.delta)?;
        crate::non_negative("wd_ratio", self.wd_ratio)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdpConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub eps: f64,
    pub delta: f64,
    pub wd_ratio: f64,
}

impl Default for SgdpConfig {
    /// The reference requires lr; 0.1 is its ImageNet setting. Momentum 0.9 as in its examples.
    fn default() -> Self {
        SgdpConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            eps: 1e-8,
            delta: 0.1,
            wd_ratio: 0.1,
        }
    }
}

impl SgdpConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::betas_in_unit_interval(&[self.momentum]).map_err(|_| {
            RefError::InvalidHyperparameter(format!(
                "momentum must be in [0, 1), got {}",
                self.momentum
            ))
        })?;
        crate::non_negative("dampening", self.dampening)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("eps", self.eps)?;
        crate::non_negative("delta", self.delta)?;
        crate::non_negative("wd_ratio", self.wd_ratio)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdamPState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
}

impl AdamPState {
    pub fn new(len: usize) -> Self {
        AdamPState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SgdpState {
    pub momentum: Vec<f32>,
}

/// Which view the scale-invariance test chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    None,
    Channel,
    Layer,
}

/// Row sums in f64: (Σ g·p, Σ g², Σ p², Σ p·u) of each row.
fn row_sums(p: &[f32], g: &[f32], u: &[f32], row_len: usize) -> Vec<[f64; 4]> {
    (0..p.len() / row_len)
        .map(|r| {
            let mut s = [0f64; 4];
            for i in r * row_len..(r + 1) * row_len {
                let (p, g, u) = (p[i] as f64, g[i] as f64, u[i] as f64);
                s[0] += g * p;
                s[1] += g * g;
                s[2] += p * p;
                s[3] += p * u;
            }
            s
        })
        .collect()
}

fn cosine(s: &[f64; 4], eps: f64) -> f64 {
    (s[0] / (s[1].sqrt().max(eps) * s[2].sqrt().max(eps))).abs()
}

/// The test and the projection of `u` in place; returns the view used.
pub fn project(
    shape: &[usize],
    p: &[f32],
    g: &[f32],
    u: &mut [f32],
    delta: f64,
    eps: f64,
) -> Projection {
    if shape.len() < 2 || p.is_empty() {
        return Projection::None;
    }
    let channel_len = p.len() / shape[0];
    for (view, row_len) in [
        (Projection::Channel, channel_len),
        (Projection::Layer, p.len()),
    ] {
        let sums = row_sums(p, g, u, row_len);
        let max_cos = sums.iter().map(|s| cosine(s, eps)).fold(0.0, f64::max);
        if max_cos < delta / (row_len as f64).sqrt() {
            for (r, s) in sums.iter().enumerate() {
                let norm = s[2].sqrt() + eps;
                let coef = s[3] / (norm * norm);
                for i in r * row_len..(r + 1) * row_len {
                    u[i] -= (p[i] as f64 * coef) as f32;
                }
            }
            return view;
        }
    }
    Projection::None
}

/// One AdamP step on one tensor of shape `shape`; returns the projection used.
pub fn adamp_step(
    cfg: &AdamPConfig,
    lr: f64,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut AdamPState,
) -> Result<Projection, RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    st.step += 1;
    let t = st.step as i32;
    let (beta1, beta2) = cfg.betas;
    let (b1, c1) = (beta1 as f32, (1.0 - beta1) as f32);
    let (b2, c2) = (beta2 as f32, (1.0 - beta2) as f32);
    let bc2_sqrt = (1.0 - beta2.powi(t)).sqrt() as f32;
    let step_size = lr / (1.0 - beta1.powi(t));
    let eps = cfg.eps as f32;
    let mut u = vec![0f32; p.len()];
    for i in 0..p.len() {
        let m = st.exp_avg[i] * b1 + c1 * g[i];
        let v = st.exp_avg_sq[i] * b2 + c2 * (g[i] * g[i]);
        st.exp_avg[i] = m;
        st.exp_avg_sq[i] = v;
        let denom = v.sqrt() / bc2_sqrt + eps;
        u[i] = if cfg.nesterov {
            (b1 * m + c1 * g[i]) / denom
        } else {
            m / denom
        };
    }
    let view = project(shape, p, g, &mut u, cfg.delta, cfg.eps);
    let wr = if view == Projection::None {
        1.0
    } else {
        cfg.wd_ratio
    };
    let decay = (1.0 - lr * cfg.weight_decay * wr) as f32;
    let neg_step = (-step_size) as f32;
    for i in 0..p.len() {
        if cfg.weight_decay > 0.0 {
            p[i] *= decay;
        }
        p[i] += neg_step * u[i];
    }
    Ok(view)
}

/// One SGDP step on one tensor of shape `shape`.
pub fn sgdp_step(
    cfg: &SgdpConfig,
    lr: f64,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut SgdpState,
) -> Result<Projection, RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("momentum", p.len(), st.momentum.len())?;
    let (mu, damp) = (cfg.momentum as f32, (1.0 - cfg.dampening) as f32);
    let mut u = vec![0f32; p.len()];
    for i in 0..p.len() {
        let b = st.momentum[i] * mu + damp * g[i];
        st.momentum[i] = b;
        u[i] = if cfg.nesterov { g[i] + mu * b } else { b };
    }
    let view = project(shape, p, g, &mut u, cfg.delta, cfg.eps);
    let wr = if view == Projection::None {
        1.0
    } else {
        cfg.wd_ratio
    };
    let decay = (1.0 - lr * cfg.weight_decay * wr / (1.0 - cfg.momentum)) as f32;
    let neg_lr = (-lr) as f32;
    for i in 0..p.len() {
        if cfg.weight_decay != 0.0 {
            p[i] *= decay;
        }
        p[i] += neg_lr * u[i];
    }
    Ok(view)
}

crate::optim::per_tensor!(
    AdamPConfig,
    AdamPState,
    new: |cfg, shape, slot| AdamPState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| adamp_step(cfg, lr, shape, p, g, st).map(|_| ()),
    fields: |st| vec![("exp_avg", &st.exp_avg[..]), ("exp_avg_sq", &st.exp_avg_sq[..])],
);

crate::optim::per_tensor!(
    SgdpConfig,
    SgdpState,
    new: |cfg, shape, slot| SgdpState {
        momentum: vec![0.0; shape.iter().product()],
    },
    step: |cfg, lr, shape, p, g, st| sgdp_step(cfg, lr, shape, p, g, st).map(|_| ()),
    fields: |st| vec![("momentum", &st.momentum[..])],
);
