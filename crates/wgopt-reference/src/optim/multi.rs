//! Any reference optimizer over many tensors: per-tensor hyperparameters (from the tensor's
//! group), the step guard (clip to a global norm, skip on non-finite), and a learning-rate
//! multiplier from a schedule. This is the oracle for a whole GPU optimizer step.

use super::{
    adabelief, adagrad, adam, adan, diffgrad, lion, sgd, sophia, AdaBeliefConfig, AdaBeliefState,
    AdaGradConfig, AdaGradState, AdamConfig, AdamState, AdanConfig, AdanState, DiffGradConfig,
    DiffGradState, LionConfig, LionState, SgdConfig, SgdState, SophiaConfig, SophiaState,
};
use crate::guard::{self, GuardDecision};
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of one elementwise optimizer family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "optimizer", rename_all = "lowercase")]
pub enum Hparams {
    Sgd(SgdConfig),
    Adam(AdamConfig),
    Lion(LionConfig),
    AdaBelief(AdaBeliefConfig),
    Adan(AdanConfig),
    DiffGrad(DiffGradConfig),
    AdaGrad(AdaGradConfig),
    Sophia(SophiaConfig),
}

impl Hparams {
    /// The base learning rate (the schedule multiplies it).
    pub fn lr(&self) -> f64 {
        match self {
            Hparams::Sgd(c) => c.lr,
            Hparams::Adam(c) => c.lr,
            Hparams::Lion(c) => c.lr,
            Hparams::AdaBelief(c) => c.lr,
            Hparams::Adan(c) => c.lr,
            Hparams::DiffGrad(c) => c.lr,
            Hparams::AdaGrad(c) => c.lr,
            Hparams::Sophia(c) => c.lr,
        }
    }

    pub fn validate(&self) -> Result<(), RefError> {
        match self {
            Hparams::Sgd(c) => c.validate(),
            Hparams::Adam(c) => c.validate(),
            Hparams::Lion(c) => c.validate(),
            Hparams::AdaBelief(c) => c.validate(),
            Hparams::Adan(c) => c.validate(),
            Hparams::DiffGrad(c) => c.validate(),
            Hparams::AdaGrad(c) => c.validate(),
            Hparams::Sophia(c) => c.validate(),
        }
    }

    fn new_state(&self, len: usize) -> TensorState {
        match self {
            Hparams::Sgd(_) => TensorState::Sgd(SgdState::default()),
            Hparams::Adam(c) => TensorState::Adam(AdamState::new(len, c.amsgrad)),
            Hparams::Lion(_) => TensorState::Lion(LionState::new(len)),
            Hparams::AdaBelief(c) => TensorState::AdaBelief(AdaBeliefState::new(len, c.amsgrad)),
            Hparams::Adan(_) => TensorState::Adan(AdanState::new(len)),
            Hparams::DiffGrad(_) => TensorState::DiffGrad(DiffGradState::new(len)),
            Hparams::AdaGrad(c) => TensorState::AdaGrad(AdaGradState::new(len, c)),
            Hparams::Sophia(_) => TensorState::Sophia(SophiaState::new(len)),
        }
    }
}

/// The state of one tensor, whichever family it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorState {
    Sgd(SgdState),
    Adam(AdamState),
    Lion(LionState),
    AdaBelief(AdaBeliefState),
    Adan(AdanState),
    DiffGrad(DiffGradState),
    AdaGrad(AdaGradState),
    Sophia(SophiaState),
}

impl TensorState {
    /// State tensors by their PyTorch field names (what checkpoints store).
    pub fn fields(&self) -> Vec<(&'static str, &[f32])> {
        match self {
            TensorState::Sgd(s) => s
                .momentum_buffer
                .as_deref()
                .map(|b| vec![("momentum_buffer", b)])
                .unwrap_or_default(),
            TensorState::Adam(s) => {
                let mut v = vec![
                    ("exp_avg", &s.exp_avg[..]),
                    ("exp_avg_sq", &s.exp_avg_sq[..]),
                ];
                if let Some(m) = &s.max_exp_avg_sq {
                    v.push(("max_exp_avg_sq", &m[..]));
                }
                v
            }
            TensorState::Lion(s) => vec![("exp_avg", &s.exp_avg[..])],
            TensorState::AdaBelief(s) => {
                let mut v = vec![
                    ("exp_avg", &s.exp_avg[..]),
                    ("exp_avg_var", &s.exp_avg_var[..]),
                ];
                if let Some(m) = &s.max_exp_avg_var {
                    v.push(("max_exp_avg_var", &m[..]));
                }
                v
            }
            TensorState::Adan(s) => vec![
                ("exp_avg", &s.exp_avg[..]),
                ("exp_avg_diff", &s.exp_avg_diff[..]),
                ("exp_avg_sq", &s.exp_avg_sq[..]),
                ("neg_pre_grad", &s.neg_pre_grad[..]),
            ],
            TensorState::DiffGrad(s) => vec![
                ("exp_avg", &s.exp_avg[..]),
                ("exp_avg_sq", &s.exp_avg_sq[..]),
                ("previous_grad", &s.previous_grad[..]),
            ],
            TensorState::AdaGrad(s) => vec![("sum", &s.sum[..])],
            TensorState::Sophia(s) => {
                vec![("exp_avg", &s.exp_avg[..]), ("hessian", &s.hessian[..])]
            }
        }
    }
}

/// A whole optimizer over a list of tensors.
#[derive(Debug, Clone)]
pub struct MultiOptimizer {
    pub hparams: Vec<Hparams>,
    pub states: Vec<TensorState>,
    pub max_grad_norm: Option<f64>,
    pub skip_non_finite: bool,
}

impl MultiOptimizer {
    /// `hparams[i]` and `lens[i]` describe tensor `i`.
    pub fn new(hparams: Vec<Hparams>, lens: &[usize]) -> Result<Self, RefError> {
        check_len("hparams", lens.len(), hparams.len())?;
        for h in &hparams {
            h.validate()?;
        }
        let states = hparams
            .iter()
            .zip(lens)
            .map(|(h, &n)| h.new_state(n))
            .collect();
        Ok(MultiOptimizer {
            hparams,
            states,
            max_grad_norm: None,
            skip_non_finite: true,
        })
    }

    /// One step: guard, then every tensor's update with lr = base lr × `lr_multiplier`.
    /// A skipped step changes nothing (no state, no step count).
    pub fn step(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
    ) -> Result<GuardDecision, RefError> {
        check_len("params", self.states.len(), params.len())?;
        check_len("grads", self.states.len(), grads.len())?;
        for (p, g) in params.iter().zip(grads) {
            check_len("grad", p.len(), g.len())?;
        }
        let decision = guard::decide(
            grads.iter().map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let g = guard::clipped(g, decision.clip_coef);
            let lr = self.hparams[i].lr() * lr_multiplier;
            match (&self.hparams[i], &mut self.states[i]) {
                (Hparams::Sgd(c), TensorState::Sgd(s)) => sgd::step(c, lr, p, &g, s)?,
                (Hparams::Adam(c), TensorState::Adam(s)) => adam::step(c, lr, p, &g, s)?,
                (Hparams::Lion(c), TensorState::Lion(s)) => lion::step(c, lr, p, &g, s)?,
                (Hparams::AdaBelief(c), TensorState::AdaBelief(s)) => {
                    adabelief::step(c, lr, p, &g, s)?
                }
                (Hparams::Adan(c), TensorState::Adan(s)) => adan::step(c, lr, p, &g, s)?,
                (Hparams::DiffGrad(c), TensorState::DiffGrad(s)) => {
                    diffgrad::step(c, lr, p, &g, s)?
                }
                (Hparams::AdaGrad(c), TensorState::AdaGrad(s)) => adagrad::step(c, lr, p, &g, s)?,
                (Hparams::Sophia(c), TensorState::Sophia(s)) => sophia::step(c, lr, p, &g, s)?,
                _ => unreachable!("states are created from their hparams"),
            }
        }
        Ok(decision)
    }

    /// Sophia's Hessian update on every Sophia tensor, under the same guard as a step (an
    /// estimate with NaN/Inf changes nothing; clipping scales the estimate like a gradient).
    /// `probes[i]` is tensor i's probe (SophiaH) or ignored (SophiaG).
    pub fn update_hessian(
        &mut self,
        estimates: &[Vec<f32>],
        probes: Option<&[Vec<f32>]>,
    ) -> Result<GuardDecision, RefError> {
        check_len("estimates", self.states.len(), estimates.len())?;
        let decision = guard::decide(
            estimates.iter().map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        for (i, e) in estimates.iter().enumerate() {
            if let (Hparams::Sophia(c), TensorState::Sophia(s)) =
                (&self.hparams[i], &mut self.states[i])
            {
                let e = guard::clipped(e, decision.clip_coef);
                sophia::update_hessian(c, &e, probes.map(|p| &p[i][..]), s)?;
            }
        }
        Ok(decision)
    }
}
