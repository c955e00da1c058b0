//! Closed forms used as oracles (spec A9.3–A9.4).

/// Entropic OT between N(a, A) and N(b, B) in 1-D, cost (x − y)², KL convention with
/// ε = 2σ² (Janati, Muzellec, Peyré, Cuturi 2020, Thm 1):
/// `OT = (a−b)² + A + B − D + σ²(1 − log 2σ²) + σ² log(D + σ²)`, `D = sqrt(4AB + σ⁴)`.
pub fn entropic_ot_1d(a: f64, var_a: f64, b: f64, var_b: f64, sigma2: f64) -> f64 {
    let d = (4.0 * var_a * var_b + sigma2 * sigma2).sqrt();
    (a - b).powi(2) + var_a + var_b - d
        + sigma2 * (1.0 - (2.0 * sigma2).ln())
        + sigma2 * (d + sigma2).ln()
}

/// W₂² between N(m1, s1²) and N(m2, s2²).
pub fn w2_squared_1d(m1: f64, s1: f64, m2: f64, s2: f64) -> f64 {
    (m1 - m2).powi(2) + (s1 - s2).powi(2)
}

/// `W_p^p` between two equal-size, equal-weight 1-D samples (sorted matching).
pub fn wp_1d(x: &[f64], y: &[f64], p: f64) -> f64 {
    let (mut x, mut y) = (x.to_vec(), y.to_vec());
    x.sort_by(|a, b| a.total_cmp(b));
    y.sort_by(|a, b| a.total_cmp(b));
    x.iter()
        .zip(&y)
        .map(|(a, b)| (a - b).abs().powf(p))
        .sum::<f64>()
        / x.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_values() {
        let cases = [
            (0.05, 2.234756468636877),
            (0.5, 3.2243566798713923),
            (1.0, 3.817508016489548),
        ];
        for (s2, want) in cases {
            assert!((entropic_ot_1d(0.0, 1.0, 1.0, 4.0, s2) - want).abs() < 1e-12);
        }
        assert_eq!(w2_squared_1d(0.0, 1.0, 1.0, 2.0), 2.0);
    }
}
