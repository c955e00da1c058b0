//! M-FAC (IST-DASLab/M-FAC `optim.py`, dense variant): preconditions the step with the inverse
//! of the dampened empirical Fisher over a sliding window of the last m gradients,
//! `F = λI + (1/m)·Σᵢ gᵢgᵢᵀ`, applied matrix-free through m Sherman–Morrison updates:
//!
//! ```text
//! v_i  = H_{i−1}⁻¹ g_i = Σ_{k≤i} B[i,k] g_k         (B lower-triangular, B[i,i] = 1/λ)
//! D[i,j] = g_iᵀ H_{i−1}⁻¹ g_j = (B·GGᵀ)[i,j]   (j ≥ i),  den_i = m + D[i,i]
//! B[i,:] = e_i/λ − Σ_{k<i} (D[k,i]/den_k)·B[k,:]
//! F⁻¹x   = x/λ − Gᵀ·(Bᵀ·c),  c_i = (B·(G x))_i / den_i
//! ```
//!
//! Each step inserts the (L2-decayed) gradient into ring row `(t − 1) mod m` *before* the
//! inverse-Hessian-vector product, as the reference does; the window starts all-zero, so early
//! steps scale the out-of-span component by 1/λ. Momentum (if any) averages the preconditioned
//! direction. The result does not depend on the ring's order: it is exactly F⁻¹g.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MfacConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// m, the window of gradients.
    pub ngrads: u32,
    /// λ.
    pub damp: f64,
}

impl Default for MfacConfig {
    fn default() -> Self {
        MfacConfig {
            lr: 1e-3,
            momentum: 0.0,
            weight_decay: 0.0,
            ngrads: 1024,
            damp: 1e-5,
        }
    }
}

impl MfacConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::betas_in_unit_interval(&[self.momentum]).map_err(|_| {
            RefError::InvalidHyperparameter(format!(
                "momentum must be in [0, 1), got {}",
                self.momentum
            ))
        })?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        if self.ngrads == 0 {
            return Err(RefError::InvalidHyperparameter(
                "ngrads must be >= 1".into(),
            ));
        }
        if self.damp.is_nan() || self.damp <= 0.0 {
            return Err(RefError::InvalidHyperparameter(format!(
                "damp must be > 0, got {}",
                self.damp
            )));
        }
        Ok(())
    }
}

/// The window and the step count (f64, the oracle's precision).
#[derive(Debug, Clone, PartialEq)]
pub struct MfacState {
    pub step: u64,
    /// m rows of length d.
    pub grads: Vec<Vec<f64>>,
    /// Momentum of the preconditioned direction (zero when momentum is 0).
    pub v: Vec<f32>,
}

impl MfacState {
    pub fn new(d: usize, cfg: &MfacConfig) -> Self {
        MfacState {
            step: 0,
            grads: vec![vec![0.0; d]; cfg.ngrads as usize],
            v: vec![0.0; d],
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// (B, den) of the recursion for the Gram matrix `gg` (m×m, row-major).
pub fn setup(gg: &[f64], m: usize, damp: f64) -> (Vec<f64>, Vec<f64>) {
    let mut b = vec![0.0; m * m];
    let mut d = vec![0.0; m * m];
    let mut den = vec![0.0; m];
    for i in 0..m {
        b[i * m + i] = 1.0 / damp;
        for k in 0..i {
            let f = d[k * m + i] / den[k];
            for c in 0..=k {
                b[i * m + c] -= f * b[k * m + c];
            }
        }
        for j in i..m {
            d[i * m + j] = (0..=i).map(|k| b[i * m + k] * gg[k * m + j]).sum();
        }
        den[i] = m as f64 + d[i * m + i];
    }
    (b, den)
}

/// The coefficients w (length m) with F⁻¹x = x/λ − Σ_k w_k g_k, given q = G x.
pub fn coefficients(b: &[f64], den: &[f64], q: &[f64]) -> Vec<f64> {
    let m = den.len();
    let c: Vec<f64> = (0..m)
        .map(|i| (0..=i).map(|k| b[i * m + k] * q[k]).sum::<f64>() / den[i])
        .collect();
    (0..m)
        .map(|k| (k..m).map(|i| b[i * m + k] * c[i]).sum())
        .collect()
}

/// F⁻¹x by the recursion.
pub fn ihvp(grads: &[Vec<f64>], damp: f64, x: &[f64]) -> Vec<f64> {
    let m = grads.len();
    let gg: Vec<f64> = (0..m * m)
        .map(|ij| dot(&grads[ij / m], &grads[ij % m]))
        .collect();
    let (b, den) = setup(&gg, m, damp);
    let q: Vec<f64> = grads.iter().map(|g| dot(g, x)).collect();
    let w = coefficients(&b, &den, &q);
    let mut out: Vec<f64> = x.iter().map(|v| v / damp).collect();
    for (k, g) in grads.iter().enumerate() {
        for (o, gv) in out.iter_mut().zip(g) {
            *o -= w[k] * gv;
        }
    }
    out
}

/// F⁻¹x by building F densely and solving it (the test oracle for small d).
pub fn ihvp_naive(grads: &[Vec<f64>], damp: f64, x: &[f64]) -> Vec<f64> {
    let d = x.len();
    let m = grads.len() as f64;
    let f = faer::Mat::<f64>::from_fn(d, d, |i, j| {
        let s: f64 = grads.iter().map(|g| g[i] * g[j]).sum();
        s / m + if i == j { damp } else { 0.0 }
    });
    let rhs = faer::Mat::<f64>::from_fn(d, 1, |i, _| x[i]);
    use faer::linalg::solvers::Solve;
    let sol = f.partial_piv_lu().solve(&rhs);
    (0..d).map(|i| sol[(i, 0)]).collect()
}

/// One M-FAC step over the flattened parameters `p` of the optimizer.
pub fn step(
    cfg: &MfacConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut MfacState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("momentum", p.len(), st.v.len())?;
    st.step += 1;
    let m = st.grads.len();
    let row = ((st.step - 1) % m as u64) as usize;
    let wd = cfg.weight_decay as f32;
    let ge: Vec<f32> = p.iter().zip(g).map(|(p, g)| g + wd * p).collect();
    st.grads[row] = ge.iter().map(|&v| v as f64).collect();
    let x = st.grads[row].clone();
    let u = ihvp(&st.grads, cfg.damp, &x);
    let (mu, c) = (cfg.momentum as f32, (1.0 - cfg.momentum) as f32);
    let neg_lr = (-lr) as f32;
    for i in 0..p.len() {
        let mut ui = u[i] as f32;
        if cfg.momentum > 0.0 {
            st.v[i] = mu * st.v[i] + c * ui;
            ui = st.v[i];
        }
        p[i] += neg_lr * ui;
    }
    Ok(())
}

crate::optim::optimizer_config!(MfacConfig);

/// M-FAC as a whole optimizer for the oracle: one window over every tensor, flattened in
/// order, under the step guard. All tensors share one config, as the window is one.
#[derive(Debug, Clone)]
pub struct Whole {
    pub config: MfacConfig,
    pub state: MfacState,
    /// Where each tensor starts in the flattened vector, and the total.
    offsets: Vec<usize>,
    pub max_grad_norm: Option<f64>,
    pub skip_non_finite: bool,
}

impl Whole {
    /// M-FAC over tensors of `lens` elements.
    pub fn new(config: MfacConfig, lens: &[usize]) -> Result<Whole, RefError> {
        config.validate()?;
        let mut offsets = vec![0];
        for n in lens {
            offsets.push(offsets.last().copied().unwrap_or(0) + n);
        }
        let d = offsets.last().copied().unwrap_or(0);
        Ok(Whole {
            state: MfacState::new(d, &config),
            config,
            offsets,
            max_grad_norm: None,
            skip_non_finite: true,
        })
    }
}

impl crate::optim::ReferenceOptimizer for Whole {
    fn step_with(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        _hvps: Option<&[Vec<f32>]>,
    ) -> Result<crate::guard::GuardDecision, RefError> {
        check_len("params", self.offsets.len() - 1, params.len())?;
        check_len("grads", params.len(), grads.len())?;
        let decision = crate::guard::decide(
            grads.iter().map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        let mut p: Vec<f32> = params.concat();
        let g: Vec<f32> = crate::guard::clipped(&grads.concat(), decision.clip_coef);
        step(
            &self.config,
            self.config.lr * lr_multiplier,
            &mut p,
            &g,
            &mut self.state,
        )?;
        for (i, t) in params.iter_mut().enumerate() {
            t.copy_from_slice(&p[self.offsets[i]..self.offsets[i + 1]]);
        }
        Ok(decision)
    }

    fn update_hessian(
        &mut self,
        _estimates: &[Vec<f32>],
        _probes: Option<&[Vec<f32>]>,
    ) -> Result<crate::guard::GuardDecision, RefError> {
        Err(RefError::MissingInput(
            "M-FAC keeps no Hessian estimate".into(),
        ))
    }

    fn fields(&self, i: usize) -> Vec<(&'static str, &[f32])> {
        match (self.config.momentum > 0.0, self.offsets.get(i..i + 2)) {
            (true, Some(&[a, b])) => vec![("momentum", &self.state.v[a..b])],
            _ => Vec::new(),
        }
    }

    fn set_guard(&mut self, max_grad_norm: Option<f64>, skip_non_finite: bool) {
        self.max_grad_norm = max_grad_norm;
        self.skip_non_finite = skip_non_finite;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec validation target 7: the recursion against the dense inverse on random f64 data
    /// (d = 60, m = 12 here to keep the dense solve small; also with zero rows in the window).
    #[test]
    fn recursion_matches_dense_inverse() {
        let mut s = 12345u64;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let d = 60;
        for (m, zero_rows, damp) in [(12, 0, 1e-3), (12, 5, 1e-5), (1, 0, 0.1)] {
            let mut grads: Vec<Vec<f64>> =
                (0..m).map(|_| (0..d).map(|_| next()).collect()).collect();
            for row in grads.iter_mut().take(zero_rows) {
                row.fill(0.0);
            }
            let x: Vec<f64> = (0..d).map(|_| next()).collect();
            let fast = ihvp(&grads, damp, &x);
            let naive = ihvp_naive(&grads, damp, &x);
            let scale = naive.iter().map(|v| v.abs()).fold(0.0, f64::max);
            let err = fast
                .iter()
                .zip(&naive)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                err <= 1e-9 * scale,
                "m={m} zero_rows={zero_rows}: {err} vs scale {scale}"
            );
        }
    }
}
