//! Sophia on the GPU: the update is `shaders/optim/sophia.wgsl` (a fused elementwise rule),
//! the Hessian EMA `shaders/optim/sophia_hessian.wgsl` under its own step guard; reference twin
//! `wgopt_reference::optim::sophia`.
//!
//! The call sequence of a training loop (k = `update_interval`):
//!
//! ```text
//! loop {
//!     forward/backward on the batch → params.write_grads(..); opt.step(&mut params)?;
//!     if opt.hessian_due() {
//!         // SophiaG: gradient of the loss on labels sampled from the model's softmax.
//!         // SophiaH: let u = opt.probes(&params)?;  then Hu (HVP with the drawn probe).
//!         params.write_grads(&estimate); opt.update_hessian(&mut params)?;
//!     }
//! }
//! ```
//!
//! The estimate travels in the gradient arena, as the reference reads it from `p.grad`. A
//! non-finite estimate leaves the Hessian untouched; clipping (the guard's `max_grad_norm`)
//! applies to it as the reference's training script clips it.

use crate::fused::{Fused, Rule};
use crate::optimizer::{delegated_methods, Optimizer};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::{SophiaConfig, SophiaEstimator};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::elementwise::ElementwiseKernel;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::random::{Distribution, Probes};
use wgopt_scheduler::{Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder, StepStats};

/// Per-segment scalars of the update. WGSL twin: `SophiaSegment` in shaders/optim/sophia.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
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

#[derive(Debug)]
pub enum SophiaRule {}

impl Rule for SophiaRule {
    type Config = SophiaConfig;
    type Segment = SophiaSegment;
    const NAME: &'static str = "sophia";
    const SHADER: ShaderId = ShaderId::Sophia;
    const BOUND_FIELDS: &'static [&'static str] = &["exp_avg", "hessian"];

    fn validate(cfg: &SophiaConfig) -> Result<()> {
        cfg.validate()
            .map_err(|e| Error::InvalidHyperparameter(e.to_string()))
    }

    fn state_fields(_: &[SophiaConfig]) -> Vec<&'static str> {
        Self::BOUND_FIELDS.to_vec()
    }

    fn constants(cfg: &SophiaConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("MAXIMIZE", cfg.maximize as u8 as f64),
            (
                "HUTCHINSON",
                (cfg.estimator == SophiaEstimator::Hutchinson) as u8 as f64,
            ),
        ]
    }

    fn base_lr(cfg: &SophiaConfig) -> f64 {
        cfg.lr
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

/// SophiaG or SophiaH over some groups of a parameter set.
#[derive(Debug)]
pub struct Sophia {
    update: Fused<SophiaRule>,
    ema: ElementwiseKernel,
    ema_guard: Guard,
    ema_recorder: StepRecorder,
    scratch: Vec<SophiaHessianSegment>,
    probes: Option<Probes>,
    /// The draw the next Hutchinson update consumes.
    pending_probe: Option<u32>,
    hutchinson: bool,
}

impl Sophia {
    /// One config for every group (see [`SophiaConfig::g`] and [`SophiaConfig::h`]).
    pub fn all(params: &ParamSet, cfg: SophiaConfig) -> Result<Self> {
        let groups: Vec<(String, SophiaConfig)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }

    /// Groups with their own hyperparameters; the estimator must agree across groups.
    /// `seed` of the Hutchinson probes is 0 here; see [`Sophia::with_seed`].
    pub fn new(
        params: &ParamSet,
        groups: &[(String, SophiaConfig)],
        guard: GuardConfig,
    ) -> Result<Self> {
        Self::with_seed(params, groups, guard, 0)
    }

    /// As [`Sophia::new`], with the seed of SophiaH's Gaussian probes.
    pub fn with_seed(
        params: &ParamSet,
        groups: &[(String, SophiaConfig)],
        guard: GuardConfig,
        seed: u64,
    ) -> Result<Self> {
        let update = Fused::<SophiaRule>::new(params, groups, guard)?;
        let engine = update.engine().clone();
        let layout = params.layout();
        let hutchinson = groups[0].1.estimator == SophiaEstimator::Hutchinson;
        let group_ids: Vec<usize> = update
            .groups()
            .map(|(l, _)| layout.group_index(l))
            .collect::<Result<_>>()?;
        let probes = hutchinson.then(|| {
            Probes::new(
                params,
                &group_ids,
                Distribution::Gaussian,
                seed,
                0,
                "sophia probes",
            )
        });
        let ema_guard = Guard::new(&engine, params, update.slots(), guard)?;
        let hessian = &update
            .state_arenas()
            .iter()
            .find(|(n, _)| *n == "hessian")
            .expect("SophiaRule has a hessian state")
            .1;
        let stats = ema_guard.stats_buffer().clone();
        let ema = ElementwiseKernel::new(
            &engine,
            ShaderId::SophiaHessian,
            &[("HUTCHINSON", hutchinson as u8 as f64)],
            layout,
            &group_ids,
            std::mem::size_of::<SophiaHessianSegment>(),
            |chunk| {
                vec![
                    stats.clone(),
                    params.grad_arena().chunks[chunk].clone(),
                    hessian.chunks[chunk].clone(),
                    match &probes {
                        Some(p) => p.arena().chunks[chunk].clone(),
                        // Read-only stand-in; the kernel does not read it without HUTCHINSON.
                        None => params.param_arena().chunks[chunk].clone(),
                    },
                ]
            },
        );
        Ok(Sophia {
            update,
            ema,
            ema_guard,
            ema_recorder: StepRecorder::new(),
            scratch: Vec::new(),
            probes,
            pending_probe: None,
            hutchinson,
        })
    }

    /// Probe draws taken so far (0 for SophiaG); saved in checkpoints.
    fn probe_draws(&self) -> u32 {
        self.probes.as_ref().map_or(0, |p| p.draws())
    }

    /// After a checkpoint load: the next draw continues the saved sequence.
    fn restore_probe_draws(&mut self, draws: u32) {
        if let Some(p) = self.probes.as_mut() {
            p.set_draws(draws);
        }
        self.pending_probe = None;
    }

    /// True for SophiaH (Hutchinson probes), false for SophiaG (sampled-label gradients).
    pub fn is_hutchinson(&self) -> bool {
        self.hutchinson
    }

    /// True when the step just taken is one after which the reference updates the Hessian
    /// (`iteration % k == k − 1`, counted over `step` calls; all groups share group 0's k).
    pub fn hessian_due(&self) -> bool {
        let k = self
            .update
            .groups()
            .next()
            .map_or(10, |g| g.1.update_interval) as u64;
        let it = self.update.iteration();
        it > 0 && it.is_multiple_of(k)
    }

    /// SophiaH: draws the next Gaussian probes on the GPU (submitted now) and returns them; read
    /// them with `Probes::read` or bind `Probes::arena` to compute the Hessian-vector product.
    pub fn probes(&mut self) -> Result<&Probes> {
        let engine = self.update.engine().clone();
        let probes = self.probes.as_mut().ok_or_else(|| {
            Error::InvalidHyperparameter(
                "SophiaG takes no probes: hand it the gradient on sampled labels".into(),
            )
        })?;
        self.pending_probe = Some(probes.draw(&engine)?);
        Ok(self.probes.as_ref().expect("checked above"))
    }

    /// The Hessian EMA from the estimate in `params`' gradients (ĝ for SophiaG, Hu for
    /// SophiaH with the probes of the last [`Sophia::probes`] call). One submit, no readback.
    pub fn update_hessian(&mut self, params: &mut ParamSet) -> Result<()> {
        if self.hutchinson && self.pending_probe.is_none() {
            return Err(Error::OutOfOrder(
                "SophiaH: call probes() and compute Hu with them before update_hessian()".into(),
            ));
        }
        let engine = self.update.engine().clone();
        let update = &self.update;
        self.ema
            .write_segments(&engine, &mut self.scratch, |g, start, end| {
                let cfg = update
                    .config_of_group(g)
                    .expect("segments are planned from these groups");
                SophiaHessianSegment {
                    start,
                    end,
                    beta2: cfg.betas.1 as f32,
                    one_minus_beta2: (1.0 - cfg.betas.1) as f32,
                    ..Default::default()
                }
            });
        let mut rec = std::mem::take(&mut self.ema_recorder);
        rec.take_copies(params);
        self.ema_guard.record(&mut rec);
        self.ema.record(&mut rec);
        let r = rec.submit(&engine).map(|_| ());
        self.ema_recorder = rec;
        self.pending_probe = None;
        r
    }

    /// Statistics of the last Hessian update (its estimate's norm, whether it was skipped, and
    /// the applied/skipped update counts). Waits for the GPU.
    pub fn hessian_stats(&self) -> Result<StepStats> {
        self.ema_guard.read_stats(self.update.engine())
    }

    /// The reference's `win_rate` diagnostic: the share of coordinates the clip leaves alone
    /// (`|m| < ρ·bs·h`, with group 0's ρ·bs). Reads `exp_avg` and `hessian` back (waits).
    pub fn win_rate(&self, params: &ParamSet) -> Result<f64> {
        let engine = self.update.engine();
        let layout = params.layout();
        let scale = self.update.groups().next().map_or(1.0, |g| g.1.scale()) as f32;
        let arena = |name: &str| {
            &self
                .update
                .state_arenas()
                .iter()
                .find(|(n, _)| *n == name)
                .expect("Sophia states")
                .1
        };
        let (m, h) = (arena("exp_avg"), arena("hessian"));
        let (mut won, mut n) = (0usize, 0usize);
        for &slot in self.update.slots() {
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

    /// The update's optimizer (state arenas, groups).
    pub fn update_rule(&self) -> &Fused<SophiaRule> {
        &self.update
    }
}

impl Optimizer for Sophia {
    delegated_methods!(update);

    fn name(&self) -> &'static str {
        if self.hutchinson {
            "sophia-h"
        } else {
            "sophia-g"
        }
    }

    fn step(&mut self, params: &mut ParamSet) -> Result<()> {
        self.update.step(params)
    }

    fn set_guard(&mut self, guard: GuardConfig) {
        self.ema_guard.reconfigure(self.update.engine(), guard);
        self.update.set_guard(guard)
    }
}
