//! AdaHessian (amirgholami/adahessian, `image_classification/optim_adahessian.py`): Adam whose
//! second moment tracks the squared Hutchinson diagonal `D = |z⊙Hz|` (= |Hz| for Rademacher z),
//! spatially averaged over blocks, with `hessian_power` k on the bias-corrected RMS and a
//! weight decay that is added to the step unpreconditioned.
//!
//! Blocks: a 4-D (conv) weight averages D over its kernel window (kh·kw consecutive
//! elements); `block_size` overrides that for any parameter (the instruction version's
//! flattened blocks); otherwise no averaging.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaHessianConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// k ∈ [0, 1].
    pub hessian_power: f64,
    /// Average D over consecutive blocks of this many elements (None: kh·kw for 4-D weights,
    /// no averaging otherwise).
    #[serde(default)]
    pub block_size: Option<u32>,
}

impl Default for AdaHessianConfig {
    fn default() -> Self {
        AdaHessianConfig {
            lr: 0.15,
            betas: (0.9, 0.999),
            eps: 1e-4,
            weight_decay: 0.0,
            hessian_power: 1.0,
            block_size: None,
        }
    }
}

impl AdaHessianConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        if !(0.0..=1.0).contains(&self.hessian_power) {
            return Err(RefError::InvalidHyperparameter(format!(
                "hessian_power must be in [0, 1], got {}",
                self.hessian_power
            )));
        }
        if self.block_size == Some(0) {
            return Err(RefError::InvalidHyperparameter(
                "block_size must be >= 1".into(),
            ));
        }
        Ok(())
    }

    /// The averaging block of a parameter of this shape (1 = none).
    pub fn block_of(&self, shape: &[usize]) -> usize {
        match self.block_size {
            Some(b) => b as usize,
            None if shape.len() == 4 => shape[2] * shape[3],
            None => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AdaHessianState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_hessian_diag_sq: Vec<f32>,
}

impl AdaHessianState {
    pub fn new(len: usize) -> Self {
        AdaHessianState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_hessian_diag_sq: vec![0.0; len],
        }
    }
}

/// `D`: `|hz|` averaged over consecutive blocks of `block` elements (a last, shorter block
/// averages what it has). The sum runs in f32 in element order, like the GPU.
pub fn hessian_diag(hz: &[f32], block: usize) -> Vec<f32> {
    let mut d: Vec<f32> = hz.iter().map(|x| x.abs()).collect();
    if block > 1 {
        for b in d.chunks_mut(block) {
            let mean = b.iter().sum::<f32>() / b.len() as f32;
            b.fill(mean);
        }
    }
    d
}

/// One AdaHessian step: `hz` is the Hessian-vector product with the step's Rademacher probe.
pub fn step(
    cfg: &AdaHessianConfig,
    lr: f64,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    hz: &[f32],
    st: &mut AdaHessianState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    check_len("hessian-vector product", p.len(), hz.len())?;
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_hessian_diag_sq", p.len(), st.exp_hessian_diag_sq.len())?;
    st.step += 1;
    let t = st.step as i32;
    let (beta1, beta2) = cfg.betas;
    let d = hessian_diag(hz, cfg.block_of(shape));
    let (b1, c1) = (beta1 as f32, (1.0 - beta1) as f32);
    let (b2, c2) = (beta2 as f32, (1.0 - beta2) as f32);
    let bc1 = (1.0 - beta1.powi(t)) as f32;
    // (sqrt(1 − β2^t))^k, the denominator's bias correction.
    let bc2_pow = (1.0 - beta2.powi(t)).sqrt().powf(cfg.hessian_power) as f32;
    let k = cfg.hessian_power as f32;
    let (eps, wd, lr) = (cfg.eps as f32, cfg.weight_decay as f32, lr as f32);
    for i in 0..p.len() {
        let m = st.exp_avg[i] * b1 + c1 * g[i];
        let v = st.exp_hessian_diag_sq[i] * b2 + c2 * (d[i] * d[i]);
        st.exp_avg[i] = m;
        st.exp_hessian_diag_sq[i] = v;
        let denom = v.sqrt().powf(k) / bc2_pow + eps;
        p[i] -= lr * ((m / bc1) / denom + wd * p[i]);
    }
    Ok(())
}

crate::optim::optimizer_config!(AdaHessianConfig);

impl crate::optim::PerTensor for AdaHessianConfig {
    type State = AdaHessianState;

    fn new_state(&self, shape: &[usize], _slot: usize) -> AdaHessianState {
        AdaHessianState::new(shape.iter().product())
    }

    fn step(
        &self,
        lr: f64,
        shape: &[usize],
        p: &mut [f32],
        g: &[f32],
        hvp: Option<&[f32]>,
        st: &mut AdaHessianState,
    ) -> Result<(), RefError> {
        let hz = hvp.ok_or_else(|| {
            RefError::MissingInput("AdaHessian needs the step's Hessian-vector product".into())
        })?;
        step(self, lr, shape, p, g, hz, st)
    }

    fn fields(st: &AdaHessianState) -> Vec<(&'static str, &[f32])> {
        vec![
            ("exp_avg", &st.exp_avg[..]),
            ("exp_hessian_diag_sq", &st.exp_hessian_diag_sq[..]),
        ]
    }
}
