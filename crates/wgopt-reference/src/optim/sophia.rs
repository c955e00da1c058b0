//! Sophia (Liuhong99/Sophia): sign momentum clipped by a diagonal Hessian estimate.
//!
//! Two estimators, one update rule `p ← p(1 − lr·wd); m ← β1·m + (1 − β1)·g;
//! r = min(|m| / (scale·h + ε), 1); p ← p − step·sign(m)·r`:
//! - **SophiaG** (`sophia.py` @195a786, Gauss–Newton–Bartlett): `scale = ρ·bs` with `bs` the
//!   tokens per batch, `ε = 1e-15`, `step = lr` (no bias correction), and every k steps
//!   `h ← β2·h + (1 − β2)·ĝ⊙ĝ` where ĝ is the gradient of the loss on labels sampled from the
//!   model.
//! - **SophiaH** (older `sophia.py` @01af1834, Hutchinson): `scale = γ` (here `ρ·bs` with
//!   `bs = 1`), `h` enters as `relu(h)`, `ε = 1e-12`, `step = lr/(1 − β1^t)`, and the estimate
//!   is `u⊙(Hu)` for a Gaussian probe u: `h ← β2·h + (1 − β2)·u⊙Hu`.
//!
//! Until the first Hessian update h = 0, so r = 1: pure sign-momentum steps of size lr.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Which curvature estimate feeds `hessian`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SophiaEstimator {
    /// Gauss–Newton–Bartlett: the caller hands in ĝ (gradient on sampled labels).
    Gnb,
    /// Hutchinson: the caller hands in Hu for the probe u the optimizer drew.
    Hutchinson,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SophiaConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    /// ρ (SophiaG) or γ (SophiaH).
    pub rho: f64,
    /// The batch multiplier: tokens per batch for SophiaG (the reference's `bs`), 1 for SophiaH.
    pub bs: f64,
    pub weight_decay: f64,
    pub maximize: bool,
    pub estimator: SophiaEstimator,
    /// Steps between Hessian updates (k); the optimizer's `hessian_due` reads it.
    pub update_interval: u32,
}

impl SophiaConfig {
    /// SophiaG defaults of the reference (`step(bs=5120)`), k = 10.
    pub fn g() -> Self {
        SophiaConfig {
            lr: 1e-4,
            betas: (0.965, 0.99),
            rho: 0.04,
            bs: 5120.0,
            weight_decay: 0.1,
            maximize: false,
            estimator: SophiaEstimator::Gnb,
            update_interval: 10,
        }
    }

    /// SophiaH defaults of the older reference (γ = 10), k = 10.
    pub fn h() -> Self {
        SophiaConfig {
            lr: 1e-3,
            betas: (0.9, 0.99),
            rho: 10.0,
            bs: 1.0,
            weight_decay: 1e-2,
            maximize: false,
            estimator: SophiaEstimator::Hutchinson,
            update_interval: 10,
        }
    }

    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("rho", self.rho)?;
        if self.bs.is_nan() || self.bs <= 0.0 {
            return Err(RefError::InvalidHyperparameter(format!(
                "bs must be > 0, got {}",
                self.bs
            )));
        }
        if self.update_interval == 0 {
            return Err(RefError::InvalidHyperparameter(
                "update_interval must be >= 1".into(),
            ));
        }
        crate::non_negative("weight_decay", self.weight_decay)
    }

    /// The clip denominator's scale, `ρ·bs`.
    pub fn scale(&self) -> f64 {
        self.rho * self.bs
    }

    /// ε of the clip denominator.
    pub fn eps(&self) -> f64 {
        match self.estimator {
            SophiaEstimator::Gnb => 1e-15,
            SophiaEstimator::Hutchinson => 1e-12,
        }
    }

    /// The step size at applied step `t`.
    pub fn step_size(&self, lr: f64, t: u64) -> f64 {
        match self.estimator {
            SophiaEstimator::Gnb => lr,
            SophiaEstimator::Hutchinson => lr / (1.0 - self.betas.0.powi(t as i32)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SophiaState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub hessian: Vec<f32>,
}

impl SophiaState {
    pub fn new(len: usize) -> Self {
        SophiaState {
            step: 0,
            exp_avg: vec![0.0; len],
            hessian: vec![0.0; len],
        }
    }
}

/// One Sophia step on one tensor.
pub fn step(
    cfg: &SophiaConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut SophiaState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("hessian", p.len(), st.hessian.len())?;
    st.step += 1;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let (b1, c1) = (cfg.betas.0 as f32, (1.0 - cfg.betas.0) as f32);
    let scale = cfg.scale() as f32;
    let eps = cfg.eps() as f32;
    let neg_step = (-cfg.step_size(lr, st.step)) as f32;
    let relu = cfg.estimator == SophiaEstimator::Hutchinson;
    for i in 0..p.len() {
        let gi = if cfg.maximize { -g[i] } else { g[i] };
        p[i] *= decay;
        let m = st.exp_avg[i] * b1 + c1 * gi;
        st.exp_avg[i] = m;
        let h = if relu {
            st.hessian[i].max(0.0)
        } else {
            st.hessian[i]
        };
        let r = (m.abs() / (scale * h + eps)).min(1.0);
        p[i] += neg_step * (super::lion::sign(m) * r);
    }
    Ok(())
}

/// The Hessian EMA. `estimate` is ĝ (SophiaG; squared here) or Hu (SophiaH, multiplied by the
/// probe u here).
pub fn update_hessian(
    cfg: &SophiaConfig,
    estimate: &[f32],
    probe: Option<&[f32]>,
    st: &mut SophiaState,
) -> Result<(), RefError> {
    check_len("estimate", st.hessian.len(), estimate.len())?;
    let (b2, c2) = (cfg.betas.1 as f32, (1.0 - cfg.betas.1) as f32);
    match cfg.estimator {
        SophiaEstimator::Gnb => {
            for (h, &e) in st.hessian.iter_mut().zip(estimate) {
                *h = *h * b2 + c2 * (e * e);
            }
        }
        SophiaEstimator::Hutchinson => {
            let u = probe.ok_or_else(|| {
                RefError::InvalidHyperparameter("SophiaH needs the probe of its estimate".into())
            })?;
            check_len("probe", estimate.len(), u.len())?;
            for ((h, &e), &u) in st.hessian.iter_mut().zip(estimate).zip(u) {
                *h = *h * b2 + c2 * (u * e);
            }
        }
    }
    Ok(())
}

/// Share of coordinates the clip leaves alone (`|m| < scale·h`), the reference's `win_rate`
/// diagnostic.
pub fn win_rate(cfg: &SophiaConfig, states: &[&SophiaState]) -> f64 {
    let scale = cfg.scale() as f32;
    let (mut won, mut n) = (0usize, 0usize);
    for st in states {
        for (m, h) in st.exp_avg.iter().zip(&st.hessian) {
            n += 1;
            won += (m.abs() < scale * *h) as usize;
        }
    }
    if n == 0 {
        0.0
    } else {
        won as f64 / n as f64
    }
}

crate::optim::optimizer_config!(SophiaConfig);

impl crate::optim::PerTensor for SophiaConfig {
    type State = SophiaState;

    fn new_state(&self, shape: &[usize], _slot: usize) -> SophiaState {
        SophiaState::new(shape.iter().product())
    }

    fn step(
        &self,
        lr: f64,
        _shape: &[usize],
        p: &mut [f32],
        g: &[f32],
        _hvp: Option<&[f32]>,
        st: &mut SophiaState,
    ) -> Result<(), RefError> {
        step(self, lr, p, g, st)
    }

    fn fields(st: &SophiaState) -> Vec<(&'static str, &[f32])> {
        vec![("exp_avg", &st.exp_avg[..]), ("hessian", &st.hessian[..])]
    }
    fn update_hessian(
        &self,
        estimate: &[f32],
        probe: Option<&[f32]>,
        st: &mut SophiaState,
    ) -> Result<bool, RefError> {
        update_hessian(self, estimate, probe, st)?;
        Ok(true)
    }
}
