//! Muon on the GPU (KellerJordan/Muon semantics; reference twin `wgopt_reference::optim::muon`)
//! and ROOT, which is Muon's pipeline with [`MuonConfig::root`]: sum-form momentum and an exact
//! per-matrix quantile clamp before Newton–Schulz.
//!
//! Kernels: `optim/muon_momentum.wgsl` (momentum and the Nesterov blend into the update
//! arena), ROOT's quantile selection (`wgopt_solvers::quantile`, `reduce/quantile_*.wgsl`),
//! Newton–Schulz in place on the update arena (`wgopt_solvers::newton_schulz`, one plan per
//! arena chunk, group and matrix shape, the clamp fused into its normalisation), and
//! `optim/muon_apply.wgsl` (decay and the shape-scaled step).
//!
//! [`MuonAdamW`] is the standard hybrid — Muon for hidden ≥2-D weights, AdamW for embeddings,
//! the head and 1-D parameters — as a [`Stepper`] of two programs: one guard, one submit.

use crate::adam::AdamRule;
use crate::fused::Fused;
use crate::matrices::{matrix_batches, MatrixBatch};
use crate::program::{flag, Build, Flags, Program, Step};
use crate::registry::present;
use crate::routing::{Matcher, Router};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::muon::MomentumForm;
use wgopt_reference::optim::{AdamConfig, MuonConfig};
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::elementwise::{Coverage, ElementwiseKernel};
use wgopt_scheduler::kernel::common::{GRID_STRIDE, STEP_STATS, TORCH_LERP};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::{wgsl, Engine, GuardConfig, ParamSet, Result, StepRecorder, StepStats};
use wgopt_solvers::newton_schulz::{Clamp, NewtonSchulzPlan, NewtonSchulzSpec};
use wgopt_solvers::quantile::{AbsQuantile, QuantileSource};

/// `optim/muon_momentum.wgsl`: segments, stats, grad, momentum_buffer, update.
pub static MOMENTUM: Kernel = Kernel::new(
    wgsl!("optim/muon_momentum.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE, &TORCH_LERP],
    &[R, R, R, W, W],
)
.twins(&[MuonMomentumSegment::LAYOUT, StepStats::LAYOUT]);

/// `optim/muon_apply.wgsl`: segments, stats, param, update.
pub static APPLY: Kernel = Kernel::new(
    wgsl!("optim/muon_apply.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE],
    &[R, R, W, R],
)
.twins(&[MuonApplySegment::LAYOUT, StepStats::LAYOUT]);

/// Per-group scalars of muon_momentum.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MuonMomentumSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub beta: f32,
    pub one_minus_beta: f32,
    pub _pad1: f32,
    pub _pad2: f32,
}

/// Per-parameter scalars of muon_apply.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MuonApplySegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub scale: f32,
    pub decay: f32,
    pub neg_lr: f32,
    pub _pad1: f32,
}

/// Muon's (and ROOT's) program.
#[derive(Debug)]
pub struct MuonProgram {
    momentum: Arena,
    /// Momentum's output, orthogonalised in place.
    _update: Arena,
    momentum_kernel: ElementwiseKernel<MuonMomentumSegment>,
    /// ROOT's per-matrix thresholds, when some group clamps.
    quantile: Option<AbsQuantile>,
    newton_schulz: Vec<NewtonSchulzPlan>,
    apply: ElementwiseKernel<MuonApplySegment>,
    /// Shape of every layout slot (the apply scale depends on it).
    shapes: Vec<Vec<usize>>,
}

/// Muon over a parameter set (≥2-D parameters only; see [`MuonAdamW`]).
pub type Muon = Stepper<MuonProgram>;
/// ROOT: [`Muon`] with [`MuonConfig::root`] groups (its name and checkpoints say "root").
pub type Root = Muon;
/// Muon for hidden matrices plus AdamW for the rest, one guard, one submit.
pub type MuonAdamW = Stepper<MuonProgram, Fused<AdamRule>>;
/// ROOT with its AdamW fallback ([`AdamConfig::root_fallback`]); see [`MuonAdamW::root_router`].
pub type RootAdamW = MuonAdamW;

impl Program for MuonProgram {
    type Config = MuonConfig;
    const PART: &'static str = "muon";

    fn name(configs: &[&MuonConfig]) -> &'static str {
        if !configs.is_empty() && configs.iter().all(|c| c.is_root()) {
            "root"
        } else {
            "muon"
        }
    }

    fn kernel_flags(c: &MuonConfig) -> Flags {
        vec![
            flag("nesterov", c.nesterov),
            flag("momentum_form", c.momentum_form),
        ]
    }

    fn plan_flags(c: &MuonConfig) -> Flags {
        let mut f = Self::kernel_flags(c);
        f.extend([
            flag("ns_steps", c.ns_steps),
            flag("schedule", &c.schedule),
            flag("clamp_quantile", c.clamp_quantile),
            flag("ns_precision", c.ns_precision),
        ]);
        f
    }

    fn kernels() -> Vec<&'static Kernel> {
        let mut k = vec![&MOMENTUM, &APPLY];
        k.extend(wgopt_solvers::newton_schulz::KERNELS);
        k.extend(wgopt_solvers::linalg::matmul::KERNELS);
        k.extend(wgopt_solvers::quantile::KERNELS);
        k
    }

    fn build(cx: &Build<'_, MuonConfig>) -> Result<Self> {
        let (engine, layout) = (cx.engine, cx.layout());
        let batches = matrix_batches(layout, cx.groups.slots(), "Muon", engine.chunk_bytes())?;
        let momentum = Arena::new(engine, layout, "momentum_buffer");
        let update = Arena::new(engine, layout, "muon update");
        let (quantile, clamp_bases) = build_quantile(cx, &update, &batches)?;
        let newton_schulz = batches
            .iter()
            .zip(&clamp_bases)
            .map(|(b, base)| {
                let clamp = quantile.as_ref().zip(*base).map(|(q, base)| Clamp {
                    thresholds: q.thresholds(),
                    base,
                });
                newton_schulz_plan(engine, cx.groups.config(b.group), b, &update, clamp)
            })
            .collect::<Result<_>>()?;
        Ok(MuonProgram {
            momentum_kernel: momentum_kernel(cx, &momentum, &update),
            apply: apply_kernel(cx, &update),
            momentum,
            _update: update,
            quantile,
            newton_schulz,
            shapes: layout.slots.iter().map(|s| s.shape.clone()).collect(),
        })
    }

    /// Momentum → quantile clamp (ROOT) → Newton–Schulz → apply.
    fn record(&mut self, cx: &Step<'_, MuonConfig>, rec: &mut StepRecorder) {
        self.write_scalars(cx);
        self.momentum_kernel.record(rec);
        if let Some(q) = &self.quantile {
            q.record(rec);
        }
        for plan in &self.newton_schulz {
            plan.record(rec);
        }
        self.apply.record(rec);
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        vec![("momentum_buffer", &self.momentum)]
    }
}

impl MuonProgram {
    /// This step's momentum and apply scalars.
    fn write_scalars(&mut self, cx: &Step<'_, MuonConfig>) {
        let t = cx.t as u32;
        self.momentum_kernel.write(cx.engine, |g, start, end| {
            let cfg = cx.config(g);
            MuonMomentumSegment {
                start,
                end,
                step: t,
                beta: cfg.momentum as f32,
                one_minus_beta: (1.0 - cfg.momentum) as f32,
                ..Default::default()
            }
        });
        let (layout, shapes) = (cx.params.layout(), &self.shapes);
        self.apply.write(cx.engine, |slot, start, end| {
            let cfg = cx.config(layout.slots[slot].group);
            let lr = cx.lr(cfg);
            MuonApplySegment {
                start,
                end,
                step: t,
                scale: cfg.scale_for(&shapes[slot]) as f32,
                decay: (1.0 - lr * cfg.weight_decay) as f32,
                neg_lr: (-lr) as f32,
                ..Default::default()
            }
        });
    }

    /// ROOT's per-matrix thresholds of the last step (`quantile(|U|, q) + 1e-9`, in the order
    /// of the clamped matrices), or `None` when no group clamps. Waits for the GPU.
    pub fn read_thresholds(&self, engine: &Engine) -> Result<Option<Vec<f32>>> {
        self.quantile.as_ref().map(|q| q.read(engine)).transpose()
    }

    /// The momentum buffers (state field `momentum_buffer`, same layout as the parameters).
    pub fn momentum_arena(&self) -> &Arena {
        &self.momentum
    }
}

fn momentum_kernel(
    cx: &Build<'_, MuonConfig>,
    momentum: &Arena,
    update: &Arena,
) -> ElementwiseKernel<MuonMomentumSegment> {
    let first = cx
        .groups
        .configs()
        .first()
        .map(|c| (*c).clone())
        .unwrap_or_default();
    let constants = [
        ("NESTEROV", first.nesterov as u8 as f64),
        (
            "SUM_FORM",
            (first.momentum_form == MomentumForm::Sum) as u8 as f64,
        ),
    ];
    let ids = cx.groups.ids();
    ElementwiseKernel::new(
        cx.engine,
        &MOMENTUM,
        &constants,
        Coverage::groups(cx.layout(), &ids),
        |c| {
            vec![
                cx.stats.clone(),
                cx.params.grad_arena().chunks[c].clone(),
                momentum.chunks[c].clone(),
                update.chunks[c].clone(),
            ]
        },
    )
}

fn apply_kernel(cx: &Build<'_, MuonConfig>, update: &Arena) -> ElementwiseKernel<MuonApplySegment> {
    let ids = cx.groups.ids();
    ElementwiseKernel::new(
        cx.engine,
        &APPLY,
        &[],
        Coverage::parameters(cx.layout(), &ids),
        |c| {
            vec![
                cx.stats.clone(),
                cx.params.param_arena().chunks[c].clone(),
                update.chunks[c].clone(),
            ]
        },
    )
}

/// One batch's Newton–Schulz, in place on the update arena.
fn newton_schulz_plan(
    engine: &Engine,
    cfg: &MuonConfig,
    b: &MatrixBatch,
    update: &Arena,
    clamp: Option<Clamp<'_>>,
) -> Result<NewtonSchulzPlan> {
    let coefficients: Vec<(f32, f32, f32)> = cfg
        .schedule
        .coefficients(b.rows, b.cols, cfg.ns_steps)
        .into_iter()
        .map(|(a, b, c)| (a as f32, b as f32, c as f32))
        .collect();
    let buf = &update.chunks[b.chunk];
    let spec = NewtonSchulzSpec {
        norm_factor: cfg.schedule.norm_factor() as f32,
        clamp,
        precision: cfg.ns_precision,
        ..NewtonSchulzSpec::new(
            b.rows as u32,
            b.cols as u32,
            &coefficients,
            (buf, &b.offsets),
            (buf, &b.offsets),
        )
    };
    NewtonSchulzPlan::new(engine, &spec)
}

/// The quantile selection over every clamped matrix, sources in chunk order, and for each batch
/// the index of its first matrix's threshold (`None` for batches that do not clamp).
fn build_quantile(
    cx: &Build<'_, MuonConfig>,
    update: &Arena,
    batches: &[MatrixBatch],
) -> Result<(Option<AbsQuantile>, Vec<Option<u32>>)> {
    let mut bases = vec![None; batches.len()];
    let mut sources = Vec::new();
    let mut next = 0u32;
    for (c, buffer) in update.chunks.iter().enumerate() {
        let mut matrices = Vec::new();
        for (b, batch) in batches.iter().enumerate() {
            let Some(q) = cx.groups.config(batch.group).clamp_quantile else {
                continue;
            };
            if batch.chunk != c {
                continue;
            }
            bases[b] = Some(next);
            let len = (batch.rows * batch.cols) as u32;
            matrices.extend(batch.offsets.iter().map(|&o| (o, len, q)));
            next += batch.offsets.len() as u32;
        }
        if !matrices.is_empty() {
            sources.push(QuantileSource { buffer, matrices });
        }
    }
    if sources.is_empty() {
        return Ok((None, bases));
    }
    // ROOT: `torch.quantile(U.abs(), q) + 1e-9`.
    Ok((Some(AbsQuantile::new(cx.engine, &sources, 1e-9)?), bases))
}

impl<B: Program> Stepper<MuonProgram, B> {
    /// ROOT's per-matrix thresholds of the last step (see [`MuonProgram::read_thresholds`]).
    pub fn read_thresholds(&self) -> Result<Option<Vec<f32>>> {
        self.program().read_thresholds(self.engine())
    }

    /// The momentum buffers.
    pub fn momentum_arena(&self) -> &Arena {
        self.program().momentum_arena()
    }
}

impl MuonAdamW {
    /// The standard split: parameters with at least 2 dimensions go to "muon", except
    /// embeddings and the output head (names containing "embed", "wte", "wpe", "lm_head" or
    /// "head"), which join 1-D parameters in "adamw". Add rules before these to override.
    pub fn router() -> Router {
        Router::matrices("muon")
    }

    /// ROOT's split (example_train.py): only 2-D weights are orthogonalised ("muon" group);
    /// 1-D, ≥3-D, embeddings and the head go to the fallback ("adamw" group).
    pub fn root_router() -> Router {
        Self::router().rule(Matcher::NdimAtLeast(3), "adamw")
    }

    /// Muon on `muon_groups`, AdamW on `adamw_groups`; the guard covers both.
    pub fn new(
        params: &ParamSet,
        muon_groups: &[(String, MuonConfig)],
        adamw_groups: &[(String, AdamConfig)],
        guard: GuardConfig,
    ) -> Result<MuonAdamW> {
        Self::pair(params, muon_groups, adamw_groups, guard)
    }

    /// ROOT with its defaults on the "muon" group and its AdamW fallback on the "adamw" group
    /// (as [`MuonAdamW::root_router`] labels them; either may be absent), both at `lr`.
    pub fn root(params: &ParamSet, lr: f64, guard: GuardConfig) -> Result<MuonAdamW> {
        let muon = MuonConfig {
            lr,
            ..MuonConfig::root()
        };
        let adamw = AdamConfig {
            lr,
            ..AdamConfig::root_fallback()
        };
        let (muon, adamw) = (
            present(params, "muon", muon),
            present(params, "adamw", adamw),
        );
        Self::new(params, &muon, &adamw, guard)
    }
}
