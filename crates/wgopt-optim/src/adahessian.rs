//! AdaHessian on the GPU: `shaders/optim/adahessian_blocks.wgsl` (spatial averaging of |Hz|)
//! then `shaders/optim/adahessian.wgsl` (the fused update), after a step guard that also checks
//! the Hessian-vector products; reference twin `wgopt_reference::optim::adahessian`.
//!
//! Every step needs a fresh Hutchinson sample, so the call sequence is:
//!
//! ```text
//! let z = opt.probes()?;              // Rademacher probes drawn on the GPU (z.read(..) for the host)
//! // backward → g;  Hessian-vector product with z → Hz  (e.g. finite differences of gradients)
//! params.write_grads(&g); opt.write_hvp("w", &hz)?;  // or fill opt.hvp_arena() on the GPU
//! opt.step(&mut params)?;
//! ```

use crate::fused::{Fused, Rule};
use crate::optimizer::{delegated_methods, Optimizer};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::AdaHessianConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::random::{Distribution, Probes};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Error, GuardConfig, ParamSet, Result, ShaderId};

/// Per-segment scalars. WGSL twin: `AdaHessianSegment` in shaders/optim/adahessian.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct AdaHessianSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub lr: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub bias_correction1: f32,
    pub bias_correction2_pow: f32,
    pub hessian_power: f32,
    pub eps: f32,
    pub _pad0: f32,
    pub _pad1: f32,
}

/// One parameter's averaging blocks. WGSL twin: `BlockSegment` in
/// shaders/optim/adahessian_blocks.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct BlockSegment {
    pub start: u32,
    pub end: u32,
    pub block: u32,
    pub _pad: u32,
}

#[derive(Debug)]
pub enum AdaHessianRule {}

impl Rule for AdaHessianRule {
    type Config = AdaHessianConfig;
    type Segment = AdaHessianSegment;
    const NAME: &'static str = "adahessian";
    const SHADER: ShaderId = ShaderId::AdaHessian;
    const BOUND_FIELDS: &'static [&'static str] = &["exp_avg", "exp_hessian_diag_sq"];
    const INPUT_FIELDS: &'static [&'static str] = &["hvp"];

    fn validate(cfg: &AdaHessianConfig) -> Result<()> {
        cfg.validate()
            .map_err(|e| Error::InvalidHyperparameter(e.to_string()))
    }

    fn state_fields(_: &[AdaHessianConfig]) -> Vec<&'static str> {
        Self::BOUND_FIELDS.to_vec()
    }

    fn constants(_: &AdaHessianConfig) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    fn base_lr(cfg: &AdaHessianConfig) -> f64 {
        cfg.lr
    }

    fn segment(cfg: &AdaHessianConfig, lr: f64, t: u64, start: u32, end: u32) -> AdaHessianSegment {
        let (beta1, beta2) = cfg.betas;
        let t_i = t as i32;
        AdaHessianSegment {
            start,
            end,
            step: t as u32,
            lr: lr as f32,
            weight_decay: cfg.weight_decay as f32,
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction1: (1.0 - beta1.powi(t_i)) as f32,
            bias_correction2_pow: (1.0 - beta2.powi(t_i)).sqrt().powf(cfg.hessian_power) as f32,
            hessian_power: cfg.hessian_power as f32,
            eps: cfg.eps as f32,
            ..Default::default()
        }
    }
}

/// AdaHessian over some groups of a parameter set.
#[derive(Debug)]
pub struct AdaHessian {
    update: Fused<AdaHessianRule>,
    /// One averaging dispatch per chunk that holds blocked parameters.
    block_dispatches: Vec<Dispatch>,
    probes: Probes,
    probe_pending: bool,
}

impl AdaHessian {
    /// One config for every group.
    pub fn all(params: &ParamSet, cfg: AdaHessianConfig) -> Result<Self> {
        let groups: Vec<(String, AdaHessianConfig)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg))
            .collect();
        Self::new(params, &groups, GuardConfig::default(), 0)
    }

    /// Groups with their own hyperparameters; `seed` of the Rademacher probes.
    pub fn new(
        params: &ParamSet,
        groups: &[(String, AdaHessianConfig)],
        guard: GuardConfig,
        seed: u64,
    ) -> Result<Self> {
        let update = Fused::<AdaHessianRule>::new(params, groups, guard)?;
        let engine = update.engine().clone();
        let layout = params.layout();
        let group_ids: Vec<usize> = update
            .groups()
            .map(|(l, _)| layout.group_index(l))
            .collect::<Result<_>>()?;
        let probes = Probes::new(
            params,
            &group_ids,
            Distribution::Rademacher,
            seed,
            0,
            "adahessian probes",
        );
        let mut per_chunk: Vec<Vec<BlockSegment>> = vec![Vec::new(); layout.chunk_lens.len()];
        let mut max_blocks = vec![0u32; layout.chunk_lens.len()];
        for &i in update.slots() {
            let slot = &layout.slots[i];
            let cfg = update
                .groups()
                .find(|(l, _)| *l == layout.groups[slot.group])
                .expect("slots come from these groups")
                .1;
            let block = cfg.block_of(&slot.shape);
            if block <= 1 {
                continue;
            }
            if slot.is_split() {
                return Err(Error::InvalidHyperparameter(format!(
                    "AdaHessian: parameter {:?} spans several arena chunks; spatial averaging \
                     needs it in one (raise EngineOptions::max_chunk_bytes or set block_size 1)",
                    slot.name
                )));
            }
            per_chunk[slot.chunk].push(BlockSegment {
                start: slot.offset as u32,
                end: (slot.offset + slot.len) as u32,
                block: block as u32,
                _pad: 0,
            });
            let n = slot.len.div_ceil(block) as u32;
            max_blocks[slot.chunk] = max_blocks[slot.chunk].max(n);
        }
        let blocks = engine.kernel(ShaderId::AdaHessianBlocks, "main", &[]);
        let hvp = &update.input_arenas()[0].1;
        let stats = update.stats_buffer().clone();
        let mut block_dispatches = Vec::new();
        for (chunk, segs) in per_chunk.iter().enumerate() {
            if segs.is_empty() {
                continue;
            }
            let buf = engine.create_buffer(
                "adahessian blocks",
                (segs.len() * std::mem::size_of::<BlockSegment>()) as u64,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            );
            engine
                .queue()
                .write_buffer(&buf, 0, bytemuck::cast_slice(segs));
            let bg = engine.bind_buffers(
                "adahessian_blocks",
                &blocks.layout,
                &[&buf, &stats, &hvp.chunks[chunk]],
            );
            block_dispatches.push(Dispatch {
                label: "adahessian_blocks",
                pipeline: blocks.pipeline.clone(),
                bind_group: bg,
                workgroups: [
                    max_blocks[chunk]
                        .div_ceil(256)
                        .clamp(1, engine.max_workgroups()),
                    1,
                    1,
                ],
            });
        }
        Ok(AdaHessian {
            update,
            block_dispatches,
            probes,
            probe_pending: false,
        })
    }

    /// Probe draws taken so far; saved in checkpoints.
    fn probe_draws(&self) -> u32 {
        self.probes.draws()
    }

    /// After a checkpoint load: the next draw continues the saved sequence.
    fn restore_probe_draws(&mut self, draws: u32) {
        self.probes.set_draws(draws);
        self.probe_pending = false;
    }

    /// Draws this step's Rademacher probes z on the GPU (submitted now).
    pub fn probes(&mut self) -> Result<&Probes> {
        let engine = self.update.engine().clone();
        self.probes.draw(&engine)?;
        self.probe_pending = true;
        Ok(&self.probes)
    }

    /// Writes one parameter's Hessian-vector product Hz (queued; lands before the next step).
    pub fn write_hvp(&mut self, params: &ParamSet, name: &str, hz: &[f32]) -> Result<()> {
        let slot = params
            .layout()
            .slots
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::UnknownParameter(name.into()))?;
        self.hvp_arena().write(self.update.engine(), slot, hz)
    }

    /// The arena the step reads Hz from (fill it on the GPU for a GPU-resident model).
    pub fn hvp_arena(&self) -> &Arena {
        &self.update.input_arenas()[0].1
    }
}

impl Optimizer for AdaHessian {
    delegated_methods!(update);

    fn name(&self) -> &'static str {
        "adahessian"
    }

    fn step(&mut self, params: &mut ParamSet) -> Result<()> {
        if !self.probe_pending {
            return Err(Error::OutOfOrder(
                "AdaHessian: call probes() and write the Hessian-vector products before step()"
                    .into(),
            ));
        }
        let blocks = &self.block_dispatches;
        self.update.step_with(params, |rec| {
            for d in blocks {
                rec.push(d.clone());
            }
        })?;
        self.probe_pending = false;
        Ok(())
    }

    fn set_guard(&mut self, guard: GuardConfig) {
        self.update.set_guard(guard)
    }
}
