//! `torch.quantile(x.abs(), q)` — ROOT's per-matrix outlier threshold — by sorting, the
//! oracle of the GPU radix select (`shaders/reduce/quantile_*.wgsl`).
//!
//! torch's arithmetic, reproduced: the rank `q·(n − 1)` is computed in f32 (q is an f32 tensor),
//! truncated for the lower order statistic and rounded up for the upper one, and the two are
//! blended with torch.lerp and the f32 weight `rank − floor(rank)`.

use crate::optim::muon::lerp;
use crate::RefError;

/// Which order statistics a quantile blends, and how.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileRanks {
    /// 0-based rank of the lower order statistic.
    pub lo: usize,
    /// 0-based rank of the upper one (`lo` or `lo + 1`).
    pub hi: usize,
    /// torch.lerp weight between them.
    pub weight: f32,
}

/// The ranks of the q-quantile of `n` values, as torch computes them.
pub fn quantile_ranks(n: usize, q: f64) -> Result<QuantileRanks, RefError> {
    if n == 0 {
        return Err(RefError::InvalidHyperparameter(
            "quantile of an empty tensor".into(),
        ));
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(RefError::InvalidHyperparameter(format!(
            "quantile must be in [0, 1], got {q}"
        )));
    }
    let rank = q as f32 * (n - 1) as f32;
    let lo = (rank.floor() as usize).min(n - 1);
    let hi = (rank.ceil() as usize).min(n - 1);
    Ok(QuantileRanks {
        lo,
        hi,
        weight: rank - lo as f32,
    })
}

/// The q-quantile of `|values|` with linear interpolation (torch.quantile's default).
pub fn abs_quantile(values: &[f32], q: f64) -> Result<f32, RefError> {
    let r = quantile_ranks(values.len(), q)?;
    let mut sorted: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    sorted.sort_by(f32::total_cmp);
    Ok(lerp(sorted[r.lo], sorted[r.hi], r.weight))
}

/// ROOT's outlier split: with `ε = quantile(|U|, q) + 1e-9`, the outliers are
/// `O = sign(U)·relu(|U| − ε)` and the kept part `U − O` (≈ clamp(U, −ε, ε)), computed in that
/// order as ROOT's code does. Replaces `values` by the kept part; returns ε.
pub fn soft_threshold_clamp(values: &mut [f32], q: f64) -> Result<f32, RefError> {
    let eps = abs_quantile(values, q)? + 1e-9;
    for u in values.iter_mut() {
        let outlier = sign(*u) * (u.abs() - eps).max(0.0);
        *u -= outlier;
    }
    Ok(eps)
}

/// torch.sign: 0 for ±0.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear_interpolation() {
        // numpy.quantile([1..=10], 0.9) = 9.1; torch's f32 rank 8.1000004 gives 9.1 too.
        let v: Vec<f32> = (1..=10).map(|i| -(i as f32)).collect();
        assert!((abs_quantile(&v, 0.9).unwrap() - 9.1).abs() < 1e-5);
        assert_eq!(abs_quantile(&v, 0.0).unwrap(), 1.0);
        assert_eq!(abs_quantile(&v, 1.0).unwrap(), 10.0);
        assert_eq!(abs_quantile(&[3.0], 0.9).unwrap(), 3.0);
    }

    #[test]
    fn clamp_saturates_the_outliers_only() {
        let mut v: Vec<f32> = (0..100).map(|i| (i as f32 - 50.0) * 0.1).collect();
        let eps = soft_threshold_clamp(&mut v, 0.9).unwrap();
        assert!(v.iter().all(|x| x.abs() <= eps * (1.0 + 1e-6)));
        assert_eq!(v[50], 0.0);
        let saturated = v.iter().filter(|x| x.abs() >= eps * (1.0 - 1e-6)).count();
        assert!((9..=11).contains(&saturated), "{saturated}");
    }

    #[test]
    fn rejects_bad_quantiles() {
        assert!(quantile_ranks(0, 0.5).is_err());
        assert!(quantile_ranks(3, 1.5).is_err());
        assert!(quantile_ranks(3, f64::NAN).is_err());
    }
}
