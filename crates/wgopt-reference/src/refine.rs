//! Learning-rate schedules by refinement (Defazio, Cutkosky, Mehta, Mishchenko, "When, Why
//! and How Much? Adaptive Learning Rate Scheduling by Refinement"; reference
//! facebookresearch/adaptive_scheduling, `find_closed_form_schedule` and the README's
//! median-filter recipe).
//!
//! From a first run's per-step gradient norms G_t (ℓ2 for SGD-like methods, Algorithm 1; ℓ1
//! for Adam-like ones, Algorithm 2):
//! 1. median-filter them: width 2⌊τT/2⌋ + 1, the sequence first padded at its end by twice
//!    the width with NumPy's `reflect` (mirrored without repeating the last value), the filter
//!    in scipy's `nearest` mode, the padding dropped again;
//! 2. weights w_t = Ĝ_t⁻² (ℓ2) or Ĝ_t⁻¹ (ℓ1);
//! 3. η_t = w_t · Σ_{p>t} w_p / w_{T−1}, η_{T−1} = 0 (the reference's closed form);
//! 4. scaled so the largest is 1 (a multiplier on the base learning rate).
//!
//! Constant norms give linear decay to zero, η_t ∝ T − 1 − t (exact up to a few ulp of
//! rounding in the sums).

use crate::RefError;

/// Which norm the recorded sequence holds, and so which weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// ℓ2 norms, weights Ĝ⁻² (SGD, momentum SGD: Algorithm 1).
    L2,
    /// ℓ1 norms, weights Ĝ⁻¹ (Adam-like methods: Algorithm 2).
    L1,
}

fn bad(msg: String) -> RefError {
    RefError::InvalidHyperparameter(msg)
}

/// Index `i` of NumPy's `reflect` padding of a length-`n` sequence (mirror without repeating
/// the edge, periodically when the padding is longer than the sequence).
fn reflect_index(i: usize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let j = i % period;
    if j < n {
        j
    } else {
        period - j
    }
}

/// The median filter of the reference's recipe (see the module docs): same length as `g`.
pub fn median_filter(g: &[f64], tau: f64) -> Vec<f64> {
    let n = g.len();
    let width = 2 * ((tau * n as f64) as usize / 2) + 1;
    let pad = 2 * width;
    let padded: Vec<f64> = (0..n + pad).map(|i| g[reflect_index(i, n)]).collect();
    let half = width / 2;
    let last = padded.len() - 1;
    let mut window = Vec::with_capacity(width);
    (0..n)
        .map(|i| {
            window.clear();
            // scipy's 'nearest': indices outside the array take the edge value.
            window.extend((0..width).map(|k| padded[(i + k).saturating_sub(half).min(last)]));
            window.sort_by(f64::total_cmp);
            window[half]
        })
        .collect()
}

/// The reference's `find_closed_form_schedule`: η_t = w_t Σ_{p>t} w_p / w_{T−1}, η_{T−1} = 0.
pub fn closed_form(weights: &[f64]) -> Vec<f64> {
    let t = weights.len();
    let mut tail = vec![0.0; t + 1];
    for i in (0..t).rev() {
        tail[i] = tail[i + 1] + weights[i];
    }
    let last = weights[t - 1];
    (0..t)
        .map(|i| {
            if i + 1 == t {
                0.0
            } else {
                weights[i] * tail[i + 1] / last
            }
        })
        .collect()
}

/// The refined multipliers (largest 1) from recorded gradient norms, median-filtered over a
/// fraction `tau` of the run (0 filters nothing). Needs at least 2 finite, positive norms.
pub fn refine(norms: &[f64], kind: NormKind, tau: f64) -> Result<Vec<f64>, RefError> {
    if norms.len() < 2 {
        return Err(bad(format!(
            "refinement needs at least 2 recorded gradient norms, got {}",
            norms.len()
        )));
    }
    if let Some(i) = norms.iter().position(|g| !(g.is_finite() && *g > 0.0)) {
        return Err(bad(format!(
            "gradient norm {i} is {}: every recorded norm must be finite and > 0",
            norms[i]
        )));
    }
    if !(0.0..=1.0).contains(&tau) {
        return Err(bad(format!("tau must be in [0, 1], got {tau}")));
    }
    let filtered = median_filter(norms, tau);
    let weights: Vec<f64> = filtered
        .iter()
        .map(|g| match kind {
            NormKind::L2 => g.powi(-2),
            NormKind::L1 => 1.0 / g,
        })
        .collect();
    let mut eta = closed_form(&weights);
    let peak = eta.iter().copied().fold(0.0, f64::max);
    if !(peak.is_finite() && peak > 0.0) {
        return Err(bad(format!("the refined schedule's peak is {peak}")));
    }
    eta.iter_mut().for_each(|e| *e /= peak);
    Ok(eta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact up to the rounding of the tail sums and the final division (a few ulp: 1e-14).
    #[test]
    fn constant_norms_give_exactly_linear_decay() {
        for (t, kind) in [
            (2usize, NormKind::L2),
            (7, NormKind::L1),
            (300, NormKind::L2),
        ] {
            let eta = refine(&vec![0.37; t], kind, 0.1).unwrap();
            for (i, e) in eta.iter().enumerate() {
                let want = (t - 1 - i) as f64 / (t - 1) as f64;
                assert!((e - want).abs() <= 1e-14, "T={t} t={i}: {e} vs {want}");
            }
        }
    }

    #[test]
    fn median_filter_follows_numpy_reflect_and_scipy_nearest() {
        // width 2⌊0.5·5/2⌋+1 = 3; padded (reflect, 6 more): 1 9 2 8 3 | 8 2 9 1 9 2;
        // medians of 3 with 'nearest' at the front: [1 1 9]→1, [1 9 2]→2, [9 2 8]→8,
        // [2 8 3]→3, [8 3 8]→8.
        assert_eq!(
            median_filter(&[1.0, 9.0, 2.0, 8.0, 3.0], 0.5),
            vec![1.0, 2.0, 8.0, 3.0, 8.0]
        );
        // τ = 0: width 1, the identity.
        assert_eq!(median_filter(&[3.0, 1.0, 2.0], 0.0), vec![3.0, 1.0, 2.0]);
        // Padding longer than the sequence reflects periodically.
        assert_eq!(reflect_index(5, 3), 1);
        assert_eq!(reflect_index(6, 3), 2);
    }

    #[test]
    fn closed_form_matches_the_reference_formula() {
        // w = [1, 2, 4]: tail sums [7, 6, 4]; η = [1·6/4, 2·4/4, 0].
        assert_eq!(closed_form(&[1.0, 2.0, 4.0]), vec![1.5, 2.0, 0.0]);
    }

    #[test]
    fn growing_norms_decay_earlier_and_bad_input_is_refused() {
        // Norms that grow late in the run (as near the end of training) pull the schedule
        // down earlier than linear decay.
        let norms: Vec<f64> = (0..100).map(|i| 1.0 + (i as f64 / 25.0).powi(2)).collect();
        let eta = refine(&norms, NormKind::L2, 0.0).unwrap();
        assert_eq!(eta.iter().copied().fold(0.0, f64::max), 1.0);
        assert!(eta[50] < 0.5 * (49.0 / 99.0), "{}", eta[50]);
        assert!(refine(&[1.0], NormKind::L2, 0.1).is_err());
        assert!(refine(&[1.0, f64::NAN], NormKind::L2, 0.1).is_err());
        assert!(refine(&[1.0, 0.0], NormKind::L1, 0.1).is_err());
        assert!(refine(&[1.0, 2.0], NormKind::L1, 1.5).is_err());
    }
}
