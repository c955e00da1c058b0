//! Curvature estimates the second-order optimizers consume, computed from the CPU model.
//!
//! - Sophia-G's Gauss–Newton–Bartlett estimate: sample labels ŷ from the model's own softmax
//!   and backpropagate the loss on ŷ through the same forward; Sophia squares this gradient
//!   (times the batch size) on the GPU. Its expectation is the Gauss–Newton diagonal.
//! - Hessian-vector products (AdaHessian's and SophiaH's Hutchinson probes) by central
//!   differences of gradients: `Hv ≈ (∇L(θ + h·v) − ∇L(θ − h·v)) / 2h`.
//!
//!   Error: truncation `h²/6 · ∇³L[v, v, v]`-sized, rounding `≈ ε·‖∇L‖/h`. Balancing the two gives
//!   `h ∝ ε^(1/3)`, so the step is `h = ε^(1/3) · (1 + ‖θ‖₂) / ‖v‖₂` (ε = the float type's
//!   machine epsilon, 4.9e-3 for f32), i.e. a perturbation of relative size ≈ ε^(1/3)
//!   in θ. The estimate then has relative error ≈ ε^(2/3) ≈ 2.4e-5 on smooth losses. The test
//!   checks the f32 product against an f64 one to 5e-2 relative in norm: f32 gradients carry
//!   ~1e-6 relative noise, amplified by 1/h.

use crate::data::Batch;
use crate::error::Result;
use crate::layers::Real;
use crate::model::{Activations, Gpt};
use rand::Rng;

/// Labels sampled row by row from `acts.probs` (the softmax of the last forward).
pub fn sample_labels<F: Real, R: Rng>(acts: &Activations<F>, vocab: usize, rng: &mut R) -> Vec<u32> {
    acts.probs
        .chunks_exact(vocab)
        .map(|p| {
            let u = F::c(rng.random::<f64>());
            let mut acc = F::zero();
            for (j, &pj) in p.iter().enumerate() {
                acc = acc + pj;
                if u < acc {
                    return j as u32;
                }
            }
            (vocab - 1) as u32
        })
        .collect()
}

/// Sophia-G's estimate: the gradient of the loss on labels sampled from the model, reusing
/// the forward already in `acts` (one extra backward pass).
pub fn gnb_gradient<F: Real, R: Rng>(
    model: &Gpt<F>,
    acts: &mut Activations<F>,
    tokens: &[u32],
    rng: &mut R,
    grads: &mut [Vec<F>],
) -> Result<()> {
    let sampled = sample_labels(acts, model.cfg.vocab, rng);
    model.backward(acts, tokens, &sampled, grads)
}

fn norm<F: Real>(xs: &[Vec<F>]) -> f64 {
    xs.iter()
        .flat_map(|x| x.iter())
        .map(|&v| {
            let v = v.to_f64().unwrap_or(0.0);
            v * v
        })
        .sum::<f64>()
        .sqrt()
}

/// The finite-difference step for direction `v` at `model`'s parameters (see the module docs).
pub fn hvp_step<F: Real>(model: &Gpt<F>, v: &[Vec<F>]) -> f64 {
    let eps = F::epsilon().to_f64().unwrap_or(1e-7);
    eps.cbrt() * (1.0 + norm(&model.params)) / norm(v).max(f64::MIN_POSITIVE)
}

/// `H·v` of the mean loss on `batch`, by central differences of two extra forward/backward
/// passes; `scratch` is a model of the same shape (its parameters are overwritten).
pub fn hvp<F: Real>(
    model: &Gpt<F>,
    scratch: &mut Gpt<F>,
    acts: &mut Activations<F>,
    batch: &Batch,
    v: &[Vec<F>],
    out: &mut [Vec<F>],
) -> Result<()> {
    let h = hvp_step(model, v);
    let mut minus = model.zeros_like();
    for (sign, grads) in [(1.0, &mut *out), (-1.0, &mut minus)] {
        let hs = F::c(sign * h);
        for ((s, p), d) in scratch.params.iter_mut().zip(&model.params).zip(v) {
            for ((si, &pi), &di) in s.iter_mut().zip(p).zip(d) {
                *si = pi + hs * di;
            }
        }
        scratch.forward(acts, &batch.tokens, &batch.targets)?;
        scratch.backward(acts, &batch.tokens, &batch.targets, grads)?;
    }
    let inv = F::c(0.5 / h);
    for (o, m) in out.iter_mut().zip(&minus) {
        for (oi, &mi) in o.iter_mut().zip(m) {
            *oi = (*oi - mi) * inv;
        }
    }
    Ok(())
}
