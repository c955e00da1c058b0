//! FRUGAL (gradient splitting; the `CoordOptimizer` with `coord_choice='columns'`, read from
//! a fork of philip-zmushko/FRUGAL): each 2-D weight keeps AdamW state on a random subset of
//! `⌊n_cols·density⌋` columns, refreshed every `update_gap` steps (statistics reset, so bias
//! correction restarts), and moves the other columns by signSGD (or SGD, or not at all). Every
//! parameter is decayed by `1 − lr·wd` first. Parameters that are not 2-D are plain AdamW.
//!
//! Subset choice, identical on the GPU: column j of parameter slot s in refresh period π gets
//! the key `philox4x32_10((j, s, π, 0x46524741), seed)[0]`; the k columns with the smallest
//! (key, j) are active. Period π = ⌊(t − 1)/update_gap⌋ for applied step t.

use crate::random::{key, philox4x32_10};
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Philox counter word 3 of FRUGAL's column keys ("FRGA").
pub const FRUGAL_STREAM: u32 = 0x4652_4741;

/// What moves the columns outside the state-full subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveRule {
    /// `p −= lr·scale·sign(g)` (the default).
    SignSgd,
    /// `p −= lr·scale·g`.
    Sgd,
    /// No update.
    No,
}

impl InactiveRule {
    pub fn code(self) -> u32 {
        match self {
            InactiveRule::SignSgd => 0,
            InactiveRule::Sgd => 1,
            InactiveRule::No => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrugalConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// ρ: share of columns with AdamW state.
    pub density: f64,
    /// T: steps between subset refreshes.
    pub update_gap: u32,
    pub inactive_update_rule: InactiveRule,
    pub inactive_lr_scale: f64,
    pub proj_params_lr_scale: f64,
    /// Seed of the column choice.
    pub seed: u64,
}

impl Default for FrugalConfig {
    fn default() -> Self {
        FrugalConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            density: 0.25,
            update_gap: 200,
            inactive_update_rule: InactiveRule::SignSgd,
            inactive_lr_scale: 1.0,
            proj_params_lr_scale: 1.0,
            seed: 0,
        }
    }
}

impl FrugalConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("inactive_lr_scale", self.inactive_lr_scale)?;
        crate::non_negative("proj_params_lr_scale", self.proj_params_lr_scale)?;
        if !(0.0..=1.0).contains(&self.density) {
            return Err(RefError::InvalidHyperparameter(format!(
                "density must be in [0, 1], got {}",
                self.density
            )));
        }
        if self.update_gap == 0 {
            return Err(RefError::InvalidHyperparameter(
                "update_gap must be >= 1".into(),
            ));
        }
        Ok(())
    }

    /// Active columns of a matrix with `n_cols` columns.
    pub fn active_columns(&self, n_cols: usize) -> usize {
        (n_cols as f64 * self.density).floor() as usize
    }
}

/// The active-column mask of parameter slot `slot` in refresh period `period`.
pub fn select_columns(seed: u64, slot: u32, period: u32, n_cols: usize, k: usize) -> Vec<bool> {
    let keys: Vec<(u32, usize)> = (0..n_cols)
        .map(|j| {
            (
                philox4x32_10([j as u32, slot, period, FRUGAL_STREAM], key(seed))[0],
                j,
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let mut mask = vec![false; n_cols];
    for &(_, j) in sorted.iter().take(k) {
        mask[j] = true;
    }
    mask
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrugalState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
    pub mask: Vec<bool>,
}

impl FrugalState {
    pub fn new(len: usize) -> Self {
        FrugalState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            mask: Vec::new(),
        }
    }
}

/// One FRUGAL step on parameter slot `slot` of shape `shape`.
#[allow(clippy::too_many_arguments)]
pub fn step(
    cfg: &FrugalConfig,
    lr: f64,
    slot: u32,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut FrugalState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    st.step += 1;
    let projected = shape.len() == 2;
    let gap = cfg.update_gap as u64;
    let local = if projected {
        let since = (st.step - 1) % gap;
        if since == 0 {
            let n_cols = shape[1];
            st.mask = select_columns(
                cfg.seed,
                slot,
                ((st.step - 1) / gap) as u32,
                n_cols,
                cfg.active_columns(n_cols),
            );
            st.exp_avg.fill(0.0);
            st.exp_avg_sq.fill(0.0);
        }
        since + 1
    } else {
        st.step
    };
    let (beta1, beta2) = cfg.betas;
    let scale = if projected {
        cfg.proj_params_lr_scale
    } else {
        1.0
    };
    let step_size = (lr * scale / (1.0 - beta1.powi(local as i32))) as f32;
    let bc2_sqrt = (1.0 - beta2.powi(local as i32)).sqrt() as f32;
    let inactive = (lr * scale * cfg.inactive_lr_scale) as f32;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let (b1, c1, b2, c2) = (
        beta1 as f32,
        (1.0 - beta1) as f32,
        beta2 as f32,
        (1.0 - beta2) as f32,
    );
    let eps = cfg.eps as f32;
    let n_cols = if projected { shape[1] } else { 1 };
    for i in 0..p.len() {
        p[i] *= decay;
        let active = !projected || st.mask[i % n_cols];
        if active {
            let m = st.exp_avg[i] * b1 + c1 * g[i];
            let v = st.exp_avg_sq[i] * b2 + c2 * (g[i] * g[i]);
            st.exp_avg[i] = m;
            st.exp_avg_sq[i] = v;
            p[i] -= step_size * (m / (v.sqrt() / bc2_sqrt + eps));
        } else {
            match cfg.inactive_update_rule {
                InactiveRule::SignSgd => p[i] -= inactive * super::lion::sign(g[i]),
                InactiveRule::Sgd => p[i] -= inactive * g[i],
                InactiveRule::No => {}
            }
        }
    }
    Ok(())
}

// FRUGAL's state is keyed to its layout slot (the column choice depends on it).
crate::optim::per_tensor!(
    FrugalConfig,
    (u32, FrugalState),
    new: |cfg, shape, slot| (slot as u32, FrugalState::new(shape.iter().product())),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, st.0, shape, p, g, &mut st.1),
    fields: |st| vec![("exp_avg", &st.1.exp_avg[..]), ("exp_avg_sq", &st.1.exp_avg_sq[..])],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_choice_is_exact_and_varies_by_period() {
        let a = select_columns(7, 2, 0, 100, 25);
        assert_eq!(a.iter().filter(|&&x| x).count(), 25);
        let b = select_columns(7, 2, 1, 100, 25);
        assert_ne!(a, b);
        assert_eq!(a, select_columns(7, 2, 0, 100, 25));
        assert!(select_columns(7, 2, 0, 10, 0).iter().all(|&x| !x));
    }
}
