//! Muon exactly as KellerJordan/Muon `muon_update` + `Muon.step`: EMA momentum
//! (`momentum.lerp_(grad, 1 − β)`), the Nesterov blend (`grad.lerp_(momentum, β)`), conv
//! filters flattened to `shape[0] × prod(rest)`, Newton–Schulz (5 steps of the quintic by
//! default), the update scaled by `sqrt(max(1, shape[-2]/shape[-1]))` of the original shape
//! (the reference's conv quirk included) or by Moonlight's `0.2·sqrt(max(m, n))`, then decoupled
//! decay with the unscaled lr and `p −= lr·update`. The reference runs Newton–Schulz in bf16;
//! this oracle runs it in f64 (the GPU in f32).
//!
//! ROOT (huawei-noah ROOT/example_train.py) is this same pipeline configured by
//! [`MuonConfig::root`]: sum-form momentum (`buf = μ·buf + g`, Nesterov `g + μ·buf`), the
//! per-matrix quantile soft-threshold before Newton–Schulz (see
//! [`soft_threshold_clamp`](crate::linalg::soft_threshold_clamp)), per-shape coefficients and
//! Moonlight's scale.

use crate::linalg::{newton_schulz, soft_threshold_clamp, NsSchedule, Precision};
use crate::{check_len, RefError};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// How the orthogonalised update is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MuonScale {
    /// Keller Jordan's `sqrt(max(1, rows/cols))` (rows/cols = the last two dims of the shape).
    Original,
    /// Moonlight's `0.2·sqrt(max(rows, cols))`: update RMS ≈ 0.2, like AdamW's, so AdamW's lr
    /// and weight decay carry over.
    MatchRmsAdamW,
}

/// How the momentum buffer accumulates gradients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MomentumForm {
    /// Muon's EMA: `buf.lerp_(g, 1 − β)`; Nesterov `g.lerp_(buf, β)`.
    #[default]
    Ema,
    /// ROOT's sum: `buf = β·buf + g`; Nesterov `g + β·buf`.
    Sum,
}

/// Hyperparameters of Muon (reference defaults: lr 0.02, momentum 0.95, no decay, Nesterov,
/// 5 steps of the quintic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MuonConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub ns_steps: usize,
    pub scale: MuonScale,
    pub schedule: NsSchedule,
    /// EMA (Muon) or sum (ROOT) momentum.
    #[serde(default)]
    pub momentum_form: MomentumForm,
    /// ROOT's outlier split: clamp each matrix at this quantile of its |update| (+1e-9)
    /// before Newton–Schulz. `None` (Muon) does not clamp.
    #[serde(default)]
    pub clamp_quantile: Option<f64>,
    /// Storage of the Newton–Schulz iterates on the GPU (f16 needs SHADER_F16); the oracle
    /// ignores it (f64 throughout).
    #[serde(default)]
    pub ns_precision: Precision,
}

impl Default for MuonConfig {
    fn default() -> Self {
        MuonConfig {
            lr: 0.02,
            momentum: 0.95,
            weight_decay: 0.0,
            nesterov: true,
            ns_steps: 5,
            scale: MuonScale::Original,
            schedule: NsSchedule::Muon,
            momentum_form: MomentumForm::Ema,
            clamp_quantile: None,
            ns_precision: Precision::F32,
        }
    }
}

impl MuonConfig {
    /// ROOT's defaults (example_train.py): lr 1e-3, weight decay 0.1, momentum 0.95 in sum
    /// form with Nesterov, 5 steps with ROOT's per-shape coefficients (wgopt's fit for the
    /// shapes its table lacks), the 0.9-quantile clamp, Moonlight's `0.2·sqrt(max(m, n))` scale.
    pub fn root() -> Self {
        MuonConfig {
            lr: 1e-3,
            momentum: 0.95,
            weight_decay: 0.1,
            nesterov: true,
            ns_steps: 5,
            scale: MuonScale::MatchRmsAdamW,
            schedule: NsSchedule::RootOrFitted,
            momentum_form: MomentumForm::Sum,
            clamp_quantile: Some(0.9),
            ns_precision: Precision::F32,
        }
    }

    /// True for ROOT-style configurations (they clamp outliers).
    pub fn is_root(&self) -> bool {
        self.clamp_quantile.is_some()
    }

    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(RefError::InvalidHyperparameter(format!(
                "momentum must be in [0, 1), got {}",
                self.momentum
            )));
        }
        if let Some(q) = self.clamp_quantile {
            if !(0.0..=1.0).contains(&q) {
                return Err(RefError::InvalidHyperparameter(format!(
                    "clamp_quantile must be in [0, 1], got {q}"
                )));
            }
        }
        Ok(())
    }

    /// The scale factor for a parameter of this shape.
    pub fn scale_for(&self, shape: &[usize]) -> f64 {
        let n = shape.len();
        let (r, c) = (shape[n - 2] as f64, shape[n - 1] as f64);
        match self.scale {
            MuonScale::Original => (r / c).max(1.0).sqrt(),
            MuonScale::MatchRmsAdamW => {
                let (rows, cols) = matrix_dims(shape);
                0.2 * (rows.max(cols) as f64).sqrt()
            }
        }
    }
}

/// (rows, cols) of the matrices Newton–Schulz sees: the last two dims for 2-D and 3-D, and
/// `shape[0] × prod(rest)` for 4-D and more.
pub fn matrix_dims(shape: &[usize]) -> (usize, usize) {
    match shape {
        [r, c] | [_, r, c] => (*r, *c),
        [r, rest @ ..] => (*r, rest.iter().product()),
        [] => (0, 0),
    }
}

/// torch.lerp: `self + w·(end − self)` for w < 0.5, `end − (end − self)·(1 − w)` otherwise.
pub fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

/// Per-parameter state.
#[derive(Debug, Clone, PartialEq)]
pub struct MuonState {
    pub momentum_buffer: Vec<f32>,
}

impl MuonState {
    pub fn new(len: usize) -> Self {
        MuonState {
            momentum_buffer: vec![0.0; len],
        }
    }
}

/// One Muon step on a parameter of shape `shape` (at least 2-D).
pub fn step(
    cfg: &MuonConfig,
    lr: f64,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut MuonState,
) -> Result<(), RefError> {
    if shape.len() < 2 {
        return Err(RefError::InvalidHyperparameter(format!(
            "Muon needs parameters with at least 2 dimensions, got shape {shape:?}"
        )));
    }
    check_len("param", shape.iter().product(), p.len())?;
    check_len("grad", p.len(), g.len())?;
    check_len("momentum_buffer", p.len(), st.momentum_buffer.len())?;
    let beta = cfg.momentum as f32;
    let one_minus_beta = (1.0 - cfg.momentum) as f32;
    let mut update = vec![0.0f32; p.len()];
    for i in 0..p.len() {
        let (m, u) = match cfg.momentum_form {
            MomentumForm::Ema => {
                let m = lerp(st.momentum_buffer[i], g[i], one_minus_beta);
                (m, if cfg.nesterov { lerp(g[i], m, beta) } else { m })
            }
            MomentumForm::Sum => {
                let m = beta * st.momentum_buffer[i] + g[i];
                (m, if cfg.nesterov { g[i] + beta * m } else { m })
            }
        };
        st.momentum_buffer[i] = m;
        update[i] = u;
    }
    let (rows, cols) = matrix_dims(shape);
    let batch = p.len() / (rows * cols);
    let coefficients = cfg.schedule.coefficients(rows, cols, cfg.ns_steps);
    let scale = cfg.scale_for(shape) as f32;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let neg_lr = (-lr) as f32;
    for b in 0..batch {
        let range = b * rows * cols..(b + 1) * rows * cols;
        if let Some(q) = cfg.clamp_quantile {
            soft_threshold_clamp(&mut update[range.clone()], q)?;
        }
        let m = Array2::from_shape_fn((rows, cols), |(i, j)| {
            update[range.start + i * cols + j] as f64
        });
        let o = newton_schulz(m.view(), &coefficients, cfg.schedule.norm_factor());
        for (k, v) in o.iter().enumerate() {
            let i = range.start + k;
            let u = (*v as f32) * scale;
            p[i] = p[i] * decay + neg_lr * u;
        }
    }
    Ok(())
}

crate::optim::per_tensor!(
    MuonConfig,
    MuonState,
    new: |cfg, shape, slot| MuonState::new(shape.iter().product()),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, shape, p, g, st),
    fields: |st| vec![("momentum_buffer", &st.momentum_buffer[..])],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_lerp_branches() {
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 0.75), 2.5);
    }

    #[test]
    fn scale_rules_and_conv_quirk() {
        let c = MuonConfig::default();
        assert_eq!(c.scale_for(&[8, 2]), 2.0);
        assert_eq!(c.scale_for(&[2, 8]), 1.0);
        // 4-D: the reference uses shape[-2]/shape[-1] = kh/kw of the original filter.
        assert_eq!(c.scale_for(&[64, 32, 3, 3]), 1.0);
        let m = MuonConfig {
            scale: MuonScale::MatchRmsAdamW,
            ..c
        };
        assert_eq!(m.scale_for(&[64, 32, 3, 3]), 0.2 * (288f64).sqrt());
    }

    #[test]
    fn first_step_moves_by_scaled_orthogonal_update_and_zero_grad_is_finite() {
        let cfg = MuonConfig::default();
        let mut p = vec![0.0f32; 6];
        let mut st = MuonState::new(6);
        step(&cfg, 0.02, &[2, 3], &mut p, &[0.0; 6], &mut st).unwrap();
        assert!(p.iter().all(|x| *x == 0.0));
        let e = step(&cfg, 0.02, &[6], &mut p, &[0.0; 6], &mut st);
        assert!(e.is_err());
    }
}
