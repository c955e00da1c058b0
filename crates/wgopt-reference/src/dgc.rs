//! Deep Gradient Compression (Lin, Han, Mao, Wang, Dally; ICLR 2018), the reference twin of
//! `wgopt_dist::dgc` and `shaders/dist/dgc_*.wgsl`. Semantics of synxlin/deep-gradient-
//! compression (`dgc/memory.py`, `dgc/compression.py`), per worker and tensor:
//!
//! 1. optional local clipping: every coordinate clamped to ±`clip` (the reference's
//!    `clip_grad_value_by_global_norm_`: √(mean over workers of Σg²) per tensor);
//! 2. momentum correction: u ← m·u + g; v ← v + u (Nesterov: u ← (u + g)·m; v ← v + u + g);
//! 3. k = ⌈ratio·n⌉ and the threshold = the k-th largest |v|, exactly (the reference samples
//!    and adapts; an exact select makes that unnecessary), the sent set = the first k indices
//!    (in index order) with |v| ≥ threshold, as the reference's `indices[:num_selects]`;
//! 4. momentum-factor masking of the sent set: v ← 0 and (when `momentum_masking`) u ← 0;
//! 5. the exchange: every worker's (values, indices) gathered, summed into a dense gradient in
//!    worker order and divided by the number of workers.
//!
//! The update itself is the optimizer's (DGC-SGD: plain SGD, the momentum already applied
//! here). f32 arithmetic throughout, as on the GPU.

use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// The compressor's settings; defaults of the reference's `configs/dgc` with the wm5 warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DgcConfig {
    /// Fraction of each tensor's coordinates sent after the warm-up (0.001).
    pub ratio: f64,
    /// Momentum of the correction (the optimizer's momentum, 0.9).
    pub momentum: f32,
    pub nesterov: bool,
    /// Zero the momentum of sent coordinates as well as their accumulation.
    pub momentum_masking: bool,
    /// Clamp each coordinate to √(mean over workers of Σg²) of its tensor before correction.
    pub local_clipping: bool,
    /// Epochs of sparsity warm-up (5: ratios 0.001^(1/6), …, 0.001^(5/6), then 0.001).
    pub warmup_epochs: u32,
}

impl Default for DgcConfig {
    fn default() -> Self {
        DgcConfig {
            ratio: 0.001,
            momentum: 0.9,
            nesterov: false,
            momentum_masking: true,
            local_clipping: false,
            warmup_epochs: 5,
        }
    }
}

impl DgcConfig {
    /// Rejects a ratio outside (0, 1] and a momentum outside [0, 1).
    pub fn validate(&self) -> Result<(), RefError> {
        if !(self.ratio > 0.0 && self.ratio <= 1.0) {
            return Err(RefError::InvalidHyperparameter(format!(
                "dgc ratio {} must be in (0, 1]",
                self.ratio
            )));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(RefError::InvalidHyperparameter(format!(
                "dgc momentum {} must be in [0, 1)",
                self.momentum
            )));
        }
        Ok(())
    }

    /// The ratio in `epoch`: the reference's warm-up, max(ratio^((e+1)/(W+1)), ratio) for
    /// e < W, then `ratio`.
    pub fn ratio_at(&self, epoch: u32) -> f64 {
        if epoch < self.warmup_epochs {
            let coeff = self.ratio.powf(1.0 / (self.warmup_epochs as f64 + 1.0));
            coeff.powi(epoch as i32 + 1).max(self.ratio)
        } else {
            self.ratio
        }
    }
}

/// Coordinates sent for a tensor of `n` elements at `ratio`: ⌈ratio·n⌉, at least 1.
pub fn selected(n: usize, ratio: f64) -> usize {
    ((ratio * n as f64).ceil() as usize).clamp(1, n.max(1))
}

/// The k-th largest |x| (k ≥ 1), exactly.
pub fn kth_largest_abs(x: &[f32], k: usize) -> f32 {
    let mut a: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    a.sort_by(|p, q| q.total_cmp(p));
    a[k - 1]
}

/// One tensor's message: the sent values and their indices within the tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sparse {
    pub values: Vec<f32>,
    pub indices: Vec<u32>,
}

/// One worker's compressor memory: momentum u and accumulation v per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct DgcWorker {
    pub u: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl DgcWorker {
    /// Zero memory for tensors of these sizes.
    pub fn new(sizes: &[usize]) -> DgcWorker {
        DgcWorker {
            u: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
        }
    }

    /// Steps 1–4 for every tensor: the message this worker sends. `clip`: per tensor, the
    /// clamp (used when `cfg.local_clipping`).
    pub fn compress(
        &mut self,
        cfg: &DgcConfig,
        ratio: f64,
        grads: &[&[f32]],
        clip: &[f32],
    ) -> Result<Vec<Sparse>, RefError> {
        check_len("dgc tensors", self.u.len(), grads.len())?;
        let mut out = Vec::with_capacity(grads.len());
        for (t, g) in grads.iter().enumerate() {
            check_len("dgc gradient", self.u[t].len(), g.len())?;
            let c = if cfg.local_clipping {
                clip[t]
            } else {
                f32::INFINITY
            };
            correct(cfg, &mut self.u[t], &mut self.v[t], g, c);
            let sent = select(&self.v[t], selected(g.len(), ratio));
            for &i in &sent.indices {
                self.v[t][i as usize] = 0.0;
                if cfg.momentum_masking {
                    self.u[t][i as usize] = 0.0;
                }
            }
            out.push(sent);
        }
        Ok(out)
    }
}

/// Momentum correction of one tensor, each coordinate of `g` clamped to ±`clip` first.
pub fn correct(cfg: &DgcConfig, u: &mut [f32], v: &mut [f32], g: &[f32], clip: f32) {
    let m = cfg.momentum;
    for ((u, v), &g) in u.iter_mut().zip(v.iter_mut()).zip(g) {
        let g = g.clamp(-clip, clip);
        if cfg.nesterov {
            *u = (*u + g) * m;
            *v = *v + *u + g;
        } else {
            *u = m * *u + g;
            *v += *u;
        }
    }
}

/// The first `k` coordinates in index order with |v| ≥ the k-th largest |v|.
pub fn select(v: &[f32], k: usize) -> Sparse {
    let threshold = kth_largest_abs(v, k);
    let mut s = Sparse::default();
    for (i, &x) in v.iter().enumerate() {
        if s.indices.len() == k {
            break;
        }
        if x.abs() >= threshold {
            s.values.push(x);
            s.indices.push(i as u32);
        }
    }
    s
}

/// Step 5: every worker's messages (worker-major) summed in worker order and divided by the
/// number of workers, as dense tensors of `sizes`.
pub fn exchange(messages: &[Vec<Sparse>], sizes: &[usize]) -> Vec<Vec<f32>> {
    let mut dense: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    for worker in messages {
        for (t, s) in worker.iter().enumerate() {
            accumulate(&mut dense[t], &s.indices, &s.values);
        }
    }
    average(&mut dense, messages.len());
    dense
}

/// Adds one tensor's message into its dense gradient.
pub fn accumulate(dense: &mut [f32], indices: &[u32], values: &[f32]) {
    for (&i, &x) in indices.iter().zip(values) {
        dense[i as usize] += x;
    }
}

/// Divides the summed messages by the number of workers.
pub fn average(dense: &mut [Vec<f32>], workers: usize) {
    let n = workers as f32;
    for x in dense.iter_mut().flatten() {
        *x /= n;
    }
}

/// The clamp of local clipping per tensor: √(mean over workers of Σg²), from each worker's
/// Σg² (f64, worker-major).
pub fn clip_values(sumsq: &[Vec<f64>]) -> Vec<f32> {
    let tensors = sumsq.first().map_or(0, Vec::len);
    (0..tensors)
        .map(|t| {
            let mean = sumsq.iter().map(|w| w[t]).sum::<f64>() / sumsq.len() as f64;
            mean.sqrt() as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_follows_the_reference_schedule() {
        let c = DgcConfig::default();
        let want = [0.001f64.powf(1.0 / 6.0), 0.001f64.powf(2.0 / 6.0)];
        assert!((c.ratio_at(0) - want[0]).abs() < 1e-12);
        assert!((c.ratio_at(1) - want[1]).abs() < 1e-12);
        assert_eq!(c.ratio_at(5), 0.001);
        assert_eq!(c.ratio_at(50), 0.001);
    }

    #[test]
    fn select_takes_the_first_k_at_ties() {
        let s = select(&[1.0, -3.0, 3.0, 0.5, -3.0], 2);
        assert_eq!(s.indices, vec![1, 2]);
        assert_eq!(s.values, vec![-3.0, 3.0]);
        assert_eq!(selected(10, 0.001), 1);
        assert_eq!(selected(3001, 0.001), 4);
    }

    /// With every coordinate sent and no momentum masking, the averaged messages are the
    /// momentum of the averaged gradients: DGC reduces to data-parallel momentum SGD.
    #[test]
    fn full_ratio_without_masking_is_momentum_of_the_mean() {
        let cfg = DgcConfig {
            ratio: 1.0,
            momentum_masking: false,
            ..DgcConfig::default()
        };
        let mut w = [DgcWorker::new(&[3]), DgcWorker::new(&[3])];
        let mut buf = [0.0f32; 3];
        for step in 0..4 {
            let g = [
                [1.0f32 + step as f32, -2.0, 0.5],
                [3.0, 0.0, -0.25 * step as f32],
            ];
            let msgs: Vec<_> = (0..2)
                .map(|r| w[r].compress(&cfg, 1.0, &[&g[r]], &[0.0]).unwrap())
                .collect();
            let mean = exchange(&msgs, &[3]);
            for i in 0..3 {
                buf[i] = 0.9 * buf[i] + (g[0][i] + g[1][i]) / 2.0;
                assert!(
                    (mean[0][i] - buf[i]).abs() < 1e-5,
                    "step {step}: {mean:?} vs {buf:?}"
                );
            }
        }
    }
}
