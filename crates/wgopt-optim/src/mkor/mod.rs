//! MKOR on the GPU (reference twin `wgopt_reference::optim::mkor`; kernels
//! `shaders/optim/mkor_*.wgsl`). Per step, after the guard:
//!
//! 1. On a factor step (decided on the GPU from its applied count, so a skipped step needs no
//!    readback): for every A⁻¹, then every G⁻¹ — `mkor_gemv` (u = X v, w = Xᵀ v),
//!    `mkor_dot` (1 / (1 + wᵀv)), `mkor_rank1` (the Sherman–Morrison update or the reset,
//!    and max |F⁻¹|), `mkor_flags` (reset flags). One dispatch per stage covers all layers.
//! 2. `mkor_pack` copies each layer's `[∇W | ∇b]` into a packed block, two batched GEMMs
//!    (`wgopt_solvers::linalg::matmul`, layers of one shape share a launch) form
//!    `Δ = G⁻¹ [∇W | ∇b] A⁻¹`, and `mkor_norms` the per-layer rescale.
//! 3. `mkor_apply`: torch SGD-with-momentum or torch Adam with Δ (rescaled, times the clip
//!    coefficient) for layer tensors and the raw gradient for the rest.
//!
//! The layer statistics (ā, ḡ) are inputs: [`Mkor::write_statistics`] before every step for
//! which [`Mkor::statistics_due`] is true (the step refuses with `OutOfOrder` otherwise). The
//! factors and reset flags are checkpointed as whole tensors (`mkor.a_inv`, `mkor.g_inv`,
//! `mkor.flags`), the base state per parameter (`momentum_buffer`, or `exp_avg` and
//! `exp_avg_sq`).

use crate::blocks::{ElementBlock, ParamTable};
use crate::program::{flag, Build, Flags, Program, Step};
use crate::registry::{config_from, Driver, Recipe, Request, Single};
use crate::routing::{Matcher, Router};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::mkor::{LayerStatistics, MkorBase, MkorLayer};
use wgopt_reference::optim::MkorConfig;
use wgopt_reference::optim::ReferenceOptimizer;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::kernel::common::{ELEMENT_BLOCK, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Error, Result, StepRecorder, StepStats};
use wgopt_scheduler::{Layout, ParamSet};
use wgopt_solvers::linalg::matmul::Matmul;

mod plan;
use plan::{param_rows, placement, Buffers, Placement, Plan};

/// `MkorFactor`, `MkorSchedule`, `MkorParam`, `MkorLayerDesc`.
pub static COMMON: Wgsl = wgsl!("optim/mkor_common.wgsl");

/// `optim/mkor_gemv.wgsl`: schedule, factors, stats, flags, f, vectors, uw.
pub static GEMV: Kernel = Kernel::new(
    wgsl!("optim/mkor_gemv.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, R, R, W],
)
.twins(&[MkorFactor::LAYOUT, MkorSchedule::LAYOUT, StepStats::LAYOUT]);

/// `optim/mkor_dot.wgsl`: schedule, factors, stats, flags, vectors, uw, denoms.
pub static DOT: Kernel = Kernel::new(
    wgsl!("optim/mkor_dot.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, R, R, W],
)
.twins(&[MkorFactor::LAYOUT, MkorSchedule::LAYOUT, StepStats::LAYOUT]);

/// `optim/mkor_rank1.wgsl`: schedule, factors, stats, flags, f, uw, denoms, maxbits.
pub static RANK1: Kernel = Kernel::new(
    wgsl!("optim/mkor_rank1.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, R, W, R, R, W],
)
.twins(&[MkorFactor::LAYOUT, MkorSchedule::LAYOUT, StepStats::LAYOUT]);

/// `optim/mkor_flags.wgsl`: schedule, factors, stats, flags, maxbits.
pub static FLAGS: Kernel = Kernel::new(
    wgsl!("optim/mkor_flags.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, W, W],
)
.twins(&[MkorFactor::LAYOUT, MkorSchedule::LAYOUT, StepStats::LAYOUT]);

/// `optim/mkor_pack.wgsl`: blocks, params, grad, packed.
pub static PACK: Kernel = Kernel::new(
    wgsl!("optim/mkor_pack.wgsl"),
    &[&ELEMENT_BLOCK, &COMMON],
    &[R, R, R, W],
)
.twins(&[ElementBlock::LAYOUT, MkorParam::LAYOUT]);

/// `optim/mkor_norms.wgsl`: layers, packed, delta, scale.
pub static NORMS: Kernel = Kernel::new(wgsl!("optim/mkor_norms.wgsl"), &[&COMMON], &[R, R, R, W])
    .twins(&[MkorLayerDesc::LAYOUT]);

/// `optim/mkor_apply.wgsl`: blocks, params, stats, param, grad, delta, scale, state_a, state_b.
pub static APPLY: Kernel = Kernel::new(
    wgsl!("optim/mkor_apply.wgsl"),
    &[&STEP_STATS, &ELEMENT_BLOCK, &COMMON],
    &[R, R, R, W, R, R, R, W, W],
)
.twins(&[ElementBlock::LAYOUT, MkorParam::LAYOUT, StepStats::LAYOUT]);

/// One inverse factor. WGSL twin: `MkorFactor` in shaders/optim/mkor_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MkorFactor {
    pub base: u32,
    pub n: u32,
    pub v_off: u32,
    pub uw_off: u32,
    pub flag: u32,
    pub other_flag: u32,
    pub index: u32,
    pub _pad: u32,
}

/// When factor steps happen. WGSL twin: `MkorSchedule`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MkorSchedule {
    pub inv_freq: u32,
    pub warmup_steps: u32,
    pub zeta: f32,
    pub _pad: u32,
}

impl MkorSchedule {
    /// Whether the step after `applied` applied steps updates the factors (the kernels'
    /// `mkor_factor_step`, `MkorConfig::factor_step`).
    fn factor_step(&self, applied: u64) -> bool {
        applied.is_multiple_of(self.inv_freq as u64) || applied < self.warmup_steps as u64
    }
}

/// Per-parameter scalars. WGSL twin: `MkorParam`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MkorParam {
    pub kind: u32,
    pub layer: u32,
    pub p_off: u32,
    pub a_dim: u32,
    pub d_in: u32,
    pub step: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub lr: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    pub one_minus_dampening: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub _pad2: f32,
}

/// One layer's packed block. WGSL twin: `MkorLayerDesc`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MkorLayerDesc {
    pub p_off: u32,
    pub d_out: u32,
    pub a_dim: u32,
    pub d_in: u32,
}

/// MKOR's program.
#[derive(Debug)]
pub struct MkorProgram {
    place: Placement,
    table: ParamTable<MkorParam>,
    states: Vec<(&'static str, Arena)>,
    buffers: Buffers,
    /// The factor stages, then the packs (one per chunk), in record order.
    before_gemms: Vec<Dispatch>,
    gemms: Vec<Matmul>,
    /// The rescale, then the base step per chunk.
    after_gemms: Vec<Dispatch>,
    /// Layers whose statistics were written since the last factor step.
    fresh: Vec<bool>,
    schedule: MkorSchedule,
    /// The statistics' clamp (`MkorConfig::clip`).
    clip: f64,
}

/// MKOR over a parameter set.
pub type Mkor = Stepper<MkorProgram>;

impl Program for MkorProgram {
    type Config = MkorConfig;
    const PART: &'static str = "mkor";

    fn kernel_flags(c: &MkorConfig) -> Flags {
        vec![flag("base", c.base)]
    }

    /// The factor schedule is one for all groups.
    fn plan_flags(c: &MkorConfig) -> Flags {
        vec![
            flag("base", c.base),
            flag("inv_freq", c.inv_freq),
            flag("warmup_steps", c.warmup_steps),
            flag("stabilization", c.stabilization),
            flag("clip", c.clip),
        ]
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&GEMV, &DOT, &RANK1, &FLAGS, &PACK, &NORMS, &APPLY]
    }

    fn build(cx: &Build<'_, MkorConfig>) -> Result<Self> {
        let place = placement(cx)?;
        let engine = cx.engine;
        let layout = cx.layout();
        let first = *cx.groups.configs()[0];
        let schedule = MkorSchedule {
            inv_freq: first.inv_freq,
            warmup_steps: first.warmup_steps,
            zeta: first.stabilization as f32,
            _pad: 0,
        };
        let fields: &[&'static str] = match first.base {
            MkorBase::Sgd => &["momentum_buffer"],
            MkorBase::Adam => &["exp_avg", "exp_avg_sq"],
        };
        let states: Vec<(&'static str, Arena)> = fields
            .iter()
            .map(|&f| (f, Arena::new(engine, layout, f)))
            .collect();
        let (host, groups) = param_rows(cx, &place);
        let table = ParamTable::new(engine, "mkor params", host, groups);
        let mut plan = Plan::new(cx, &place, schedule);
        let mut before_gemms = plan.factor_dispatches();
        before_gemms.extend(plan.packs(&table));
        let gemms = plan.gemms()?;
        let mut after_gemms: Vec<Dispatch> = plan.norms().into_iter().collect();
        after_gemms.extend(plan.apply(&table, &states, first.base));
        Ok(MkorProgram {
            fresh: vec![false; place.layers.len()],
            buffers: plan.finish(),
            place,
            table,
            states,
            before_gemms,
            gemms,
            after_gemms,
            schedule,
            clip: first.clip,
        })
    }

    fn ready(&self, t: u64) -> Result<()> {
        let due = self.schedule.factor_step(t - 1);
        match self.fresh.iter().position(|f| !f) {
            Some(l) if due => Err(Error::OutOfOrder(format!(
                "MKOR: step {t} updates the factors; write the layer statistics of {} (and of \
                 every layer) with write_statistics first",
                self.place.names[l]
            ))),
            _ => Ok(()),
        }
    }

    fn record(&mut self, cx: &Step<'_, MkorConfig>, rec: &mut StepRecorder) {
        let t = cx.t;
        self.table.write(cx.engine, |q, g| {
            let cfg = cx.config(g);
            let lr = cx.lr(cfg);
            let (beta1, beta2) = cfg.betas;
            q.step = t as u32;
            q.lr = lr as f32;
            q.weight_decay = cfg.weight_decay as f32;
            q.momentum = cfg.momentum as f32;
            q.one_minus_dampening = 1.0;
            q.beta1 = beta1 as f32;
            q.beta2 = beta2 as f32;
            q.one_minus_beta1 = (1.0 - beta1) as f32;
            q.one_minus_beta2 = (1.0 - beta2) as f32;
            q.eps = cfg.eps as f32;
            q.step_size = (lr / (1.0 - beta1.powi(t as i32))) as f32;
            q.bias_correction2_sqrt = (1.0 - beta2.powi(t as i32)).sqrt() as f32;
        });
        if self.schedule.factor_step(t - 1) {
            self.fresh.iter_mut().for_each(|f| *f = false);
        }
        // The factor kernels decide from the GPU's count; recorded every step so a step the
        // host did not know was skipped still updates on time.
        for d in &self.before_gemms {
            rec.push(d.clone());
        }
        for g in &self.gemms {
            g.record(rec);
        }
        for d in &self.after_gemms {
            rec.push(d.clone());
        }
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.states.iter().map(|(n, a)| (*n, a)).collect()
    }

    fn driver(stepper: Stepper<Self>) -> crate::registry::Driver {
        crate::registry::Driver::Mkor(Box::new(stepper))
    }

    fn whole_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
        let p = &self.place;
        vec![
            (
                "mkor.a_inv".into(),
                &self.buffers.a_inv,
                vec![p.a_total as usize],
            ),
            (
                "mkor.g_inv".into(),
                &self.buffers.g_inv,
                vec![p.g_total as usize],
            ),
            (
                "mkor.flags".into(),
                &self.buffers.flags,
                vec![2 * p.layers.len().max(1)],
            ),
        ]
    }
}

impl MkorProgram {
    /// The preconditioned layers, named by their weights, in statistics order.
    pub fn layers(&self) -> impl Iterator<Item = (&str, &MkorLayer)> {
        self.place
            .names
            .iter()
            .map(|n| n.as_str())
            .zip(&self.place.layers)
    }
}

impl Stepper<MkorProgram> {
    /// Whether the next step updates the factors, and so needs every layer's statistics.
    pub fn statistics_due(&self) -> bool {
        let before = self.counters().expected_applied;
        self.program().schedule.factor_step(before)
    }

    /// The clamp the statistics take ([`wgopt_reference::optim::mkor::batch_statistics`]).
    pub fn statistics_clip(&self) -> f64 {
        self.program().clip
    }

    /// Layer `weight`'s statistics for the next factor step (ā with the ones column when
    /// it has a bias; ḡ). Wrong lengths, an unknown layer and non-finite values are errors.
    pub fn write_statistics(&mut self, weight: &str, stats: &LayerStatistics) -> Result<()> {
        let engine = self.engine().clone();
        let program = self.program_mut();
        let l = program
            .place
            .names
            .iter()
            .position(|n| n == weight)
            .ok_or_else(|| Error::UnknownParameter(format!("{weight} (no MKOR layer)")))?;
        let layer = program.place.layers[l];
        for (what, got, want) in [("ā", &stats.a, layer.a_dim()), ("ḡ", &stats.g, layer.d_out)] {
            if got.len() != want {
                return Err(Error::ShapeMismatch {
                    name: format!("{weight} statistics {what}"),
                    expected: format!("{want} values"),
                    got: format!("{} values", got.len()),
                });
            }
            if let Some(i) = got.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidInput(format!(
                    "{weight} statistics {what}[{i}] = {} is not finite",
                    got[i]
                )));
            }
        }
        let off = program.place.v_off[l] as u64 * 4;
        let buf = &program.buffers.vectors;
        engine.write_buffer(buf, off, bytemuck::cast_slice(&stats.a));
        engine.write_buffer(
            buf,
            off + stats.a.len() as u64 * 4,
            bytemuck::cast_slice(&stats.g),
        );
        program.fresh[l] = true;
        Ok(())
    }
}

/// MKOR's split: everything preconditioned ("mkor": linear weights with their biases; 1-D
/// gains there take the base optimizer alone) except embeddings, the output head and ≥3-D
/// tensors ("plain").
pub fn router() -> Router {
    Router::new("mkor")
        .rule(Matcher::NdimAtLeast(3), "plain")
        .rule(Matcher::NameContains("embed".into()), "plain")
        .rule(Matcher::NameContains("wte".into()), "plain")
        .rule(Matcher::NameContains("wpe".into()), "plain")
        .rule(Matcher::NameContains("head".into()), "plain")
}

/// The table's recipe: the request's config on every group, with `precondition = false` on
/// every group but "mkor" (so a router that labels groups otherwise gets the base optimizer).
pub struct MkorRecipe;

impl MkorRecipe {
    fn groups(&self, layout: &Layout, req: &Request<'_>) -> Result<Vec<(String, MkorConfig)>> {
        let mut groups = Single::<MkorProgram>::new(MkorConfig::default).groups(layout, req)?;
        for (label, cfg) in &mut groups {
            cfg.precondition &= label == "mkor";
        }
        Ok(groups)
    }
}

impl Recipe for MkorRecipe {
    fn build(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver> {
        let groups = self.groups(params.layout(), req)?;
        Ok(Driver::Mkor(Box::new(Stepper::with_seed(
            params, &groups, req.guard, req.seed,
        )?)))
    }

    /// The oracle needs the layer statistics a replayed gradient file does not carry: usable
    /// only where no layer is preconditioned (then it is the base optimizer).
    fn reference(&self, layout: &Layout, req: &Request<'_>) -> Result<Box<dyn ReferenceOptimizer>> {
        let groups = self.groups(layout, req)?;
        let tensors: Vec<(&str, &[usize], MkorConfig)> = layout
            .slots
            .iter()
            .map(|s| (s.name.as_str(), &s.shape[..], groups[s.group].1))
            .collect();
        let oracle = wgopt_reference::optim::mkor::Mkor::new(&tensors)
            .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
        if !oracle.layers.is_empty() {
            return Err(Error::InvalidInput(
                "MKOR needs each layer's statistics (batch-mean inputs and output gradients) \
                 on its factor steps; a gradient file does not carry them"
                    .into(),
            ));
        }
        Ok(Box::new(oracle))
    }

    fn kernels(&self) -> Vec<&'static Kernel> {
        MkorProgram::kernels()
    }

    fn labels(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn lr(&self, req: &Request<'_>) -> Result<f64> {
        Ok(config_from("mkor", MkorConfig::default(), req.hparams)?.lr)
    }
}
