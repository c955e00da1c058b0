//! Sophia on the GPU: the update is `shaders/optim/sophia.wgsl` (a fused elementwise rule),
//! the Hessian EMA `shaders/optim/sophia_hessian.wgsl` under its own step guard; reference twin
//! `wgopt_reference::optim::sophia`.
//!
//! The call sequence of a training loop (k = `update_interval`):
//!
//! ```text
//! loop {
//!     forward/backward on the batch → params.write_grads_by_slot(..); opt.step(&mut params)?;
//!     if opt.hessian_due() {
//!         // SophiaG: gradient of the loss on labels sampled from the model's softmax.
//!         // SophiaH: let u = opt.probes(&params)?;  then Hu (HVP with the drawn probe).
//!         params.write_grads_by_slot(&estimate); opt.update_hessian(&mut params)?;
//!     }
//! }
//! ```
//!
//! The estimate travels in the gradient arena, as the reference reads it from `p.grad`. A
//! non-finite estimate leaves the Hessian untouched; clipping (the guard's `max_grad_norm`)
//! applies to it as the reference's training script clips it.

use crate::fused::{Fused, Rule};
use crate::optimizer::Optimizer;
use crate::program::{Build, Flags, Program, Step};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::{SophiaConfig, SophiaEstimator};
use wgopt_scheduler::arena::{read_range, Arena};
use wgopt_scheduler::elementwise::{Coverage, ElementwiseKernel};
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::kernel::common::{GRID_STRIDE, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::random::{Distribution, Probes, PROBE_FILL};
use wgopt_scheduler::{
    wgsl, Engine, Error, GuardConfig, ParamSet, Result, StepRecorder, StepStats,
};

/// `optim/sophia.wgsl`, the update: segments, stats, param, grad, exp_avg, hessian.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/sophia.wgsl",
    SophiaSegment,
    [],
    [ReadWrite, ReadOnly]
);

/// `optim/sophia_hessian.wgsl`, the Hessian EMA: segments, stats, estimate, hessian, probes.
pub static HESSIAN: Kernel = Kernel::new(
    wgsl!("optim/sophia_hessian.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE],
    &[R, R, R, W, R],
)
.twins(&[SophiaHessianSegment::LAYOUT, StepStats::LAYOUT]);

/// Per-segment scalars of the update. WGSL twin: `SophiaSegment` in shaders/optim/sophia.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct SophiaSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub scale: f32,
    pub eps: f32,
    pub neg_step: f32,
    pub lr: f32,
    pub _pad0: f32,
}

/// Per-segment scalars of the Hessian EMA. WGSL twin: `SophiaHessianSegment` in
/// shaders/optim/sophia_hessian.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct SophiaHessianSegment {
    pub start: u32,
    pub end: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub _pad2: f32,
    pub _pad3: f32,
}

/// The update rule (clipped sign momentum over the Hessian EMA).
#[derive(Debug)]
pub enum SophiaRule {}

impl Rule for SophiaRule {
    type Config = SophiaConfig;
    type Segment = SophiaSegment;
    const NAME: &'static str = "sophia";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "hessian"];

    fn constants(cfg: &SophiaConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("MAXIMIZE", cfg.maximize as u8 as f64),
            (
                "HUTCHINSON",
                (cfg.estimator == SophiaEstimator::Hutchinson) as u8 as f64,
            ),
        ]
    }

    fn segment(cfg: &SophiaConfig, lr: f64, t: u64, start: u32, end: u32) -> SophiaSegment {
        SophiaSegment {
            start,
            end,
            step: t as u32,
            decay: (1.0 - lr * cfg.weight_decay) as f32,
            beta1: cfg.betas.0 as f32,
            one_minus_beta1: (1.0 - cfg.betas.0) as f32,
            scale: cfg.scale() as f32,
            eps: cfg.eps() as f32,
            neg_step: (-cfg.step_size(lr, t)) as f32,
            lr: lr as f32,
            ..Default::default()
        }
    }
}

/// Sophia's program: the fused update, and the Hessian EMA under its own guard.
#[derive(Debug)]
pub struct SophiaProgram {
    update: Fused<SophiaRule>,
    ema: ElementwiseKernel<SophiaHessianSegment>,
    ema_guard: Guard,
    ema_recorder: StepRecorder,
    probes: Option<Probes>,
    /// The draw the next Hutchinson update consumes.
    pending_probe: Option<u32>,
    hutchinson: bool,
}

/// SophiaG or SophiaH over a parameter set.
pub type Sophia = Stepper<SophiaProgram>;

impl Program for SophiaProgram {
    type Config = SophiaConfig;
    const PART: &'static str = "sophia";
    const COUNTERS: &'static [&'static str] = &["probe_draws"];

    fn name(configs: &[&SophiaConfig]) -> &'static str {
        match configs.first().map(|c| c.estimator) {
            Some(SophiaEstimator::Hutchinson) => "sophia-h",
            _ => "sophia-g",
        }
    }

    fn checkpoint_name(_: &[&SophiaConfig]) -> &'static str {
        "sophia"
    }

    fn kernel_flags(config: &SophiaConfig) -> Flags {
        Fused::<SophiaRule>::kernel_flags(config)
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&KERNEL, &HESSIAN, &PROBE_FILL]
    }

    fn build(cx: &Build<'_, SophiaConfig>) -> Result<Self> {
        let update = Fused::<SophiaRule>::build(cx)?;
        let hutchinson = cx
            .groups
            .configs()
            .first()
            .is_some_and(|c| c.estimator == SophiaEstimator::Hutchinson);
        let ids = cx.groups.ids();
        let probes = hutchinson.then(|| {
            Probes::new(
                cx.params,
                &ids,
                Distribution::Gaussian,
                cx.seed,
                0,
                "sophia probes",
            )
        });
        let ema_guard = Guard::new(cx.engine, cx.params, cx.groups.slots(), cx.guard)?;
        let hessian = update
            .state_arena("hessian")
            .ok_or_else(|| Error::Internal("SophiaRule has a hessian state".into()))?;
        let stats = ema_guard.stats_buffer().clone();
        let ema = ElementwiseKernel::new(
            cx.engine,
            &HESSIAN,
            &[("HUTCHINSON", hutchinson as u8 as f64)],
            Coverage::groups(cx.layout(), &ids),
            |chunk| {
                vec![
                    stats.clone(),
                    cx.params.grad_arena().chunks[chunk].clone(),
                    hessian.chunks[chunk].clone(),
                    match &probes {
                        Some(p) => p.arena().chunks[chunk].clone(),
                        // Read-only stand-in; the kernel does not read it without HUTCHINSON.
                        None => cx.params.param_arena().chunks[chunk].clone(),
                    },
                ]
            },
        );
        Ok(SophiaProgram {
            update,
            ema,
            ema_guard,
            ema_recorder: StepRecorder::new(),
            probes,
            pending_probe: None,
            hutchinson,
        })
    }

    fn record(&mut self, cx: &Step<'_, SophiaConfig>, rec: &mut StepRecorder) {
        self.update.record(cx, rec);
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.update.state()
    }

    fn bytes_per_element(config: &SophiaConfig) -> Option<usize> {
        Fused::<SophiaRule>::bytes_per_element(config)
    }

    fn driver(stepper: Stepper<Self>) -> crate::registry::Driver {
        crate::registry::Driver::Sophia(Box::new(stepper))
    }

    fn guard_changed(&mut self, engine: &Engine, guard: GuardConfig) {
        self.ema_guard.reconfigure(engine, guard);
    }

    /// Probe draws taken so far (0 for SophiaG).
    fn counters(&self) -> Vec<u64> {
        vec![self.probes.as_ref().map_or(0, |p| p.draws()) as u64]
    }

    /// The next draw continues the saved sequence.
    fn restored(&mut self, counters: &[u64]) -> Result<()> {
        let draws = u32::try_from(counters[0])
            .map_err(|_| Error::Checkpoint("probe_draws exceeds u32".into()))?;
        if let Some(p) = self.probes.as_mut() {
            p.set_draws(draws);
        }
        self.pending_probe = None;
        Ok(())
    }
}

impl Stepper<SophiaProgram> {
    /// True for SophiaH (Hutchinson probes), false for SophiaG (sampled-label gradients).
    pub fn is_hutchinson(&self) -> bool {
        self.program().hutchinson
    }

    /// True when the step just taken is one after which the reference updates the Hessian
    /// (`iteration % k == k − 1`, counted over `step` calls; all groups share group 0's k).
    pub fn hessian_due(&self) -> bool {
        let k = self
            .groups()
            .configs()
            .first()
            .map_or(10, |c| c.update_interval) as u64;
        let it = self.iteration();
        it > 0 && it.is_multiple_of(k)
    }

    /// SophiaH: draws the next Gaussian probes on the GPU (submitted now) and returns them; read
    /// them with `Probes::read` or bind `Probes::arena` to compute the Hessian-vector product.
    pub fn probes(&mut self) -> Result<&Probes> {
        let engine = self.engine().clone();
        let program = self.program_mut();
        let probes = program.probes.as_mut().ok_or_else(|| {
            Error::InvalidHyperparameter(
                "SophiaG takes no probes: hand it the gradient on sampled labels".into(),
            )
        })?;
        program.pending_probe = Some(probes.draw(&engine)?);
        Ok(program.probes.as_ref().expect("drawn above"))
    }

    /// The Hessian EMA from the estimate in `params`' gradients (ĝ for SophiaG, Hu for
    /// SophiaH with the probes of the last [`Sophia::probes`] call). One submit, no readback.
    pub fn update_hessian(&mut self, params: &mut ParamSet) -> Result<()> {
        self.check_params(params)?;
        let engine = self.engine.clone();
        let (groups, program) = (&self.first.groups, &mut self.first.program);
        if program.hutchinson && program.pending_probe.is_none() {
            return Err(Error::OutOfOrder(
                "SophiaH: call probes() and compute Hu with them before update_hessian()".into(),
            ));
        }
        program.ema.write(&engine, |g, start, end| {
            let cfg = groups.config(g);
            SophiaHessianSegment {
                start,
                end,
                beta2: cfg.betas.1 as f32,
                one_minus_beta2: (1.0 - cfg.betas.1) as f32,
                ..Default::default()
            }
        });
        let rec = &mut program.ema_recorder;
        rec.take_copies(params);
        program.ema_guard.record(rec);
        program.ema.record(rec);
        rec.submit(&engine)?;
        program.pending_probe = None;
        Ok(())
    }

    /// Statistics of the last Hessian update (its estimate's norm, whether it was skipped, and
    /// the applied/skipped update counts). Waits for the GPU.
    pub fn hessian_stats(&self) -> Result<StepStats> {
        self.program().ema_guard.read_stats(self.engine())
    }

    /// The reference's `win_rate` diagnostic: the share of coordinates the clip leaves alone
    /// (`|m| < ρ·bs·h`, with group 0's ρ·bs). Reads `exp_avg` and `hessian` back (waits).
    pub fn win_rate(&self, params: &ParamSet) -> Result<f64> {
        self.check_params(params)?;
        let (engine, layout) = (self.engine(), params.layout());
        let scale = self.groups().configs().first().map_or(1.0, |c| c.scale()) as f32;
        let update = &self.program().update;
        let arena = |name: &str| {
            update
                .state_arena(name)
                .ok_or_else(|| Error::Internal(format!("Sophia keeps {name}")))
        };
        let (m, h) = (arena("exp_avg")?, arena("hessian")?);
        let (mut won, mut n) = (0usize, 0usize);
        for &slot in self.groups().slots() {
            for piece in &layout.slots[slot].pieces {
                let (off, len) = (piece.offset as u64 * 4, piece.len as u64 * 4);
                let mv = read_range(engine, &m.chunks[piece.chunk], off, len)?;
                let hv = read_range(engine, &h.chunks[piece.chunk], off, len)?;
                won += mv
                    .iter()
                    .zip(&hv)
                    .filter(|(m, h)| m.abs() < scale * **h)
                    .count();
                n += piece.len;
            }
        }
        Ok(if n == 0 { 0.0 } else { won as f64 / n as f64 })
    }

    /// The update's state arenas.
    pub fn state_arenas(&self) -> &[(&'static str, Arena)] {
        self.program().update.state_arenas()
    }
}
