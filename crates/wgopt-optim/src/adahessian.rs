//! AdaHessian on the GPU: `shaders/optim/adahessian_blocks.wgsl` (spatial averaging of |Hz|)
//! then `shaders/optim/adahessian.wgsl` (the fused update), after a step guard that also checks
//! the Hessian-vector products; reference twin `wgopt_reference::optim::adahessian`.
//!
//! Every step needs a fresh Hutchinson sample, so the call sequence is:
//!
//! ```text
//! let z = opt.probes()?;              // Rademacher probes drawn on the GPU (z.read(..) for the host)
//! // backward → g;  Hessian-vector product with z → Hz  (e.g. finite differences of gradients)
//! params.write_grads_by_slot(&g); opt.write_hvp("w", &hz)?;  // or fill opt.hvp_arena() on the GPU
//! opt.step(&mut params)?;
//! ```

use crate::fused::{Fused, Rule};
use crate::program::{Build, Flags, Program, Step};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::AdaHessianConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::kernel::common::{GRID_STRIDE, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::random::{Distribution, Probes, PROBE_FILL};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Error, ParamSet, Result, StepRecorder, StepStats};

/// `optim/adahessian.wgsl`, the update: segments, stats, param, grad, exp_avg,
/// exp_hessian_diag_sq, hvp.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/adahessian.wgsl",
    AdaHessianSegment,
    [],
    [ReadWrite, ReadWrite, ReadOnly]
);

/// `optim/adahessian_blocks.wgsl`, the spatial averaging of |Hz|: segments, stats, hvp.
pub static BLOCKS: Kernel = Kernel::new(
    wgsl!("optim/adahessian_blocks.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE],
    &[R, R, W],
)
.twins(&[BlockSegment::LAYOUT, StepStats::LAYOUT]);

/// Per-segment scalars. WGSL twin: `AdaHessianSegment` in shaders/optim/adahessian.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct BlockSegment {
    pub start: u32,
    pub end: u32,
    pub block: u32,
    pub _pad: u32,
}

/// The update rule; its `hvp` input is guarded like the gradients.
#[derive(Debug)]
pub enum AdaHessianRule {}

impl Rule for AdaHessianRule {
    type Config = AdaHessianConfig;
    type Segment = AdaHessianSegment;
    const NAME: &'static str = "adahessian";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "exp_hessian_diag_sq"];
    const INPUTS: &'static [&'static str] = &["hvp"];

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

/// AdaHessian's program: the block averaging of |Hz|, then the fused update.
#[derive(Debug)]
pub struct AdaHessianProgram {
    update: Fused<AdaHessianRule>,
    /// One averaging dispatch per chunk that holds blocked parameters.
    blocks: Vec<Dispatch>,
    probes: Probes,
    probe_pending: bool,
    _buffers: Vec<wgpu::Buffer>,
}

/// AdaHessian over a parameter set.
pub type AdaHessian = Stepper<AdaHessianProgram>;

impl Program for AdaHessianProgram {
    type Config = AdaHessianConfig;
    const PART: &'static str = "adahessian";
    const INPUTS: &'static [&'static str] = AdaHessianRule::INPUTS;
    const COUNTERS: &'static [&'static str] = &["probe_draws"];

    fn kernel_flags(config: &AdaHessianConfig) -> Flags {
        Fused::<AdaHessianRule>::kernel_flags(config)
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&KERNEL, &BLOCKS, &PROBE_FILL]
    }

    fn build(cx: &Build<'_, AdaHessianConfig>) -> Result<Self> {
        let update = Fused::<AdaHessianRule>::build(cx)?;
        let ids = cx.groups.ids();
        let probes = Probes::new(
            cx.params,
            &ids,
            Distribution::Rademacher,
            cx.seed,
            0,
            "adahessian probes",
        );
        let (blocks, buffers) = block_dispatches(cx)?;
        Ok(AdaHessianProgram {
            update,
            blocks,
            probes,
            probe_pending: false,
            _buffers: buffers,
        })
    }

    fn ready(&self, _t: u64) -> Result<()> {
        if self.probe_pending {
            Ok(())
        } else {
            Err(Error::OutOfOrder(
                "AdaHessian: call probes() and write the Hessian-vector products before step()"
                    .into(),
            ))
        }
    }

    /// Block averaging of |Hz| (between the guard and the update: it sees the verdict), then
    /// the update.
    fn record(&mut self, cx: &Step<'_, AdaHessianConfig>, rec: &mut StepRecorder) {
        for d in &self.blocks {
            rec.push(d.clone());
        }
        self.update.record(cx, rec);
        self.probe_pending = false;
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.update.state()
    }

    fn bytes_per_element(config: &AdaHessianConfig) -> Option<usize> {
        Fused::<AdaHessianRule>::bytes_per_element(config)
    }

    fn driver(stepper: Stepper<Self>) -> crate::registry::Driver {
        crate::registry::Driver::AdaHessian(Box::new(stepper))
    }

    fn counters(&self) -> Vec<u64> {
        vec![self.probes.draws() as u64]
    }

    fn restored(&mut self, counters: &[u64]) -> Result<()> {
        let draws = u32::try_from(counters[0])
            .map_err(|_| Error::Checkpoint("probe_draws exceeds u32".into()))?;
        self.probes.set_draws(draws);
        self.probe_pending = false;
        Ok(())
    }
}

/// Per chunk, the averaging segments of the parameters whose block is > 1, as one dispatch.
fn block_dispatches(
    cx: &Build<'_, AdaHessianConfig>,
) -> Result<(Vec<Dispatch>, Vec<wgpu::Buffer>)> {
    let (engine, layout) = (cx.engine, cx.layout());
    let mut per_chunk: Vec<Vec<BlockSegment>> = vec![Vec::new(); layout.chunk_lens.len()];
    let mut max_blocks = vec![0u32; layout.chunk_lens.len()];
    for &i in cx.groups.slots() {
        let slot = &layout.slots[i];
        let block = cx.groups.config(slot.group).block_of(&slot.shape);
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
    let hvp = cx.input("hvp")?;
    let (mut dispatches, mut buffers) = (Vec::new(), Vec::new());
    for (chunk, segs) in per_chunk.iter().enumerate().filter(|(_, s)| !s.is_empty()) {
        let buf = engine.upload(
            "adahessian blocks",
            bytemuck::cast_slice(segs),
            wgpu::BufferUsages::STORAGE,
        );
        let wg = max_blocks[chunk]
            .div_ceil(256)
            .clamp(1, engine.max_workgroups());
        dispatches.push(engine.dispatch(
            &BLOCKS,
            &[],
            &[&buf, cx.stats, &hvp.chunks[chunk]],
            [wg, 1, 1],
        ));
        buffers.push(buf);
    }
    Ok((dispatches, buffers))
}

impl Stepper<AdaHessianProgram> {
    /// Draws this step's Rademacher probes z on the GPU (submitted now).
    pub fn probes(&mut self) -> Result<&Probes> {
        let engine = self.engine().clone();
        let program = self.program_mut();
        program.probes.draw(&engine)?;
        program.probe_pending = true;
        Ok(&program.probes)
    }

    /// Writes one parameter's Hessian-vector product Hz (queued; lands before the next step).
    pub fn write_hvp(&mut self, params: &ParamSet, name: &str, hz: &[f32]) -> Result<()> {
        self.check_params(params)?;
        let slot = params.layout().slot(name)?;
        self.hvp_arena().write(self.engine(), slot, hz)
    }

    /// The arena the step reads Hz from (fill it on the GPU for a GPU-resident model).
    pub fn hvp_arena(&self) -> &Arena {
        self.input_arena("hvp")
            .expect("AdaHessian declares the hvp input")
    }
}
