//! FRUGAL (gradient splitting, read from a fork of philip-zmushko/FRUGAL: `CoordOptimizer`
//! with `coord_choice` columns / rows / randk, and `BlockOptimizer`): each 2-D weight keeps
//! AdamW state on a random state-full subset, refreshed every `update_gap` steps (statistics
//! reset, so bias correction restarts), and moves the rest by signSGD (or SGD, or not at all).
//! Every parameter is decayed by `1 − lr·wd` first. Parameters that are not 2-D are plain AdamW.
//!
//! Subsets, identical on the GPU, for refresh period π = ⌊(t − 1)/update_gap⌋ of applied step t
//! and layout slot s ([`Projection`]):
//! - columns / rows: unit j (a column, a row) gets the key
//!   `philox4x32_10((j, s, π, 0x46524741), seed)[0]`; the ⌊n·ρ⌋ units with the smallest
//!   (key, j) are state-full (upstream: `randperm(n)[:int(n·ρ)]`).
//! - randk: element e is state-full when `π_perm(e) < ⌊numel·ρ⌋`, `π_perm` a keyed Feistel
//!   permutation of [0, numel) ([`randk_position`]): an exact-size uniform random subset with
//!   no sort, computable per element on the GPU.
//! - blocks (BAdam-like): the whole tensor is state-full when its key
//!   `philox4x32_10((s, 0, π, 0x46524742), seed)[0]` is among the round(ρ·#tensors) smallest
//!   of the 2-D tensors of its group (`peers`); upstream's block order 'random'.

pub mod svd;

use crate::random::{key, philox4x32_10};
use crate::{check_len, RefError};
use serde::{Deserialize, Serialize};

/// Philox counter word 3 of FRUGAL's column keys ("FRGA").
pub const FRUGAL_STREAM: u32 = 0x4652_4741;
/// Philox counter word 3 of the blocks variant's tensor keys ("FRGB").
pub const BLOCKS_STREAM: u32 = 0x4652_4742;
/// Philox counter word 3 of randk's Feistel rounds ("FRK" + round).
pub const RANDK_STREAM: u32 = 0x4652_4B00;

/// Which part of a 2-D weight keeps AdamW state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// ⌊n_cols·ρ⌋ random columns (upstream's code default).
    #[default]
    Columns,
    /// ⌊n_rows·ρ⌋ random rows.
    Rows,
    /// ⌊numel·ρ⌋ random entries (upstream's README default).
    Randk,
    /// round(ρ·#tensors) whole tensors of the group (BAdam-like).
    Blocks,
    /// The top-r singular subspace of the gradient, r = round(ρ·min(rows, cols)) (GaLore-like,
    /// [`svd`]); state stored compactly in the projected coordinates.
    Svd,
}

impl Projection {
    /// The WGSL `FrugalParam.mode` code.
    pub fn code(self) -> u32 {
        match self {
            Projection::Columns => 0,
            Projection::Rows => 1,
            Projection::Randk => 2,
            Projection::Blocks => 3,
            Projection::Svd => 4,
        }
    }
}

/// What moves the columns outside the state-full subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveRule {
    /// `p −= lr·scale·sign(g)` (the default).
    SignSgd,
    /// `p −= lr·scale·g`.
    Sgd,
    /// No update.
    No,
}

impl InactiveRule {
    pub fn code(self) -> u32 {
        match self {
            InactiveRule::SignSgd => 0,
            InactiveRule::Sgd => 1,
            InactiveRule::No => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrugalConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// ρ: share of columns with AdamW state.
    pub density: f64,
    /// T: steps between subset refreshes.
    pub update_gap: u32,
    pub inactive_update_rule: InactiveRule,
    pub inactive_lr_scale: f64,
    pub proj_params_lr_scale: f64,
    /// Seed of the subset choice.
    pub seed: u64,
    /// The state-full subspace (columns unless said; older checkpoints have none).
    #[serde(default)]
    pub projection: Projection,
}

impl Default for FrugalConfig {
    fn default() -> Self {
        FrugalConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            density: 0.25,
            update_gap: 200,
            inactive_update_rule: InactiveRule::SignSgd,
            inactive_lr_scale: 1.0,
            proj_params_lr_scale: 1.0,
            seed: 0,
            projection: Projection::Columns,
        }
    }
}

impl FrugalConfig {
    pub fn validate(&self) -> Result<(), RefError> {
        crate::non_negative("lr", self.lr)?;
        crate::non_negative("eps", self.eps)?;
        crate::betas_in_unit_interval(&[self.betas.0, self.betas.1])?;
        crate::non_negative("weight_decay", self.weight_decay)?;
        crate::non_negative("inactive_lr_scale", self.inactive_lr_scale)?;
        crate::non_negative("proj_params_lr_scale", self.proj_params_lr_scale)?;
        if !(0.0..=1.0).contains(&self.density) {
            return Err(RefError::InvalidHyperparameter(format!(
                "density must be in [0, 1], got {}",
                self.density
            )));
        }
        if self.update_gap == 0 {
            return Err(RefError::InvalidHyperparameter(
                "update_gap must be >= 1".into(),
            ));
        }
        Ok(())
    }

    /// Active columns of a matrix with `n_cols` columns.
    pub fn active_columns(&self, n_cols: usize) -> usize {
        (n_cols as f64 * self.density).floor() as usize
    }

    /// The units a 2-D weight's subset is drawn from (columns, rows, entries; 1 for blocks).
    pub fn units(&self, shape: &[usize]) -> usize {
        match self.projection {
            Projection::Columns => shape[1],
            Projection::Rows => shape[0],
            Projection::Randk => shape[0] * shape[1],
            Projection::Blocks | Projection::Svd => 1,
        }
    }

    /// State-full units of a 2-D weight (for blocks: state-full tensors among `peers`).
    pub fn active_units(&self, shape: &[usize], peers: usize) -> usize {
        match self.projection {
            Projection::Blocks => (peers as f64 * self.density).round_ties_even() as usize,
            Projection::Svd => svd::SvdShape::new(self, shape).r,
            _ => self.active_columns(self.units(shape)),
        }
    }

    /// The unit of element `e` of a weight with `n_cols` columns.
    pub fn unit_of(&self, e: usize, n_cols: usize) -> usize {
        match self.projection {
            Projection::Columns => e % n_cols,
            Projection::Rows => e / n_cols,
            Projection::Randk => e,
            Projection::Blocks | Projection::Svd => 0,
        }
    }
}

/// The position of element `e` in randk's keyed random permutation of [0, n): a balanced
/// 4-round Feistel network on the smallest even bit width covering n (its round function
/// `philox4x32_10((R, slot, period, RANDK_STREAM + r), seed)[0]`), cycle-walked back into
/// [0, n). A bijection, so exactly k elements have a position below k.
pub fn randk_position(seed: u64, slot: u32, period: u32, n: u32, e: u32) -> u32 {
    let bits = (32 - (n.max(2) - 1).leading_zeros()).max(2);
    let half = bits.div_ceil(2);
    let mask = (1u32 << half) - 1;
    let mut x = e;
    loop {
        let (mut l, mut r) = (x >> half, x & mask);
        for round in 0..4u32 {
            let f = philox4x32_10([r, slot, period, RANDK_STREAM + round], key(seed))[0] & mask;
            (l, r) = (r, l ^ f);
        }
        x = (l << half) | r;
        if x < n {
            return x;
        }
    }
}

/// The state-full tensors of a group in period `period`: `active[i]` for `slots[i]`, the
/// round(ρ·n) with the smallest (key, slot).
pub fn select_blocks(seed: u64, period: u32, slots: &[u32], k: usize) -> Vec<bool> {
    let keyed: Vec<(u32, u32)> = slots
        .iter()
        .map(|&s| (block_key(seed, s, period), s))
        .collect();
    keyed
        .iter()
        .map(|&(kj, sj)| {
            keyed
                .iter()
                .filter(|&&(ki, si)| (ki, si) < (kj, sj))
                .count()
                < k
        })
        .collect()
}

fn block_key(seed: u64, slot: u32, period: u32) -> u32 {
    philox4x32_10([slot, 0, period, BLOCKS_STREAM], key(seed))[0]
}

/// The state-full mask of one 2-D weight (per unit; one entry for blocks).
pub fn select_units(
    cfg: &FrugalConfig,
    slot: u32,
    period: u32,
    shape: &[usize],
    peers: &[u32],
) -> Vec<bool> {
    let n = cfg.units(shape);
    match cfg.projection {
        Projection::Columns | Projection::Rows => {
            select_columns(cfg.seed, slot, period, n, cfg.active_columns(n))
        }
        Projection::Randk => {
            let k = cfg.active_columns(n) as u32;
            (0..n as u32)
                .map(|e| randk_position(cfg.seed, slot, period, n as u32, e) < k)
                .collect()
        }
        Projection::Svd => vec![true],
        Projection::Blocks => {
            let pool: Vec<u32> = if peers.is_empty() {
                vec![slot]
            } else {
                peers.to_vec()
            };
            let k = cfg.active_units(shape, pool.len());
            let active = select_blocks(cfg.seed, period, &pool, k);
            vec![pool.iter().zip(active).any(|(&s, a)| s == slot && a)]
        }
    }
}

/// The active-column mask of parameter slot `slot` in refresh period `period`.
pub fn select_columns(seed: u64, slot: u32, period: u32, n_cols: usize, k: usize) -> Vec<bool> {
    let keys: Vec<(u32, usize)> = (0..n_cols)
        .map(|j| {
            (
                philox4x32_10([j as u32, slot, period, FRUGAL_STREAM], key(seed))[0],
                j,
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    let mut mask = vec![false; n_cols];
    for &(_, j) in sorted.iter().take(k) {
        mask[j] = true;
    }
    mask
}

#[derive(Debug, Clone, PartialEq)]
pub struct FrugalState {
    pub step: u64,
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
    /// The state-full units of the current period ([`FrugalConfig::unit_of`]).
    pub mask: Vec<bool>,
    /// Blocks: the slots of the 2-D tensors of this tensor's group, this one included (set by
    /// whoever knows the layout; empty means the tensor is its own pool).
    pub peers: Vec<u32>,
    /// SVD projector: the basis W (d×r) of the current period.
    pub basis: Vec<f32>,
}

impl FrugalState {
    pub fn new(len: usize) -> Self {
        FrugalState {
            step: 0,
            exp_avg: vec![0.0; len],
            exp_avg_sq: vec![0.0; len],
            mask: Vec::new(),
            peers: Vec::new(),
            basis: Vec::new(),
        }
    }

    /// The state of a parameter of `shape`: compact (projected coordinates) for a 2-D weight
    /// under the SVD projector, parameter-sized otherwise.
    pub fn for_shape(cfg: &FrugalConfig, shape: &[usize]) -> Self {
        if shape.len() == 2 && cfg.projection == Projection::Svd {
            FrugalState::new(svd::SvdShape::new(cfg, shape).low_len())
        } else {
            FrugalState::new(shape.iter().product())
        }
    }
}

/// One FRUGAL step on parameter slot `slot` of shape `shape`.
#[allow(clippy::too_many_arguments)]
pub fn step(
    cfg: &FrugalConfig,
    lr: f64,
    slot: u32,
    shape: &[usize],
    p: &mut [f32],
    g: &[f32],
    st: &mut FrugalState,
) -> Result<(), RefError> {
    check_len("grad", p.len(), g.len())?;
    if shape.len() == 2 && cfg.projection == Projection::Svd {
        return svd::step(cfg, lr, slot, shape, p, g, st);
    }
    check_len("exp_avg", p.len(), st.exp_avg.len())?;
    check_len("exp_avg_sq", p.len(), st.exp_avg_sq.len())?;
    st.step += 1;
    let projected = shape.len() == 2;
    let gap = cfg.update_gap as u64;
    let local = if projected {
        let since = (st.step - 1) % gap;
        if since == 0 {
            let period = ((st.step - 1) / gap) as u32;
            st.mask = select_units(cfg, slot, period, shape, &st.peers);
            st.exp_avg.fill(0.0);
            st.exp_avg_sq.fill(0.0);
        }
        since + 1
    } else {
        st.step
    };
    let (beta1, beta2) = cfg.betas;
    let scale = if projected {
        cfg.proj_params_lr_scale
    } else {
        1.0
    };
    let step_size = (lr * scale / (1.0 - beta1.powi(local as i32))) as f32;
    let bc2_sqrt = (1.0 - beta2.powi(local as i32)).sqrt() as f32;
    let inactive = (lr * scale * cfg.inactive_lr_scale) as f32;
    let decay = (1.0 - lr * cfg.weight_decay) as f32;
    let (b1, c1, b2, c2) = (
        beta1 as f32,
        (1.0 - beta1) as f32,
        beta2 as f32,
        (1.0 - beta2) as f32,
    );
    let eps = cfg.eps as f32;
    let n_cols = if projected { shape[1] } else { 1 };
    for i in 0..p.len() {
        p[i] *= decay;
        let active = !projected || st.mask[cfg.unit_of(i, n_cols)];
        if active {
            let m = st.exp_avg[i] * b1 + c1 * g[i];
            let v = st.exp_avg_sq[i] * b2 + c2 * (g[i] * g[i]);
            st.exp_avg[i] = m;
            st.exp_avg_sq[i] = v;
            p[i] -= step_size * (m / (v.sqrt() / bc2_sqrt + eps));
        } else {
            match cfg.inactive_update_rule {
                InactiveRule::SignSgd => p[i] -= inactive * super::lion::sign(g[i]),
                InactiveRule::Sgd => p[i] -= inactive * g[i],
                InactiveRule::No => {}
            }
        }
    }
    Ok(())
}

crate::optim::optimizer_config!(FrugalConfig);

/// FRUGAL's state is keyed to its layout slot (the subset depends on it), and the blocks
/// variant's to the 2-D tensors of its group.
impl crate::optim::PerTensor for FrugalConfig {
    type State = (u32, FrugalState);

    fn new_state(&self, shape: &[usize], slot: usize) -> Self::State {
        (slot as u32, FrugalState::for_shape(self, shape))
    }

    fn new_state_among(
        &self,
        shape: &[usize],
        slot: usize,
        peers: &[(usize, &[usize])],
    ) -> Self::State {
        let mut st = FrugalState::for_shape(self, shape);
        st.peers = block_peers(peers);
        (slot as u32, st)
    }

    fn step(
        &self,
        lr: f64,
        shape: &[usize],
        p: &mut [f32],
        g: &[f32],
        _hvp: Option<&[f32]>,
        st: &mut Self::State,
    ) -> Result<(), RefError> {
        step(self, lr, st.0, shape, p, g, &mut st.1)
    }

    fn fields(st: &Self::State) -> Vec<(&'static str, &[f32])> {
        vec![
            ("exp_avg", &st.1.exp_avg[..]),
            ("exp_avg_sq", &st.1.exp_avg_sq[..]),
        ]
    }
}

/// The blocks variant's pool: the slots of the 2-D tensors among `peers`.
pub fn block_peers(peers: &[(usize, &[usize])]) -> Vec<u32> {
    peers
        .iter()
        .filter(|(_, shape)| shape.len() == 2)
        .map(|&(slot, _)| slot as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_choice_is_exact_and_varies_by_period() {
        let a = select_columns(7, 2, 0, 100, 25);
        assert_eq!(a.iter().filter(|&&x| x).count(), 25);
        let b = select_columns(7, 2, 1, 100, 25);
        assert_ne!(a, b);
        assert_eq!(a, select_columns(7, 2, 0, 100, 25));
        assert!(select_columns(7, 2, 0, 10, 0).iter().all(|&x| !x));
    }

    #[test]
    fn randk_positions_are_a_permutation_and_vary_by_period() {
        for n in [1u32, 2, 3, 17, 1000, 4097] {
            let mut seen = vec![false; n as usize];
            for e in 0..n {
                let p = randk_position(3, 1, 0, n, e);
                assert!(!seen[p as usize], "n = {n}: {p} twice");
                seen[p as usize] = true;
            }
        }
        let a: Vec<u32> = (0..100).map(|e| randk_position(3, 1, 0, 100, e)).collect();
        let b: Vec<u32> = (0..100).map(|e| randk_position(3, 1, 1, 100, e)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn unit_masks_have_exact_sizes() {
        let shape = [17usize, 33];
        for (projection, units, k) in [
            (Projection::Columns, 33, 8),
            (Projection::Rows, 17, 4),
            (Projection::Randk, 561, 140),
        ] {
            let cfg = FrugalConfig {
                projection,
                ..FrugalConfig::default()
            };
            let mask = select_units(&cfg, 2, 5, &shape, &[]);
            assert_eq!(
                (mask.len(), mask.iter().filter(|&&x| x).count()),
                (units, k)
            );
        }
        // Blocks: round(0.25·6) = 2 (ties to even: round(0.25·10) = 2) of the peers.
        let peers = [0u32, 2, 3, 5, 8, 9];
        let got = select_blocks(7, 4, &peers, 2);
        assert_eq!(got.iter().filter(|&&x| x).count(), 2);
        let cfg = FrugalConfig {
            projection: Projection::Blocks,
            ..FrugalConfig::default()
        };
        assert_eq!(cfg.active_units(&shape, 10), 2);
        assert_eq!(cfg.active_units(&shape, 6), 2);
    }
}
