//! The oracle of a whole GPU optimizer step: any reference optimizer — or a mix, as a hybrid
//! is — over many tensors, with the step guard (clip to a global norm, skip on non-finite) and
//! a learning-rate multiplier from a schedule. Each tensor carries its own [`TensorRule`]
//! (config and state), so per-group hyperparameters and hybrids need nothing special.

use super::tensor::{PerTensor, Tensor, TensorRule};
use crate::guard::{self, GuardDecision};
use crate::{check_len, RefError};

/// A whole optimizer as the CPU sees it: [`MultiOptimizer`] for per-tensor optimizers,
/// `mfac::Whole` for M-FAC.
pub trait ReferenceOptimizer: Send {
    /// One step: guard, then every tensor's update with lr = base lr × `lr_multiplier`.
    /// `hvps` (one per tensor) is for the optimizers that take Hessian-vector products. A
    /// skipped step changes nothing.
    fn step_with(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        hvps: Option<&[Vec<f32>]>,
    ) -> Result<GuardDecision, RefError>;

    /// Sophia's Hessian update on every tensor that keeps one, under the same guard as a step
    /// (clipping scales the estimate like a gradient). `probes[i]` is tensor i's probe.
    fn update_hessian(
        &mut self,
        estimates: &[Vec<f32>],
        probes: Option<&[Vec<f32>]>,
    ) -> Result<GuardDecision, RefError>;

    /// Tensor `i`'s state fields by PyTorch name.
    fn fields(&self, i: usize) -> Vec<(&'static str, &[f32])>;

    /// Clipping (`None`: off) and the non-finite check.
    fn set_guard(&mut self, max_grad_norm: Option<f64>, skip_non_finite: bool);
}

/// Per-tensor optimizers over a list of tensors.
#[derive(Debug)]
pub struct MultiOptimizer {
    pub tensors: Vec<Box<dyn TensorRule>>,
    pub max_grad_norm: Option<f64>,
    pub skip_non_finite: bool,
}

impl MultiOptimizer {
    /// Tensor `i` is updated by `tensors[i]`; the guard skips non-finite steps and does not clip.
    pub fn new(tensors: Vec<Box<dyn TensorRule>>) -> Self {
        MultiOptimizer {
            tensors,
            max_grad_norm: None,
            skip_non_finite: true,
        }
    }

    /// One config for tensors of the given shapes (slots 0, 1, …).
    pub fn uniform<C: PerTensor>(config: C, shapes: &[Vec<usize>]) -> Result<Self, RefError> {
        let peers: Vec<(usize, &[usize])> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| (i, &s[..]))
            .collect();
        let tensors = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Tensor::boxed_among(config.clone(), s, i, &peers))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(tensors))
    }

    /// [`ReferenceOptimizer::step_with`] without Hessian-vector products.
    pub fn step(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
    ) -> Result<GuardDecision, RefError> {
        self.step_with(lr_multiplier, params, grads, None)
    }

    fn check(&self, what: &'static str, n: usize) -> Result<(), RefError> {
        check_len(what, self.tensors.len(), n)
    }
}

impl ReferenceOptimizer for MultiOptimizer {
    fn step_with(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        hvps: Option<&[Vec<f32>]>,
    ) -> Result<GuardDecision, RefError> {
        self.check("params", params.len())?;
        self.check("grads", grads.len())?;
        for (p, g) in params.iter().zip(grads) {
            check_len("grad", p.len(), g.len())?;
        }
        if let Some(h) = hvps {
            self.check("hessian-vector products", h.len())?;
        }
        let inputs = grads.iter().chain(hvps.into_iter().flatten());
        let decision = guard::decide_with_inputs(
            grads.iter().map(|g| &g[..]),
            inputs.map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let g = guard::clipped(g, decision.clip_coef);
            let rule = &mut self.tensors[i];
            let lr = rule.lr() * lr_multiplier;
            rule.step(lr, p, &g, hvps.map(|h| &h[i][..]))?;
        }
        Ok(decision)
    }

    fn update_hessian(
        &mut self,
        estimates: &[Vec<f32>],
        probes: Option<&[Vec<f32>]>,
    ) -> Result<GuardDecision, RefError> {
        self.check("estimates", estimates.len())?;
        let decision = guard::decide(
            estimates.iter().map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        for (i, e) in estimates.iter().enumerate() {
            let e = guard::clipped(e, decision.clip_coef);
            self.tensors[i].update_hessian(&e, probes.map(|p| &p[i][..]))?;
        }
        Ok(decision)
    }

    fn fields(&self, i: usize) -> Vec<(&'static str, &[f32])> {
        self.tensors.get(i).map_or_else(Vec::new, |t| t.fields())
    }

    fn set_guard(&mut self, max_grad_norm: Option<f64>, skip_non_finite: bool) {
        self.max_grad_norm = max_grad_norm;
        self.skip_non_finite = skip_non_finite;
    }
}
