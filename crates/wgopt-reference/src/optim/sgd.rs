//! SGD exactly as `torch.optim.SGD` (`_single_tensor_sgd`): heavy ball without lr inside the
//! buffer, the first momentum buffer a plain copy of the (decayed) gradient.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Hyperparameters of SGD (torch names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    /// Rejects what torch's constructor rejects (Nesterov needs momentum and no dampening).
    pub fn validate(&self) -> Result<(), RefError> {
        let bad = |m: String| Err(RefError::InvalidHyperparameter(m));
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("momentum", self.momentum)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return bad("nesterov requires momentum > 0 and zero dampening".into());
        }
        Ok(())
    }
}

/// Per-tensor state; `momentum_buffer` is `None` until the first step with momentum.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SgdState {
    pub momentum_buffer: Option<Vec<f32>>,
}

/// One SGD step on one tensor.
pub fn step(
    cfg: &SgdConfig,
    lr: f64,
    p: &mut [f32],
    g: &[f32],
    st: &mut SgdState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    if let Some(b) = &st.momentum_buffer {
        check_len("momentum_buffer", p.len(), b.len())?;
    }
    let wd = cfg.weight_decay as f32;
    let mu = cfg.momentum as f32;
    let one_minus_dampening = (1.0 - cfg.dampening) as f32;
    let neg_lr = (-lr) as f32;
    let mut d: Vec<f32> = g
        .iter()
        .zip(p.iter())
        .map(|(&gi, &pi)| {
            let gi = if cfg.maximize { -gi } else { gi };
            if cfg.weight_decay != 0.0 {
                gi + wd * pi
            } else {
                gi
            }
        })
        .collect();
    if cfg.momentum != 0.0 {
        match &mut st.momentum_buffer {
            None => st.momentum_buffer = Some(d.clone()),
            Some(buf) => {
                for (b, &di) in buf.iter_mut().zip(&d) {
                    *b = *b * mu + one_minus_dampening * di;
                }
            }
        }
        let buf = st.momentum_buffer.as_ref().expect("set just above");
        for (di, &b) in d.iter_mut().zip(buf) {
            *di = if cfg.nesterov { *di + mu * b } else { b };
        }
    }
    for (pi, di) in p.iter_mut().zip(d) {
        *pi += neg_lr * di;
    }
    Ok(())
}

crate::optim::per_tensor!(
    SgdConfig,
    SgdState,
    new: |cfg, shape, slot| SgdState::default(),
    step: |cfg, lr, shape, p, g, st| step(cfg, lr, p, g, st),
    fields: |st| st.momentum_buffer
        .as_deref()
        .map(|b| vec![("momentum_buffer", b)])
        .unwrap_or_default(),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_momentum_buffer_is_the_gradient() {
        let cfg = SgdConfig {
            momentum: 0.9,
            dampening: 0.5,
            ..Default::default()
        };
        let mut st = SgdState::default();
        let mut p = vec![1.0f32, 2.0];
        step(&cfg, 0.1, &mut p, &[0.5, -1.0], &mut st).unwrap();
        assert_eq!(st.momentum_buffer.as_deref(), Some(&[0.5f32, -1.0][..]));
        // Second step: buf = 0.9·buf + 0.5·g.
        step(&cfg, 0.1, &mut p, &[1.0, 1.0], &mut st).unwrap();
        assert_eq!(
            st.momentum_buffer.unwrap(),
            vec![0.9 * 0.5 + 0.5, -0.9 + 0.5]
        );
    }

    #[test]
    fn nesterov_without_momentum_is_rejected() {
        let cfg = SgdConfig {
            nesterov: true,
            ..Default::default()
        };
        assert!(cfg.validate().is_err());
    }
}
