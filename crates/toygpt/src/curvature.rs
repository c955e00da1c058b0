//! Curvature estimates the second-order optimizers consume, computed from the CPU model.
//!
//! - Sophia-G's Gauss–Newton–Bartlett estimate: sample labels ŷ from the model's own softmax
//!   and backpropagate the loss on ŷ through the same forward; Sophia squares this gradient
//!   (times the batch size) on the GPU. Its expectation is the Gauss–Newton diagonal.
//! - Hessian-vector products (AdaHessian's and SophiaH's Hutchinson probes) by central
//!   differences of gradients: `Hv ≈ (∇L(θ + h·v) − ∇L(θ − h·v)) / 2h`.
//!
//!   Step: `h = 2·√ε · (1 + ‖θ‖₂) / ‖v‖₂` (ε = the float type's machine epsilon; the rule
//!   of Nocedal & Wright §8.1 for difference Hessian-vector products). The error is truncation
//!   `O(h²·∇³L)` plus rounding `O(ε·‖∇L‖/h)`; balancing them in theory gives `h ∝ ε^(1/3)`,
//!   but on this model the third derivatives are large relative to the tiny initial weights:
//!   measured against an f64 product on a 1-layer model, the f32 error is 13.7 % at the
//!   cube-root step, 1.3 % at 0.3× it, 0.15 % at 0.1× and 0.014 % at 0.03× (2√ε sits at ≈ 0.14×
//!   and measures 0.3 %). The test bounds it at 1 % relative in norm.

use crate::data::Batch;
use crate::error::Result;
use crate::layers::Real;
use crate::model::{Activations, Gpt};
use rand::Rng;

/// Labels sampled row by row from `acts.probs` (the softmax of the last forward).
pub fn sample_labels<F: Real, R: Rng>(
    acts: &Activations<F>,
    vocab: usize,
    rng: &mut R,
) -> Vec<u32> {
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
    2.0 * eps.sqrt() * (1.0 + norm(&model.params)) / norm(v).max(f64::MIN_POSITIVE)
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
    hvp_with_step(model, scratch, acts, batch, v, out, hvp_step(model, v))
}

/// [`hvp`] with an explicit finite-difference step `h`.
pub fn hvp_with_step<F: Real>(
    model: &Gpt<F>,
    scratch: &mut Gpt<F>,
    acts: &mut Activations<F>,
    batch: &Batch,
    v: &[Vec<F>],
    out: &mut [Vec<F>],
    h: f64,
) -> Result<()> {
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
