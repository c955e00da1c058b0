//! Log-domain Sinkhorn (POT `sinkhorn_log` order: g then f), f64, with optional ε-scaling
//! (a geometric schedule from `eps0` down to ε, warm-starting each stage).

use super::cost::Cost;
use crate::RefError;

/// Options (defaults: tolerance 1e-9 on the L1 marginal error, 1000 iterations, checked every
/// 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    pub tol: f64,
    pub max_iter: usize,
    pub check_every: usize,
    /// ε-scaling: start at `eps0` and multiply by `decay` per stage until ε (None: plain).
    pub eps_scaling: Option<(f64, f64)>,
}

impl Default for SinkhornOptions {
    fn default() -> Self {
        SinkhornOptions {
            tol: 1e-9,
            max_iter: 1000,
            check_every: 10,
            eps_scaling: None,
        }
    }
}

/// What a solve returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornResult {
    pub f: Vec<f64>,
    pub g: Vec<f64>,
    /// Iterations (g and f updates) at the target ε.
    pub iterations: usize,
    pub converged: bool,
    /// L1 marginal error at each check.
    pub errors: Vec<f64>,
    /// ⟨P, C⟩.
    pub cost_linear: f64,
    /// ⟨P, C⟩ + ε Σ P log P.
    pub cost_entropic: f64,
    /// ⟨P, C⟩ + ε KL(P ‖ a⊗b) (generalised KL, as OTT's `reg_ot_cost`).
    pub cost_kl: f64,
}

fn lse(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.collect();
    let mx = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if mx == f64::NEG_INFINITY {
        return mx;
    }
    mx + v.iter().map(|x| (x - mx).exp()).sum::<f64>().ln()
}

/// Checks marginals: positive, finite, same mass (relative 1e-6), right lengths.
pub fn validate(a: &[f64], b: &[f64], cost: &Cost, eps: f64) -> Result<(), RefError> {
    cost.validate()?;
    let (n, m) = cost.shape();
    crate::check_len("a", n, a.len())?;
    crate::check_len("b", m, b.len())?;
    let bad = |s: String| Err(RefError::InvalidHyperparameter(s));
    if eps.is_nan() || eps <= 0.0 || !eps.is_finite() {
        return bad(format!("eps must be > 0 and finite, got {eps}"));
    }
    for (name, w) in [("a", a), ("b", b)] {
        if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return bad(format!(
                "{name}[{i}] = {} must be positive and finite",
                w[i]
            ));
        }
    }
    let (sa, sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if (sa - sb).abs() > 1e-6 * sa.max(sb) {
        return bad(format!("marginals of different mass: Σa = {sa}, Σb = {sb}"));
    }
    Ok(())
}

/// Most ε-scaling stages a schedule may have (2⁶⁴ → 1 at decay ½ is 64).
pub const MAX_SCALING_STAGES: usize = 10_000;

/// The ε values of an ε-scaling schedule from `eps0` down to (not including) `eps`, each
/// `decay` times the last. `eps0` must be finite and positive and `decay` in (0, 1); a
/// schedule of more than [`MAX_SCALING_STAGES`] stages is refused (an `eps0` of 1e300 with a
/// decay of 0.9999 would not end in a lifetime).
pub fn scaling_stages(eps0: f64, decay: f64, eps: f64) -> Result<Vec<f64>, RefError> {
    let bad = |s: String| Err(RefError::InvalidHyperparameter(s));
    if !(eps0.is_finite() && eps0 > 0.0) {
        return bad(format!("eps scaling needs a finite eps0 > 0, got {eps0}"));
    }
    if !(decay > 0.0 && decay < 1.0) {
        return bad(format!("eps scaling needs 0 < decay < 1, got {decay}"));
    }
    let mut stages = Vec::new();
    let mut e = eps0;
    while e > eps {
        if stages.len() == MAX_SCALING_STAGES {
            return bad(format!(
                "eps scaling from {eps0} to {eps} by {decay} takes more than \
                 {MAX_SCALING_STAGES} stages"
            ));
        }
        stages.push(e);
        e *= decay;
    }
    Ok(stages)
}

/// Log-domain Sinkhorn from `(f, g)` (zeros when `warm` is None).
pub fn sinkhorn_log(
    a: &[f64],
    b: &[f64],
    cost: &Cost,
    eps: f64,
    opts: &SinkhornOptions,
    warm: Option<(Vec<f64>, Vec<f64>)>,
) -> Result<SinkhornResult, RefError> {
    validate(a, b, cost, eps)?;
    let (n, m) = cost.shape();
    let c = cost.to_dense();
    let (mut f, mut g) = warm.unwrap_or((vec![0.0; n], vec![0.0; m]));
    let (la, lb): (Vec<f64>, Vec<f64>) = (
        a.iter().map(|v| v.ln()).collect(),
        b.iter().map(|v| v.ln()).collect(),
    );
    let sweep = |f: &mut Vec<f64>, g: &mut Vec<f64>, e: f64| {
        for j in 0..m {
            g[j] = e * lb[j] - e * lse((0..n).map(|i| (f[i] - c[i * m + j]) / e));
        }
        for i in 0..n {
            f[i] = e * la[i] - e * lse((0..m).map(|j| (g[j] - c[i * m + j]) / e));
        }
    };
    if let Some((eps0, decay)) = opts.eps_scaling {
        for e in scaling_stages(eps0, decay, eps)? {
            for _ in 0..opts.check_every {
                sweep(&mut f, &mut g, e);
            }
        }
    }
    let col_error = |f: &[f64], g: &[f64]| -> f64 {
        (0..m)
            .map(|j| {
                let s: f64 = (0..n)
                    .map(|i| ((f[i] + g[j] - c[i * m + j]) / eps).exp())
                    .sum();
                (s - b[j]).abs()
            })
            .sum()
    };
    let mut errors = Vec::new();
    let (mut iterations, mut converged) = (0, false);
    while iterations < opts.max_iter {
        sweep(&mut f, &mut g, eps);
        iterations += 1;
        if iterations % opts.check_every == 0 || iterations == opts.max_iter {
            let err = col_error(&f, &g);
            errors.push(err);
            if err <= opts.tol {
                converged = true;
                break;
            }
        }
    }
    let (mut linear, mut ent, mut mass) = (0.0, 0.0, 0.0);
    let mut kl_log = 0.0;
    for i in 0..n {
        for j in 0..m {
            let lp = (f[i] + g[j] - c[i * m + j]) / eps;
            let p = lp.exp();
            linear += p * c[i * m + j];
            ent += p * lp;
            kl_log += p * (lp - la[i] - lb[j]);
            mass += p;
        }
    }
    let ab: f64 = a.iter().sum::<f64>() * b.iter().sum::<f64>();
    Ok(SinkhornResult {
        f,
        g,
        iterations,
        converged,
        errors,
        cost_linear: linear,
        cost_entropic: linear + eps * ent,
        cost_kl: linear + eps * (kl_log + ab - mass),
    })
}

/// The debiased Sinkhorn divergence `S = OT(a,b) − ½OT(a,a) − ½OT(b,b)` in the KL convention.
/// `cost_xy`, `cost_xx`, `cost_yy` are the three costs.
pub fn sinkhorn_divergence(
    a: &[f64],
    b: &[f64],
    costs: (&Cost, &Cost, &Cost),
    eps: f64,
    opts: &SinkhornOptions,
) -> Result<f64, RefError> {
    let xy = sinkhorn_log(a, b, costs.0, eps, opts, None)?;
    let xx = sinkhorn_log(a, a, costs.1, eps, opts, None)?;
    let yy = sinkhorn_log(b, b, costs.2, eps, opts, None)?;
    Ok(xy.cost_kl - 0.5 * (xx.cost_kl + yy.cost_kl))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec A9.1: the POT 2×2 example.
    #[test]
    fn pot_two_by_two() {
        let cost = Cost::Dense {
            n: 2,
            m: 2,
            c: vec![0.0, 1.0, 1.0, 0.0],
        };
        let r = sinkhorn_log(
            &[0.5, 0.5],
            &[0.5, 0.5],
            &cost,
            1.0,
            &SinkhornOptions::default(),
            None,
        )
        .unwrap();
        assert!(r.converged);
        assert!((r.cost_linear - 0.26894142136999516).abs() < 1e-12);
        assert!((r.cost_entropic - -1.006408868078168).abs() < 1e-12);
        assert!((r.cost_kl - 0.3798854930417226).abs() < 1e-12);
        let p00 = ((r.f[0] + r.g[0]) / 1.0).exp();
        assert!((p00 - 0.36552929).abs() < 1e-8);
    }

    /// Spec A9.3: entropic OT between 1-D Gaussians on a fine grid matches Janati's closed form
    /// (a = 0, A = 1, b = 1, B = 4, σ² = 0.5 → 3.2243566798713923).
    #[test]
    fn gaussian_closed_form_on_a_grid() {
        let n = 400;
        let grid: Vec<f64> = (0..n)
            .map(|i| -9.0 + 20.0 * i as f64 / (n - 1) as f64)
            .collect();
        let pdf = |mu: f64, var: f64| -> Vec<f64> {
            let w: Vec<f64> = grid
                .iter()
                .map(|x| (-(x - mu).powi(2) / (2.0 * var)).exp())
                .collect();
            let s: f64 = w.iter().sum();
            w.into_iter().map(|v| v / s).collect()
        };
        let (a, b) = (pdf(0.0, 1.0), pdf(1.0, 4.0));
        let cost = Cost::SqEuclidean {
            d: 1,
            x: grid.clone(),
            y: grid.clone(),
        };
        let opts = SinkhornOptions {
            tol: 1e-10,
            max_iter: 5000,
            ..Default::default()
        };
        let r = sinkhorn_log(&a, &b, &cost, 1.0, &opts, None).unwrap();
        let want = super::super::gaussian::entropic_ot_1d(0.0, 1.0, 1.0, 4.0, 0.5);
        assert!((want - 3.2243566798713923).abs() < 1e-12);
        assert!((r.cost_kl - want).abs() < 2e-3, "{} vs {want}", r.cost_kl);
    }

    #[test]
    fn bad_input_is_refused() {
        let cost = Cost::Dense {
            n: 2,
            m: 2,
            c: vec![0.0, 1.0, f64::NAN, 0.0],
        };
        let o = SinkhornOptions::default();
        assert!(sinkhorn_log(&[0.5, 0.5], &[0.5, 0.5], &cost, 1.0, &o, None).is_err());
        let cost = Cost::Dense {
            n: 2,
            m: 2,
            c: vec![0.0, 1.0, 1.0, 0.0],
        };
        for (a, b, eps) in [
            (vec![0.5, 0.5], vec![0.7, 0.7], 1.0),
            (vec![1.5, -0.5], vec![0.5, 0.5], 1.0),
            (vec![0.5, 0.5], vec![0.5, 0.5], 0.0),
            (vec![0.5], vec![0.5, 0.5], 1.0),
        ] {
            assert!(sinkhorn_log(&a, &b, &cost, eps, &o, None).is_err());
        }
    }
}
