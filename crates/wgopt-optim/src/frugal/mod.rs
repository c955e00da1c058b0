//! FRUGAL on the GPU (columns, rows, randk, blocks and svd variants, [`Projection`]):
//! `shaders/optim/frugal_columns.wgsl` rebuilds each 2-D weight's state-full subset on refresh
//! steps (Philox keys and the exact ⌊n·ρ⌋ smallest for columns and rows, a keyed Feistel
//! permutation into a bit mask for randk, the round(ρ·#tensors) smallest tensor keys of the
//! group for blocks), then `shaders/optim/frugal.wgsl` applies AdamW on the subset and on every
//! non-2-D parameter, signSGD elsewhere; reference twin `wgopt_reference::optim::frugal`. Refresh timing, the
//! statistics reset and the bias correction all follow the GPU's own applied-step count, so a
//! skipped step needs no readback. Checkpoints hold `exp_avg`/`exp_avg_sq`; the subset is
//! recomputed from (seed, slot, period) after a load.
//!
//! For columns, rows, randk and blocks the optimizer state is kept full-size (zero outside the
//! subset): the traffic of a projected weight is 12 + 16ρ bytes per element as in the paper,
//! but its memory is not compacted. The SVD projector ([`svd`]) stores its state compactly:
//! 2·r·max(rows, cols) floats per 2-D weight, in two buffers shared with the plain parameters'
//! AdamW state (`FrugalParam.state_base`), checkpointed whole with the bases.

mod svd;

use crate::blocks::{element_blocks, ElementBlock, ParamTable};
use crate::program::{flag, Build, Flags, Program, Step};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::frugal::svd::SvdShape;
use wgopt_reference::optim::frugal::Projection;
use wgopt_reference::optim::FrugalConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::kernel::common::{ELEMENT_BLOCK, PHILOX, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Result, StepRecorder, StepStats};

/// `FrugalParam`.
pub static COMMON: Wgsl = wgsl!("optim/frugal_common.wgsl");

/// `optim/frugal_columns.wgsl`, the subsets on refresh steps: params, stats, columns.
pub static COLUMNS: Kernel = Kernel::new(
    wgsl!("optim/frugal_columns.wgsl"),
    &[&STEP_STATS, &PHILOX, &COMMON],
    &[R, R, W],
)
.twins(&[FrugalParam::LAYOUT, StepStats::LAYOUT]);

/// `optim/frugal.wgsl`: blocks, params, stats, param, grad, exp_avg, exp_avg_sq, columns.
pub static UPDATE: Kernel = Kernel::new(
    wgsl!("optim/frugal.wgsl"),
    &[&STEP_STATS, &ELEMENT_BLOCK, &COMMON],
    &[R, R, R, W, R, W, W, R],
)
.twins(&[ElementBlock::LAYOUT, FrugalParam::LAYOUT, StepStats::LAYOUT]);

/// Per-parameter scalars. WGSL twin: `FrugalParam` in shaders/optim/frugal_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct FrugalParam {
    pub n_cols: u32,
    pub col_base: u32,
    pub update_gap: u32,
    /// State-full units (columns, rows, entries; for blocks the group's state-full tensors).
    pub active_cols: u32,
    pub slot: u32,
    pub seed_lo: u32,
    pub seed_hi: u32,
    pub force_mask: u32,
    pub decay: f32,
    pub lr_scaled: f32,
    pub inactive_step: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub step: u32,
    /// [`Projection::code`].
    pub mode: u32,
    /// Units the subset is drawn from (columns, rows, entries; 1 for blocks).
    pub n_units: u32,
    /// Layout group (blocks draw among the 2-D tensors of one group).
    pub group: u32,
    pub numel: u32,
    /// Offset of this parameter's state in the compact state buffers (SVD projector only).
    pub state_base: u32,
}

/// The SVD projector's state: compact AdamW fields and the plan.
#[derive(Debug)]
struct Compact {
    exp_avg: wgpu::Buffer,
    exp_avg_sq: wgpu::Buffer,
    len: usize,
    plan: svd::SvdPlan,
}

/// FRUGAL's program.
#[derive(Debug)]
pub struct FrugalProgram {
    /// Arena state (every projection but svd).
    states: Vec<(&'static str, Arena)>,
    compact: Option<Compact>,
    table: ParamTable<FrugalParam>,
    dispatches: Vec<Dispatch>,
    /// Rebuild the subsets on the next step (after a checkpoint load).
    force_mask: bool,
    _buffers: Vec<wgpu::Buffer>,
}

/// FRUGAL over a parameter set.
pub type Frugal = Stepper<FrugalProgram>;

impl Program for FrugalProgram {
    type Config = FrugalConfig;
    const PART: &'static str = "frugal";

    /// The SVD projector has kernels and state of its own.
    fn kernel_flags(c: &FrugalConfig) -> Flags {
        vec![
            flag("inactive_update_rule", c.inactive_update_rule),
            flag("svd", c.projection == Projection::Svd),
        ]
    }

    /// These fix the column subsets.
    fn plan_flags(c: &FrugalConfig) -> Flags {
        vec![
            flag("density", c.density),
            flag("update_gap", c.update_gap),
            flag("seed", c.seed),
            flag("inactive_update_rule", c.inactive_update_rule),
            flag("projection", c.projection),
        ]
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&COLUMNS, &UPDATE, &svd::ADAM, &svd::APPLY]
    }

    fn build(cx: &Build<'_, FrugalConfig>) -> Result<Self> {
        let (engine, layout) = (cx.engine, cx.layout());
        let (mut host, groups, words) = param_table(cx)?;
        let svd_mode = host.iter().any(|q| q.mode == Projection::Svd.code());
        let pages = if svd_mode {
            svd::place_low(engine, &mut host)?
        } else {
            Vec::new()
        };
        let table = ParamTable::new(engine, "frugal params", host.clone(), groups);
        let (states, compact) = if svd_mode {
            let len = host
                .iter()
                .map(|q| q.state_base as usize + state_len(q))
                .max()
                .unwrap_or(0);
            let field = |label| svd::storage(engine, label, len);
            let (exp_avg, exp_avg_sq) = (field("frugal exp_avg")?, field("frugal exp_avg_sq")?);
            let plan = svd::SvdPlan::new(cx, &table, (&host, &pages), (&exp_avg, &exp_avg_sq))?;
            let c = Compact {
                exp_avg,
                exp_avg_sq,
                len,
                plan,
            };
            (Vec::new(), Some(c))
        } else {
            let states: Vec<(&'static str, Arena)> = ["exp_avg", "exp_avg_sq"]
                .into_iter()
                .map(|f| (f, Arena::new(engine, layout, f)))
                .collect();
            (states, None)
        };
        let columns = engine.create_buffer(
            "frugal subsets",
            if svd_mode { 4 } else { words.max(1) * 4 },
            wgpu::BufferUsages::STORAGE,
        );
        let state = StateBinding::of(&states, compact.as_ref());
        let (dispatches, buffers) = dispatches(cx, state, (&table, &host), columns);
        Ok(FrugalProgram {
            states,
            compact,
            table,
            dispatches,
            force_mask: false,
            _buffers: buffers,
        })
    }

    fn record(&mut self, cx: &Step<'_, FrugalConfig>, rec: &mut StepRecorder) {
        let (t, force) = (cx.t, self.force_mask as u32);
        self.table.write(cx.engine, |q, g| {
            let cfg = cx.config(g);
            let lr = cx.lr(cfg);
            let scale = if q.n_cols > 0 {
                cfg.proj_params_lr_scale
            } else {
                1.0
            };
            q.force_mask = force;
            q.decay = (1.0 - lr * cfg.weight_decay) as f32;
            q.lr_scaled = (lr * scale) as f32;
            q.inactive_step = (lr * scale * cfg.inactive_lr_scale) as f32;
            q.beta1 = cfg.betas.0 as f32;
            q.beta2 = cfg.betas.1 as f32;
            q.eps = cfg.eps as f32;
            q.one_minus_beta1 = (1.0 - cfg.betas.0) as f32;
            q.one_minus_beta2 = (1.0 - cfg.betas.1) as f32;
            // Bias correction counts from the last refresh for projected parameters.
            let local = if q.n_cols > 0 {
                (t - 1) % q.update_gap as u64 + 1
            } else {
                t
            } as i32;
            q.step_size = (lr * scale / (1.0 - cfg.betas.0.powi(local))) as f32;
            q.bias_correction2_sqrt = (1.0 - cfg.betas.1.powi(local)).sqrt() as f32;
            q.step = t as u32;
        });
        self.force_mask = false;
        for d in &self.dispatches {
            rec.push(d.clone());
        }
        if let Some(c) = &self.compact {
            c.plan.record(rec);
        }
    }

    /// The SVD projector refreshes its bases on the host when a period opens.
    fn host_work_due(&self, t: u64) -> bool {
        self.compact.as_ref().is_some_and(|c| c.plan.due(t))
    }

    fn host_work(&mut self, cx: &Step<'_, FrugalConfig>, stats: &StepStats) -> Result<()> {
        match &mut self.compact {
            Some(c) => c.plan.host_work(cx.engine, stats),
            None => Ok(()),
        }
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.states.iter().map(|(n, a)| (*n, a)).collect()
    }

    /// The SVD projector's compact state and bases (PyTorch's per-parameter layout does not
    /// apply: a weight's state is r·max(rows, cols) floats in its projected coordinates).
    fn whole_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
        match &self.compact {
            Some(c) => {
                let (basis, n) = c.plan.basis();
                vec![
                    ("frugal.svd.exp_avg".into(), &c.exp_avg, vec![c.len]),
                    ("frugal.svd.exp_avg_sq".into(), &c.exp_avg_sq, vec![c.len]),
                    ("frugal.svd.basis".into(), basis, vec![n]),
                ]
            }
            None => Vec::new(),
        }
    }

    /// The subsets are recomputed from (seed, slot, period) after a load; the SVD bases come
    /// from the checkpoint and serve the rest of their period.
    fn restored(&mut self, _: &[u64]) -> Result<()> {
        self.force_mask = true;
        if let Some(c) = &mut self.compact {
            c.plan.restored();
        }
        Ok(())
    }
}

/// Compact state floats of a table row (SVD mode): its projected coordinates or the parameter.
fn state_len(q: &FrugalParam) -> usize {
    if svd::is_projected(q) {
        q.n_units as usize
    } else {
        q.numel as usize
    }
}

/// Where the elementwise kernel finds the AdamW state: arena chunks, or the compact buffers.
#[derive(Clone, Copy)]
enum StateBinding<'a> {
    Arenas(&'a Arena, &'a Arena),
    Compact(&'a wgpu::Buffer, &'a wgpu::Buffer),
}

impl<'a> StateBinding<'a> {
    fn of(states: &'a [(&'static str, Arena)], compact: Option<&'a Compact>) -> Self {
        match compact {
            Some(c) => StateBinding::Compact(&c.exp_avg, &c.exp_avg_sq),
            None => StateBinding::Arenas(&states[0].1, &states[1].1),
        }
    }

    fn chunk(self, chunk: usize) -> (&'a wgpu::Buffer, &'a wgpu::Buffer) {
        match self {
            StateBinding::Arenas(m, v) => (&m.chunks[chunk], &v.chunks[chunk]),
            StateBinding::Compact(m, v) => (m, v),
        }
    }
}

/// Each parameter's row of the table (in slot order), its group, and the words of the subset
/// buffer: per 2-D weight [keys | mask] over its units (columns, rows, its one block) or a bit
/// mask over its entries (randk).
fn param_table(cx: &Build<'_, FrugalConfig>) -> Result<(Vec<FrugalParam>, Vec<usize>, u64)> {
    let layout = cx.layout();
    let (mut host, mut groups, mut col_base) = (Vec::new(), Vec::new(), 0u64);
    for &i in cx.groups.slots() {
        let slot = &layout.slots[i];
        let cfg = cx.groups.config(slot.group);
        let projected = slot.shape.len() == 2;
        let (n_cols, n_units, words) = if projected {
            let mut units = cfg.units(&slot.shape);
            let words = match cfg.projection {
                Projection::Randk => units.div_ceil(32),
                Projection::Svd => {
                    // [P(G) | U] in the low-dimensional buffer.
                    units = SvdShape::new(cfg, &slot.shape).low_len();
                    2 * units
                }
                _ => 2 * units,
            };
            (slot.shape[1], units, words)
        } else {
            (0, 0, 0)
        };
        if n_units > u32::MAX as usize || col_base > u32::MAX as u64 {
            return Err(wgopt_scheduler::Error::OverLimit {
                what: format!("FRUGAL subset of {}", slot.name),
                size: n_units as u64,
                limit: u32::MAX as u64,
                unit: "units",
            });
        }
        let peers = cx
            .groups
            .slots()
            .iter()
            .filter(|&&j| layout.slots[j].group == slot.group && layout.slots[j].shape.len() == 2)
            .count();
        host.push(FrugalParam {
            n_cols: n_cols as u32,
            col_base: col_base as u32,
            update_gap: cfg.update_gap,
            active_cols: if projected {
                cfg.active_units(&slot.shape, peers) as u32
            } else {
                0
            },
            slot: i as u32,
            seed_lo: cfg.seed as u32,
            seed_hi: (cfg.seed >> 32) as u32,
            mode: cfg.projection.code(),
            n_units: n_units as u32,
            group: slot.group as u32,
            numel: slot.len as u32,
            ..Default::default()
        });
        groups.push(slot.group);
        col_base += words as u64;
    }
    // The compact state of the SVD projector: parameters one after another.
    let mut state_base = 0u64;
    for q in host.iter_mut().filter(|q| q.mode == Projection::Svd.code()) {
        q.state_base = state_base as u32;
        state_base += state_len(q) as u64;
        if state_base > u32::MAX as u64 {
            return Err(wgopt_scheduler::Error::OverLimit {
                what: "FRUGAL's compact state".into(),
                size: state_base,
                limit: u32::MAX as u64,
                unit: "floats",
            });
        }
    }
    Ok((host, groups, col_base))
}

/// The subset pass (not for svd), then the block-wise update per chunk (for svd only over the
/// parameters that are not 2-D: the projector updates the others).
fn dispatches(
    cx: &Build<'_, FrugalConfig>,
    state: StateBinding<'_>,
    (table, host): (&ParamTable<FrugalParam>, &[FrugalParam]),
    columns: wgpu::Buffer,
) -> (Vec<Dispatch>, Vec<wgpu::Buffer>) {
    let engine = cx.engine;
    let compact = matches!(state, StateBinding::Compact(..));
    let mut out = Vec::new();
    if !compact {
        out.push(engine.dispatch(
            &COLUMNS,
            &[],
            &[table.buffer(), cx.stats, &columns],
            grid(engine, table.len().max(1) as u32),
        ));
    }
    let rule = cx
        .groups
        .configs()
        .first()
        .map_or(0, |c| c.inactive_update_rule.code()) as f64;
    let (param, grad) = (cx.params.param_arena(), cx.params.grad_arena());
    let mut buffers = Vec::new();
    for (chunk, blocks) in element_blocks(cx.layout(), cx.groups.slots())
        .iter()
        .enumerate()
    {
        let blocks: Vec<ElementBlock> = blocks
            .iter()
            .filter(|b| !(compact && host[b.param as usize].n_cols > 0))
            .copied()
            .collect();
        if blocks.is_empty() {
            continue;
        }
        let buf = engine.upload(
            "frugal blocks",
            bytemuck::cast_slice(&blocks),
            wgpu::BufferUsages::STORAGE,
        );
        let (exp_avg, exp_avg_sq) = state.chunk(chunk);
        let bound = [
            &buf,
            table.buffer(),
            cx.stats,
            &param.chunks[chunk],
            &grad.chunks[chunk],
            exp_avg,
            exp_avg_sq,
            &columns,
        ];
        out.push(engine.dispatch(
            &UPDATE,
            &[("RULE", rule), ("COMPACT", compact as u8 as f64)],
            &bound,
            grid(engine, blocks.len() as u32),
        ));
        buffers.push(buf);
    }
    buffers.push(columns);
    (out, buffers)
}
