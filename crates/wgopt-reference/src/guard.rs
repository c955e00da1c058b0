//! Step guard: global gradient-norm clipping and the non-finite check.
//!
//! Semantics of `torch.nn.utils.clip_grad_norm_` (norm_type 2, foreach path): the total norm is
//! the 2-norm of all gradients together, `clip_coef = max_norm / (total_norm + 1e-6)`, clamped
//! to at most 1, and every gradient is multiplied by it (also when it is exactly 1). A step whose
//! gradients hold a NaN or an infinity is skipped entirely, like AMP's `found_inf`.

/// Sum of squares of one gradient tensor, accumulated in f64 so the oracle is exact to f32
/// rounding whatever the order the GPU sums in.
pub fn sum_of_squares(g: &[f32]) -> f64 {
    g.iter().map(|&x| (x as f64) * (x as f64)).sum()
}

/// True when every element is finite.
pub fn all_finite(g: &[f32]) -> bool {
    g.iter().all(|x| x.is_finite())
}

/// The 2-norm over several tensors, as `clip_grad_norm_` computes it.
pub fn global_norm<'a>(grads: impl IntoIterator<Item = &'a [f32]>) -> f64 {
    grads.into_iter().map(sum_of_squares).sum::<f64>().sqrt()
}

/// `min(1, max_norm / (total_norm + 1e-6))`, rounded to f32 as torch holds it in a tensor.
pub fn clip_coefficient(total_norm: f64, max_norm: f64) -> f32 {
    let coef = (max_norm / (total_norm + 1e-6)) as f32;
    coef.min(1.0)
}

/// The ℓ1 norm Σ|g| over several tensors (f64 accumulation).
pub fn global_l1<'a>(grads: impl IntoIterator<Item = &'a [f32]>) -> f64 {
    grads
        .into_iter()
        .flat_map(|g| g.iter())
        .map(|&x| (x as f64).abs())
        .sum()
}

/// What the guard decided for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardDecision {
    /// Global gradient 2-norm (before clipping).
    pub grad_norm: f64,
    /// Global gradient ℓ1 norm (before clipping).
    pub grad_norm_l1: f64,
    /// Factor applied to every gradient (1 when clipping is off).
    pub clip_coef: f32,
    /// The step is skipped because some gradient is not finite.
    pub skip: bool,
}

/// Evaluates the guard over all gradients of an optimizer.
pub fn decide<'a>(
    grads: impl IntoIterator<Item = &'a [f32]> + Clone,
    max_norm: Option<f64>,
    skip_non_finite: bool,
) -> GuardDecision {
    let finite = grads.clone().into_iter().all(all_finite);
    let grad_norm_l1 = global_l1(grads.clone());
    let grad_norm = global_norm(grads);
    let clip_coef = match max_norm {
        Some(m) => clip_coefficient(grad_norm, m),
        None => 1.0,
    };
    GuardDecision {
        grad_norm,
        grad_norm_l1,
        clip_coef,
        skip: skip_non_finite && !finite,
    }
}

/// As [`decide`], with the non-finite check over `checked` (the gradients and any per-step
/// inputs, such as Hessian-vector products, which count toward no norm).
pub fn decide_with_inputs<'a>(
    grads: impl IntoIterator<Item = &'a [f32]> + Clone,
    checked: impl IntoIterator<Item = &'a [f32]>,
    max_norm: Option<f64>,
    skip_non_finite: bool,
) -> GuardDecision {
    let finite = checked.into_iter().all(all_finite);
    GuardDecision {
        skip: skip_non_finite && !finite,
        ..decide(grads, max_norm, false)
    }
}

/// Multiplies a gradient by the clip coefficient, into `out` (the GPU never writes gradients).
pub fn clipped(g: &[f32], clip_coef: f32) -> Vec<f32> {
    g.iter().map(|&x| x * clip_coef).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_matches_torch_formula() {
        // ‖(3,4)‖ = 5; max_norm 1 → coef = 1/(5+1e-6).
        let g = [3.0f32, 4.0];
        let d = decide([&g[..]], Some(1.0), true);
        assert_eq!(d.grad_norm, 5.0);
        assert_eq!(d.clip_coef, (1.0 / (5.0 + 1e-6)) as f32);
        assert!(!d.skip);
        // Below the threshold the coefficient clamps to exactly 1.
        assert_eq!(decide([&g[..]], Some(10.0), true).clip_coef, 1.0);
    }

    #[test]
    fn non_finite_skips_only_when_asked() {
        let g = [1.0f32, f32::NAN];
        assert!(decide([&g[..]], None, true).skip);
        assert!(!decide([&g[..]], None, false).skip);
        let h = [f32::INFINITY];
        assert!(decide([&g[..1], &h[..]], None, true).skip);
    }
}
