//! MKOR (Mozaffari et al., "MKOR: Momentum-Enabled Kronecker-Factor-Based Optimizer Using
//! Rank-1 Updates", NeurIPS 2023; the `mkor` package, `mkor.py` and `utils/factors.py`).
//!
//! Per linear layer `y = W x + b` the inverse Kronecker factors A⁻¹ ((d_in + 1)², the bias
//! folded in as an input column of ones) and G⁻¹ (d_out²) start at I. On a factor step
//! (every `inv_freq` applied steps, and every step while fewer than `warmup_steps` have been
//! applied), each factor F⁻¹ with its statistics vector v (the batch mean of the clamped inputs
//! ā, or of the clamped scaled output gradients ḡ, from [`batch_statistics`]) is either reset,
//! `F⁻¹ ← (1 − ζ)F⁻¹ + ζI`, when its layer's reset flag is set (the flag is cleared), or
//! updated by Sherman–Morrison: `X = 0.95·F⁻¹ + 0.05·I`, `u = X v`, `w = Xᵀ v`,
//! `F⁻¹ ← X − u wᵀ / (1 + wᵀ v)`, after which `max |F⁻¹| > 2` sets both of the layer's flags.
//! A⁻¹ is updated before G⁻¹, so A's check can reset G in the same step. Every step the
//! gradient `[∇W | ∇b]` becomes `Δ = G⁻¹ [∇W | ∇b] A⁻¹`, rescaled by
//! `(‖∇W‖ + ‖∇b‖)/(‖Δ_W‖ + ‖Δ_b‖)` (the raw gradient is kept when that ratio is not finite),
//! and the base optimizer — torch SGD with momentum, or torch Adam — steps with it.
//! Parameters of a group with `precondition = false`, and 1-D parameters that are no layer's
//! bias, take the base optimizer alone.
//!
//! Where this differs from the reference code, and why:
//! - Reset: the code's `_reset_factors` tests `module not in factor_dict` on a list indexed by
//!   layer number, which is always true, so every reset returns to I and the stabilization
//!   factor ζ is never used. The paper and the documented parameter mean `(1 − ζ)F⁻¹ + ζI`;
//!   wgopt does that (the first reset of a factor at I gives I either way).
//! - `stat_decay` is accepted upstream but the code hard-codes 0.95 / 0.05: so here, with no
//!   parameter.
//! - Factors are f32 (upstream's default stores them in f16).
//! - A ratio that is infinite (a zero update of a nonzero gradient) also keeps the raw
//!   gradient; upstream skips only NaN.

use super::adam::{self, AdamConfig, AdamState};
use super::sgd::{self, SgdConfig, SgdState};
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// The optimizer that steps with the preconditioned gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MkorBase {
    /// torch.optim.SGD (momentum, L2 weight decay): the reference default.
    #[default]
    Sgd,
    /// torch.optim.Adam (L2 weight decay).
    Adam,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MkorConfig {
    pub lr: f64,
    /// SGD's momentum.
    pub momentum: f64,
    pub weight_decay: f64,
    /// Adam's betas and eps.
    pub betas: (f64, f64),
    pub eps: f64,
    pub base: MkorBase,
    /// Applied steps between factor updates.
    pub inv_freq: u32,
    /// ζ of a reset.
    pub stabilization: f64,
    /// Statistics are clamped to ±clip before the batch mean.
    pub clip: f64,
    /// Factor updates on every step while fewer than this many steps have been applied.
    pub warmup_steps: u32,
    /// False: this group's parameters take the base optimizer alone.
    pub precondition: bool,
}

impl Default for MkorConfig {
    fn default() -> Self {
        MkorConfig {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            eps: 1e-8,
            base: MkorBase::Sgd,
            inv_freq: 10,
            stabilization: 0.1,
            clip: 100.0,
            warmup_steps: 10,
            precondition: true,
        }
    }
}

impl MkorConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.momentum, self.betas.0, self.betas.1])?;
        if !(0.0..=1.0).contains(&self.stabilization) {
            return Err(RefError::InvalidHyperparameter(format!(
                "stabilization must be in [0, 1], got {}",
                self.stabilization
            )));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(RefError::InvalidHyperparameter(format!(
                "clip must be finite and > 0, got {}",
                self.clip
            )));
        }
        if self.inv_freq == 0 {
            return Err(RefError::InvalidHyperparameter(
                "inv_freq must be >= 1".into(),
            ));
        }
        Ok(())
    }

    /// Whether the step after `applied` applied steps updates the factors.
    pub fn factor_step(&self, applied: u64) -> bool {
        applied.is_multiple_of(self.inv_freq as u64) || applied < self.warmup_steps as u64
    }

    fn sgd(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            ..SgdConfig::default()
        }
    }

    fn adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.lr,
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
            decoupled_weight_decay: false,
            ..AdamConfig::adam()
        }
    }
}

crate::optim::optimizer_config!(MkorConfig);

/// A linear layer MKOR preconditions: the slots of its weight (`[d_out, d_in]`) and bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MkorLayer {
    pub weight: usize,
    pub bias: Option<usize>,
    pub d_out: usize,
    pub d_in: usize,
}

impl MkorLayer {
    /// Width of A⁻¹ and of ā: d_in, plus the ones column of a bias.
    pub fn a_dim(&self) -> usize {
        self.d_in + self.bias.is_some() as usize
    }
}

/// The layers among `tensors` ((name, shape, preconditioned) per slot): every 2-D tensor of a
/// preconditioned group, with the 1-D `<prefix>.bias` of `<prefix>.weight` as its bias when
/// it has d_out entries and is preconditioned too. A preconditioned tensor of any other rank
/// is an error (MKOR preconditions linear layers; route it to a plain group).
pub fn layers_of(tensors: &[(&str, &[usize], bool)]) -> Result<Vec<MkorLayer>, RefError> {
    let mut layers = Vec::new();
    for (slot, &(name, shape, pre)) in tensors.iter().enumerate() {
        if !pre || shape.len() == 1 {
            continue;
        }
        if shape.len() != 2 {
            return Err(RefError::InvalidHyperparameter(format!(
                "MKOR preconditions linear layers ([out, in] weights); {name} has shape \
                 {shape:?}: route it to a group with precondition = false"
            )));
        }
        let bias = name.strip_suffix(".weight").and_then(|prefix| {
            let want = format!("{prefix}.bias");
            tensors
                .iter()
                .position(|&(n, s, p)| p && n == want && s == [shape[0]])
        });
        layers.push(MkorLayer {
            weight: slot,
            bias,
            d_out: shape[0],
            d_in: shape[1],
        });
    }
    Ok(layers)
}

/// One layer's statistics for a factor step: ā (`a_dim` entries) and ḡ (`d_out`).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStatistics {
    pub a: Vec<f32>,
    pub g: Vec<f32>,
}

/// ā and ḡ from a batch: `inputs` is rows × d_in (the layer's input), `douts` rows × d_out
/// (∂L/∂y of the mean loss). ā_j = mean_i clamp(x_ij, ±clip) (then 1 for the bias column);
/// ḡ_j = mean_i clamp(rows · δ_ij, ±clip) (`ComputeG.linear` scales by the row count).
pub fn batch_statistics(
    inputs: &[f32],
    douts: &[f32],
    rows: usize,
    with_bias: bool,
    clip: f64,
) -> Result<LayerStatistics, RefError> {
    if rows == 0 || !inputs.len().is_multiple_of(rows) || !douts.len().is_multiple_of(rows) {
        return Err(RefError::InvalidHyperparameter(format!(
            "statistics of {rows} rows from {} inputs and {} output gradients",
            inputs.len(),
            douts.len()
        )));
    }
    let mean = |data: &[f32], scale: f64| -> Vec<f32> {
        let width = data.len() / rows;
        (0..width)
            .map(|j| {
                let s: f64 = (0..rows)
                    .map(|i| (data[i * width + j] as f64 * scale).clamp(-clip, clip))
                    .sum();
                (s / rows as f64) as f32
            })
            .collect()
    };
    let mut a = mean(inputs, 1.0);
    if with_bias {
        a.push(1.0f32.min(clip as f32));
    }
    Ok(LayerStatistics {
        a,
        g: mean(douts, rows as f64),
    })
}

/// A factor step on one inverse factor `f` (n × n, row-major) with vector `v`: the reset, or
/// the Sherman–Morrison update and its max |entry| (None after a reset).
pub fn update_factor(f: &mut [f32], n: usize, v: &[f32], reset: bool, zeta: f64) -> Option<f32> {
    if reset {
        let (keep, add) = ((1.0 - zeta) as f32, zeta as f32);
        for i in 0..n {
            for j in 0..n {
                f[i * n + j] = keep * f[i * n + j] + if i == j { add } else { 0.0 };
            }
        }
        return None;
    }
    let x: Vec<f32> = (0..n * n)
        .map(|k| 0.95 * f[k] + if k / n == k % n { 0.05 } else { 0.0 })
        .collect();
    let u: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| x[i * n + j] as f64 * v[j] as f64).sum())
        .collect();
    let w: Vec<f64> = (0..n)
        .map(|j| (0..n).map(|i| x[i * n + j] as f64 * v[i] as f64).sum())
        .collect();
    let wv: f64 = w.iter().zip(v).map(|(a, &b)| a * b as f64).sum();
    let s = 1.0 / (1.0 + wv);
    let mut max = 0.0f32;
    for i in 0..n {
        for j in 0..n {
            let val = x[i * n + j] - (s * u[i] * w[j]) as f32;
            f[i * n + j] = val;
            max = max.max(val.abs());
        }
    }
    Some(max)
}

/// One layer's factors and reset flags.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    pub a_inv: Vec<f32>,
    pub g_inv: Vec<f32>,
    pub a_reset: bool,
    pub g_reset: bool,
}

/// Base-optimizer state of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseState {
    Sgd(SgdState),
    Adam(AdamState),
}

/// The whole optimizer on the CPU: layers, factors, base states, applied steps.
#[derive(Debug, Clone)]
pub struct Mkor {
    /// Each tensor's config (its group's).
    pub configs: Vec<MkorConfig>,
    pub layers: Vec<MkorLayer>,
    pub factors: Vec<Factors>,
    pub base: Vec<BaseState>,
    pub applied: u64,
    /// Statistics for the next factor step, taken by [`ReferenceOptimizer::step_with`].
    pub pending: Option<Vec<LayerStatistics>>,
    pub max_grad_norm: Option<f64>,
    pub skip_non_finite: bool,
}

impl Mkor {
    /// `tensors`: (name, shape, config) per slot. The factor hyperparameters (`inv_freq`,
    /// `stabilization`, `clip`, `warmup_steps`) must agree across groups.
    pub fn new(tensors: &[(&str, &[usize], MkorConfig)]) -> Result<Mkor, RefError> {
        for (_, _, c) in tensors {
            c.validate()?;
        }
        let flags: Vec<(&str, &[usize], bool)> = tensors
            .iter()
            .map(|&(n, s, c)| (n, s, c.precondition))
            .collect();
        let layers = layers_of(&flags)?;
        let factors = layers
            .iter()
            .map(|l| Factors {
                a_inv: identity(l.a_dim()),
                g_inv: identity(l.d_out),
                a_reset: true,
                g_reset: true,
            })
            .collect();
        let base = tensors
            .iter()
            .map(|(_, s, c)| match c.base {
                MkorBase::Sgd => BaseState::Sgd(SgdState::default()),
                MkorBase::Adam => BaseState::Adam(AdamState::new(s.iter().product(), false)),
            })
            .collect();
        Ok(Mkor {
            configs: tensors.iter().map(|t| t.2).collect(),
            layers,
            factors,
            base,
            applied: 0,
            pending: None,
            max_grad_norm: None,
            skip_non_finite: true,
        })
    }

    /// Whether the next step updates the factors (and so needs statistics).
    pub fn factor_step_due(&self) -> bool {
        self.configs
            .first()
            .is_some_and(|c| c.factor_step(self.applied))
    }

    /// One applied step with the guard's (already clipped) gradients; `stats` per layer, needed
    /// on a factor step.
    pub fn step(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        stats: Option<&[LayerStatistics]>,
    ) -> Result<(), RefError> {
        check_len("params", self.configs.len(), params.len())?;
        check_len("grads", self.configs.len(), grads.len())?;
        if self.factor_step_due() {
            let stats = stats.ok_or_else(|| {
                RefError::MissingInput("MKOR's layer statistics on a factor step".into())
            })?;
            check_len("layer statistics", self.layers.len(), stats.len())?;
            self.update_factors(stats)?;
        }
        let mut updates: Vec<Vec<f32>> = grads.to_vec();
        for (l, layer) in self.layers.iter().enumerate() {
            precondition(layer, &self.factors[l], grads, &mut updates);
        }
        for (i, p) in params.iter_mut().enumerate() {
            let cfg = &self.configs[i];
            let lr = cfg.lr * lr_multiplier;
            match &mut self.base[i] {
                BaseState::Sgd(st) => sgd::step(&cfg.sgd(), lr, p, &updates[i], st)?,
                BaseState::Adam(st) => adam::step(&cfg.adam(), lr, p, &updates[i], st)?,
            }
        }
        self.applied += 1;
        Ok(())
    }

    /// A⁻¹ then G⁻¹ of every layer (A's check can reset G in the same step).
    fn update_factors(&mut self, stats: &[LayerStatistics]) -> Result<(), RefError> {
        let cfg = self.configs[0];
        for (l, layer) in self.layers.iter().enumerate() {
            check_len("ā", layer.a_dim(), stats[l].a.len())?;
            check_len("ḡ", layer.d_out, stats[l].g.len())?;
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let f = &mut self.factors[l];
            let (n, reset) = (layer.a_dim(), f.a_reset);
            match update_factor(&mut f.a_inv, n, &stats[l].a, reset, cfg.stabilization) {
                None => f.a_reset = false,
                Some(max) if max > 2.0 => (f.a_reset, f.g_reset) = (true, true),
                Some(_) => {}
            }
            let (n, reset) = (layer.d_out, f.g_reset);
            match update_factor(&mut f.g_inv, n, &stats[l].g, reset, cfg.stabilization) {
                None => f.g_reset = false,
                Some(max) if max > 2.0 => (f.a_reset, f.g_reset) = (true, true),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

impl super::ReferenceOptimizer for Mkor {
    /// The guard, then [`Mkor::step`] with the statistics given to `pending` (required on a
    /// factor step when there are layers).
    fn step_with(
        &mut self,
        lr_multiplier: f64,
        params: &mut [Vec<f32>],
        grads: &[Vec<f32>],
        _hvps: Option<&[Vec<f32>]>,
    ) -> Result<crate::guard::GuardDecision, RefError> {
        check_len("grads", params.len(), grads.len())?;
        let decision = crate::guard::decide(
            grads.iter().map(|g| &g[..]),
            self.max_grad_norm,
            self.skip_non_finite,
        );
        if decision.skip {
            return Ok(decision);
        }
        let clipped: Vec<Vec<f32>> = grads
            .iter()
            .map(|g| crate::guard::clipped(g, decision.clip_coef))
            .collect();
        let stats = if self.layers.is_empty() {
            Some(Vec::new())
        } else if self.factor_step_due() {
            self.pending.take()
        } else {
            None
        };
        self.step(lr_multiplier, params, &clipped, stats.as_deref())?;
        Ok(decision)
    }

    fn update_hessian(
        &mut self,
        _estimates: &[Vec<f32>],
        _probes: Option<&[Vec<f32>]>,
    ) -> Result<crate::guard::GuardDecision, RefError> {
        Err(RefError::MissingInput(
            "MKOR keeps no Hessian estimate".into(),
        ))
    }

    fn fields(&self, i: usize) -> Vec<(&'static str, &[f32])> {
        match self.base.get(i) {
            Some(BaseState::Sgd(st)) => st
                .momentum_buffer
                .as_deref()
                .map(|b| vec![("momentum_buffer", b)])
                .unwrap_or_default(),
            Some(BaseState::Adam(st)) => {
                vec![
                    ("exp_avg", &st.exp_avg[..]),
                    ("exp_avg_sq", &st.exp_avg_sq[..]),
                ]
            }
            None => Vec::new(),
        }
    }

    fn set_guard(&mut self, max_grad_norm: Option<f64>, skip_non_finite: bool) {
        self.max_grad_norm = max_grad_norm;
        self.skip_non_finite = skip_non_finite;
    }
}

/// The n × n identity, row-major.
pub fn identity(n: usize) -> Vec<f32> {
    (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect()
}

/// `Δ = G⁻¹ [∇W | ∇b] A⁻¹` rescaled to the gradient's norm, into `updates` (left raw when
/// the ratio is not finite).
fn precondition(layer: &MkorLayer, f: &Factors, grads: &[Vec<f32>], updates: &mut [Vec<f32>]) {
    let (m, n) = (layer.d_out, layer.a_dim());
    let gw = &grads[layer.weight];
    let packed: Vec<f32> = (0..m * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if j < layer.d_in {
                gw[i * layer.d_in + j]
            } else {
                grads[layer.bias.expect("a_dim counts the bias")][i]
            }
        })
        .collect();
    let t = matmul(&f.g_inv, &packed, m, m, n);
    let delta = matmul(&t, &f.a_inv, m, n, n);
    let norm =
        |v: &mut dyn Iterator<Item = f32>| v.map(|x| (x as f64) * (x as f64)).sum::<f64>().sqrt();
    let split = |d: &[f32], bias: bool| -> f64 {
        norm(
            &mut (0..m * n)
                .filter(|k| (k % n == layer.d_in) == bias)
                .map(|k| d[k]),
        )
    };
    let mut grad_norm = split(&packed, false);
    let mut update_norm = split(&delta, false);
    if layer.bias.is_some() {
        grad_norm += split(&packed, true);
        update_norm += split(&delta, true);
    }
    let ratio = (grad_norm as f32) / (update_norm as f32);
    if !ratio.is_finite() {
        return;
    }
    for (k, d) in delta.iter().enumerate() {
        let (i, j) = (k / n, k % n);
        let v = d * ratio;
        if j < layer.d_in {
            updates[layer.weight][i * layer.d_in + j] = v;
        } else if let Some(b) = layer.bias {
            updates[b][i] = v;
        }
    }
}

/// (m × k)·(k × n), row-major, f64 accumulation rounded to f32.
fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let s: f64 = (0..k)
                .map(|p| a[i * k + p] as f64 * b[p * n + j] as f64)
                .sum();
            out[i * n + j] = s as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sherman_morrison_inverts_the_rank_one_update() {
        // F⁻¹ = I: the update is (0.95·... ) X = I, so F⁻¹ ← (I + v vᵀ)⁻¹.
        let n = 3;
        let mut f = identity(n);
        let v = [0.5f32, -1.0, 2.0];
        let max = update_factor(&mut f, n, &v, false, 0.1).unwrap();
        // (I + v vᵀ)·F⁻¹ = I.
        for i in 0..n {
            for j in 0..n {
                let s: f32 = (0..n)
                    .map(|k| ((i == k) as u8 as f32 + v[i] * v[k]) * f[k * n + j])
                    .sum();
                assert!((s - (i == j) as u8 as f32).abs() < 1e-6, "{i},{j}: {s}");
            }
        }
        assert!(max <= 1.0);
        // A reset mixes toward I.
        let mut g = vec![2.0f32; 4];
        assert_eq!(update_factor(&mut g, 2, &[0.0, 0.0], true, 0.25), None);
        assert_eq!(g, vec![1.75, 1.5, 1.5, 1.75]);
    }

    #[test]
    fn layers_pair_weights_with_biases_and_refuse_other_ranks() {
        let w = [4usize, 3];
        let b = [4usize];
        let gain = [3usize];
        let t = [
            ("fc.weight", &w[..], true),
            ("fc.bias", &b[..], true),
            ("ln.weight", &gain[..], true),
            ("head", &w[..], false),
        ];
        let layers = layers_of(&t).unwrap();
        assert_eq!(
            layers,
            vec![MkorLayer {
                weight: 0,
                bias: Some(1),
                d_out: 4,
                d_in: 3
            }]
        );
        let conv = [2usize, 3, 3, 3];
        let e = layers_of(&[("conv.weight", &conv[..], true)]).unwrap_err();
        assert!(matches!(e, RefError::InvalidHyperparameter(_)), "{e}");
    }

    #[test]
    fn statistics_clamp_before_the_mean_and_scale_gradients_by_rows() {
        let s = batch_statistics(&[1.0, 300.0, 3.0, -4.0], &[0.5, -0.25], 2, true, 100.0).unwrap();
        assert_eq!(s.a, vec![2.0, 48.0, 1.0]);
        assert_eq!(s.g, vec![0.25]);
    }
}
