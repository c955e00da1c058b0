//! Any reference optimizer over many tensors: per-tensor hyperparameters (from the tensor's
//! group), the step guard (clip to a global norm, skip on non-finite), and a learning-rate
//! multiplier from a schedule. This is the oracle for a whole GPU optimizer step.

use super::{adam, lion, sgd, AdamConfig, AdamState, LionConfig, LionState, SgdConfig, SgdState};
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
}

impl Hparams {
    /// The base learning rate (the schedule multiplies it).
    pub fn lr(&self) -> f64 {
        match self {
            Hparams::Sgd(c) => c.lr,
            Hparams::Adam(c) => c.lr,
            Hparams::Lion(c) => c.lr,
        }
    }

    pub fn validate(&self) -> Result<(), RefError> {
        match self {
            Hparams::Sgd(c) => c.validate(),
            Hparams::Adam(c) => c.validate(),
            Hparams::Lion(c) => c.validate(),
        }
    }

    fn new_state(&self, len: usize) -> TensorState {
        match self {
            Hparams::Sgd(_) => TensorState::Sgd(SgdState::default()),
            Hparams::Adam(c) => TensorState::Adam(AdamState::new(len, c.amsgrad)),
            Hparams::Lion(_) => TensorState::Lion(LionState::new(len)),
        }
    }
}

/// The state of one tensor, whichever family it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorState {
    Sgd(SgdState),
    Adam(AdamState),
    Lion(LionState),
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
                _ => unreachable!("states are created from their hparams"),
            }
        }
        Ok(decision)
    }
}
