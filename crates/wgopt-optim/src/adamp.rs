//! AdamP and SGDP on the GPU: three passes per step after the guard,
//! `shaders/optim/adamp_rows.wgsl` (per-row sums over every projectable parameter),
//! `adamp_decide.wgsl` (the channel/layer scale-invariance test, one workgroup per parameter)
//! and `adamp.wgsl` (moments, projection, decay, step); reference twin
//! `wgopt_reference::optim::adamp`. One submit, no readback.
//!
//! A parameter with more than one dimension must lie in one arena chunk (its rows are
//! reduced inside one binding); 1-D parameters are plain Adam/SGD steps and may be split.

use crate::blocks::{element_blocks, ElementBlock, ParamTable};
use crate::program::{flag, Build, Flags, Program, Step};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::{AdamPConfig, OptimizerConfig, SgdpConfig};
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::kernel::common::{ELEMENT_BLOCK, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Layout, Result, StepRecorder, StepStats};

/// `AdamPParam`, shared by the three passes.
pub static COMMON: Wgsl = wgsl!("optim/adamp_common.wgsl");

/// `optim/adamp_rows.wgsl`: params, stats, rows, param, grad, exp_avg, exp_avg_sq, sums.
pub static ROWS: Kernel = Kernel::new(
    wgsl!("optim/adamp_rows.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[R, R, R, R, R, R, R, W],
)
.twins(&[AdamPParam::LAYOUT, StepStats::LAYOUT]);

/// `optim/adamp_decide.wgsl`: params, stats, sums (decisions, then rows).
pub static DECIDE: Kernel = Kernel::new(
    wgsl!("optim/adamp_decide.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[R, R, W],
)
.twins(&[AdamPParam::LAYOUT, StepStats::LAYOUT]);

/// `optim/adamp.wgsl`: blocks, params, stats, param, grad, exp_avg, exp_avg_sq, sums.
pub static UPDATE: Kernel = Kernel::new(
    wgsl!("optim/adamp.wgsl"),
    &[&STEP_STATS, &ELEMENT_BLOCK, &COMMON],
    &[R, R, R, W, R, W, W, R],
)
.twins(&[ElementBlock::LAYOUT, AdamPParam::LAYOUT, StepStats::LAYOUT]);

/// Per-parameter scalars. WGSL twin: `AdamPParam` in shaders/optim/adamp_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct AdamPParam {
    pub row_base: u32,
    pub n_rows: u32,
    pub row_len: u32,
    pub projectable: u32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub bias_correction2_sqrt: f32,
    pub eps: f32,
    pub neg_step: f32,
    pub decay: f32,
    pub decay_projected: f32,
    pub delta: f32,
    pub lr: f32,
    pub step: u32,
}

/// What AdamP and SGDP differ in.
pub trait Flavor: OptimizerConfig {
    const NAME: &'static str;
    /// State fields by the reference's names, bound as `exp_avg`, `exp_avg_sq`.
    const FIELDS: &'static [&'static str];
    fn nesterov(&self) -> bool;
    /// The step scalars (row fields left to the caller).
    fn scalars(&self, lr: f64, t: u64) -> AdamPParam;
}

impl Flavor for AdamPConfig {
    const NAME: &'static str = "adamp";
    const FIELDS: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];

    fn nesterov(&self) -> bool {
        self.nesterov
    }

    fn scalars(&self, lr: f64, t: u64) -> AdamPParam {
        let (beta1, beta2) = self.betas;
        let t_i = t as i32;
        AdamPParam {
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            bias_correction2_sqrt: (1.0 - beta2.powi(t_i)).sqrt() as f32,
            eps: self.eps as f32,
            neg_step: (-lr / (1.0 - beta1.powi(t_i))) as f32,
            decay: (1.0 - lr * self.weight_decay) as f32,
            decay_projected: (1.0 - lr * self.weight_decay * self.wd_ratio) as f32,
            delta: self.delta as f32,
            lr: lr as f32,
            step: t as u32,
            ..Default::default()
        }
    }
}

impl Flavor for SgdpConfig {
    const NAME: &'static str = "sgdp";
    const FIELDS: &'static [&'static str] = &["momentum"];

    fn nesterov(&self) -> bool {
        self.nesterov
    }

    fn scalars(&self, lr: f64, t: u64) -> AdamPParam {
        let decay = |wr: f64| (1.0 - lr * self.weight_decay * wr / (1.0 - self.momentum)) as f32;
        AdamPParam {
            beta1: self.momentum as f32,
            one_minus_beta1: (1.0 - self.dampening) as f32,
            bias_correction2_sqrt: 1.0,
            eps: self.eps as f32,
            neg_step: (-lr) as f32,
            decay: decay(1.0),
            decay_projected: decay(self.wd_ratio),
            delta: self.delta as f32,
            lr: lr as f32,
            step: t as u32,
            ..Default::default()
        }
    }
}

/// AdamP's or SGDP's program.
#[derive(Debug)]
pub struct Projected<F: Flavor> {
    states: Vec<(&'static str, Arena)>,
    /// Per parameter k (= index into the slots): row fields fixed, scalars rewritten each step.
    table: ParamTable<AdamPParam>,
    dispatches: Vec<Dispatch>,
    _buffers: Vec<wgpu::Buffer>,
    _flavor: std::marker::PhantomData<fn() -> F>,
}

/// AdamP over a parameter set.
pub type AdamP = Stepper<Projected<AdamPConfig>>;
/// SGDP over a parameter set.
pub type Sgdp = Stepper<Projected<SgdpConfig>>;

/// Per parameter its row fields, per chunk its rows, and the number of sums.
type RowPlan = (Vec<AdamPParam>, Vec<Vec<[u32; 4]>>, u32);

/// Per parameter its row fields, and per chunk the rows of projectable parameters
/// `[start, len, global row, param]`; `sums` holds the per-parameter decisions, then the rows.
fn plan_rows(layout: &Layout, slots: &[usize], who: &str) -> Result<RowPlan> {
    let mut table = Vec::with_capacity(slots.len());
    let mut rows: Vec<Vec<[u32; 4]>> = vec![Vec::new(); layout.chunk_lens.len()];
    let mut row_base = slots.len() as u32;
    for (k, &i) in slots.iter().enumerate() {
        let slot = &layout.slots[i];
        let projectable = slot.shape.len() > 1;
        let n_rows = if projectable { slot.shape[0] } else { 1 };
        let row_len = (slot.len / n_rows.max(1)).max(1);
        if projectable && slot.is_split() {
            return Err(Error::InvalidHyperparameter(format!(
                "{who}: parameter {:?} spans several arena chunks; its rows must be reduced \
                 in one (raise EngineOptions::max_chunk_bytes or route it elsewhere)",
                slot.name
            )));
        }
        if projectable {
            rows[slot.chunk].extend((0..n_rows).map(|r| {
                [
                    (slot.offset + r * row_len) as u32,
                    row_len as u32,
                    row_base + r as u32,
                    k as u32,
                ]
            }));
        }
        table.push(AdamPParam {
            row_base,
            n_rows: n_rows as u32,
            row_len: row_len as u32,
            projectable: projectable as u32,
            ..Default::default()
        });
        if projectable {
            row_base += n_rows as u32;
        }
    }
    Ok((table, rows, row_base))
}

impl<F: Flavor> Program for Projected<F> {
    type Config = F;
    const PART: &'static str = F::NAME;

    fn kernel_flags(c: &F) -> Flags {
        vec![flag("nesterov", c.nesterov())]
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&ROWS, &DECIDE, &UPDATE]
    }

    fn build(cx: &Build<'_, F>) -> Result<Self> {
        let (engine, layout) = (cx.engine, cx.layout());
        let slots = cx.groups.slots();
        let states: Vec<(&'static str, Arena)> = F::FIELDS
            .iter()
            .map(|f| (*f, Arena::new(engine, layout, f)))
            .collect();
        let (host, rows, row_count) = plan_rows(layout, slots, F::NAME)?;
        let groups = slots.iter().map(|&i| layout.slots[i].group).collect();
        let table = ParamTable::new(engine, "adamp params", host, groups);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let sums = engine.create_buffer("adamp sums", row_count.max(1) as u64 * 16, storage);
        let nesterov = cx.groups.configs().first().is_some_and(|c| c.nesterov());
        let consts = [
            ("SGD", (F::NAME == "sgdp") as u8 as f64),
            ("NESTEROV", nesterov as u8 as f64),
        ];
        let (dispatches, buffers) = dispatches(cx, &states, &table, &sums, &rows, &consts);
        Ok(Projected {
            states,
            table,
            dispatches,
            _buffers: buffers,
            _flavor: std::marker::PhantomData,
        })
    }

    fn record(&mut self, cx: &Step<'_, F>, rec: &mut StepRecorder) {
        self.table.write(cx.engine, |q, g| {
            let cfg = cx.config(g);
            *q = AdamPParam {
                row_base: q.row_base,
                n_rows: q.n_rows,
                row_len: q.row_len,
                projectable: q.projectable,
                ..cfg.scalars(cx.lr(cfg), cx.t)
            };
        });
        for d in &self.dispatches {
            rec.push(d.clone());
        }
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.states.iter().map(|(n, a)| (*n, a)).collect()
    }
}

/// Row sums per chunk → one decision pass → the block-wise update per chunk.
fn dispatches<F: Flavor>(
    cx: &Build<'_, F>,
    states: &[(&'static str, Arena)],
    table: &ParamTable<AdamPParam>,
    sums: &wgpu::Buffer,
    rows: &[Vec<[u32; 4]>],
    consts: &[(&'static str, f64)],
) -> (Vec<Dispatch>, Vec<wgpu::Buffer>) {
    let engine: &Engine = cx.engine;
    let dummy = engine.create_buffer("unused state", 16, wgpu::BufferUsages::STORAGE);
    let state = |j: usize, chunk: usize| states.get(j).map_or(&dummy, |(_, a)| &a.chunks[chunk]);
    let (param, grad) = (cx.params.param_arena(), cx.params.grad_arena());
    let storage = wgpu::BufferUsages::STORAGE;
    // Both per-chunk passes end with the chunk's tensors and the sums.
    let tail = |c: usize| {
        [
            &param.chunks[c],
            &grad.chunks[c],
            state(0, c),
            state(1, c),
            sums,
        ]
    };
    let (mut out, mut buffers) = (Vec::new(), vec![dummy.clone()]);
    for (chunk, chunk_rows) in rows.iter().enumerate().filter(|(_, r)| !r.is_empty()) {
        let buf = engine.upload("adamp rows", bytemuck::cast_slice(chunk_rows), storage);
        let bound = [&[table.buffer(), cx.stats, &buf][..], &tail(chunk)].concat();
        out.push(engine.dispatch(&ROWS, consts, &bound, grid(engine, chunk_rows.len() as u32)));
        buffers.push(buf);
    }
    if table.len() > 0 {
        let bound = [table.buffer(), cx.stats, sums];
        out.push(engine.dispatch(&DECIDE, consts, &bound, grid(engine, table.len() as u32)));
    }
    for (chunk, segs) in element_blocks(cx.layout(), cx.groups.slots())
        .iter()
        .enumerate()
    {
        if segs.is_empty() {
            continue;
        }
        let buf = engine.upload("adamp blocks", bytemuck::cast_slice(segs), storage);
        let bound = [&[&buf, table.buffer(), cx.stats][..], &tail(chunk)].concat();
        out.push(engine.dispatch(&UPDATE, consts, &bound, grid(engine, segs.len() as u32)));
        buffers.push(buf);
    }
    (out, buffers)
}
