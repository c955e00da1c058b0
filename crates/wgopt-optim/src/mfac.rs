//! M-FAC on the GPU (dense variant): `shaders/optim/mfac_insert.wgsl` → `mfac_dots.wgsl` →
//! `mfac_setup.wgsl` (one workgroup, the m×m recursion) → `mfac_apply.wgsl`, after the step
//! guard, in one submit; reference twin `wgopt_reference::optim::mfac`.
//!
//! The window holds m copies of the optimizer's span of one arena chunk, so every parameter of
//! an M-FAC optimizer must lie in one chunk and m times that span must fit one storage binding
//! (`Error::OverLimit` otherwise): M-FAC's 4m bytes per parameter make it a method for small
//! models, as its authors say. All groups share m and λ (one window); lr, momentum and weight
//! decay may differ per group.

use crate::program::{flag, Build, Flags, Program, Step};
use crate::registry::{Driver, Recipe, Request, Single};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::mfac::Whole;
use wgopt_reference::optim::MfacConfig;
use wgopt_reference::optim::ReferenceOptimizer;
use wgopt_scheduler::arena::{read_range, Arena};
use wgopt_scheduler::elementwise::{Coverage, ElementwiseKernel};
use wgopt_scheduler::kernel::common::{GRID_STRIDE, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, StructLayout, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder, StepStats};
use wgopt_scheduler::{Layout, ParamSet};

/// `MfacParams`, `MfacSegment`.
pub static COMMON: Wgsl = wgsl!("optim/mfac_common.wgsl");
const TWINS: &[StructLayout] = &[MfacParams::LAYOUT, MfacSegment::LAYOUT, StepStats::LAYOUT];

/// `optim/mfac_insert.wgsl`: segments, stats, params, param, grad, window.
pub static INSERT: Kernel = Kernel::new(
    wgsl!("optim/mfac_insert.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE, &COMMON],
    &[R, R, U, R, R, W],
)
.twins(TWINS);

/// `optim/mfac_dots.wgsl`: params, stats, window, partials.
pub static DOTS: Kernel = Kernel::new(
    wgsl!("optim/mfac_dots.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, W],
)
.twins(TWINS);

/// `optim/mfac_setup.wgsl`, the recursion in one workgroup: params, stats, partials, small.
pub static SETUP: Kernel = Kernel::new(
    wgsl!("optim/mfac_setup.wgsl"),
    &[&STEP_STATS, &COMMON],
    &[U, R, R, W],
)
.twins(TWINS);

/// `optim/mfac_apply.wgsl`: segments, stats, params, param, window, small, momentum.
pub static APPLY: Kernel = Kernel::new(
    wgsl!("optim/mfac_apply.wgsl"),
    &[&STEP_STATS, &GRID_STRIDE, &COMMON],
    &[R, R, U, W, R, R, W],
)
.twins(TWINS);

/// Uniform of the M-FAC kernels. WGSL twin: `MfacParams` in shaders/optim/mfac_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MfacParams {
    pub m: u32,
    pub width4: u32,
    pub lo4: u32,
    pub tiles: u32,
    pub inv_damp: f32,
    pub _pad0: f32,
    pub _pad1: f32,
    pub _pad2: f32,
}

/// Per-group scalars. WGSL twin: `MfacSegment` in shaders/optim/mfac_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct MfacSegment {
    pub start: u32,
    pub end: u32,
    pub _pad: u32,
    pub _pad1: u32,
    pub neg_lr: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    pub one_minus_momentum: f32,
}

/// vec4s per tile of the dot pass (MFAC_TILE in mfac_dots.wgsl).
const MFAC_TILE: u32 = 2048;

/// M-FAC's program.
#[derive(Debug)]
pub struct MfacProgram {
    m: u32,
    width4: u32,
    window: wgpu::Buffer,
    small: wgpu::Buffer,
    momentum: Option<Arena>,
    insert: ElementwiseKernel<MfacSegment>,
    apply: ElementwiseKernel<MfacSegment>,
    /// dots, setup.
    fixed: Vec<Dispatch>,
}

/// M-FAC over a parameter set.
pub type Mfac = Stepper<MfacProgram>;

/// The window's span: (first vec4, vec4 width), checked to lie in one chunk and fit one binding.
fn window_span(cx: &Build<'_, MfacConfig>, m: u32) -> Result<(u32, u32)> {
    let layout = cx.layout();
    let pieces: Vec<_> = cx
        .groups
        .slots()
        .iter()
        .flat_map(|&i| layout.slots[i].pieces.iter())
        .collect();
    let chunk = pieces.first().map_or(0, |p| p.chunk);
    if let Some(p) = pieces.iter().find(|p| p.chunk != chunk) {
        return Err(Error::OverLimit {
            what: format!(
                "mfac: its parameters span several arena chunks (found chunk {} and {chunk}); \
                 the window needs them in one",
                p.chunk
            ),
            size: layout.numel() as u64 * 4,
            limit: cx.engine.chunk_bytes(),
            unit: "bytes",
        });
    }
    let lo4 = pieces
        .iter()
        .map(|p| p.vec4_range().start)
        .min()
        .unwrap_or(0);
    let hi4 = pieces.iter().map(|p| p.vec4_range().end).max().unwrap_or(0);
    let window_bytes = m as u64 * (hi4 - lo4) as u64 * 16;
    if window_bytes > cx.engine.chunk_bytes() {
        return Err(Error::OverLimit {
            what: format!("mfac gradient window ({m} × {} floats)", (hi4 - lo4) * 4),
            size: window_bytes,
            limit: cx.engine.chunk_bytes(),
            unit: "bytes",
        });
    }
    Ok((lo4, hi4 - lo4))
}

impl Program for MfacProgram {
    type Config = MfacConfig;
    const PART: &'static str = "mfac";

    /// ngrads and damp define the one shared window.
    fn kernel_flags(c: &MfacConfig) -> Flags {
        vec![flag("ngrads", c.ngrads), flag("damp", c.damp)]
    }

    fn plan_flags(c: &MfacConfig) -> Flags {
        let mut f = Self::kernel_flags(c);
        f.push(flag("momentum > 0", c.momentum > 0.0));
        f
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![&INSERT, &DOTS, &SETUP, &APPLY]
    }

    fn build(cx: &Build<'_, MfacConfig>) -> Result<Self> {
        let engine = cx.engine;
        let first = cx.groups.configs().first().map(|c| **c).unwrap_or_default();
        let m = first.ngrads;
        let (lo4, width4) = window_span(cx, m)?;
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let window = engine.create_buffer("mfac window", m as u64 * width4 as u64 * 16, storage);
        let tiles = width4.div_ceil(MFAC_TILE).max(1);
        let partials = engine.create_buffer("mfac partials", (m * tiles) as u64 * 4, storage);
        let small_len = 3 * m as u64 * m as u64 + 3 * m as u64;
        let small = engine.create_buffer("mfac small", small_len * 4, storage);
        let p = MfacParams {
            m,
            width4,
            lo4,
            tiles,
            inv_damp: (1.0 / first.damp) as f32,
            ..Default::default()
        };
        let uniform = engine.upload(
            "mfac params",
            bytemuck::bytes_of(&p),
            wgpu::BufferUsages::UNIFORM,
        );
        let with_momentum = cx.groups.iter().any(|g| g.config.momentum > 0.0);
        let momentum = with_momentum.then(|| Arena::new(engine, cx.layout(), "momentum"));
        let fixed = vec![
            engine.dispatch(
                &DOTS,
                &[],
                &[&uniform, cx.stats, &window, &partials],
                [tiles, m, 1],
            ),
            engine.dispatch(
                &SETUP,
                &[],
                &[&uniform, cx.stats, &partials, &small],
                [1, 1, 1],
            ),
        ];
        let (insert, apply) = kernels(cx, &uniform, &window, &small, momentum.as_ref());
        Ok(MfacProgram {
            m,
            width4,
            window,
            small,
            momentum,
            insert,
            apply,
            fixed,
        })
    }

    fn record(&mut self, cx: &Step<'_, MfacConfig>, rec: &mut StepRecorder) {
        let seg = |g: usize, start: u32, end: u32| {
            let cfg = cx.config(g);
            MfacSegment {
                start,
                end,
                neg_lr: (-cx.lr(cfg)) as f32,
                weight_decay: cfg.weight_decay as f32,
                momentum: cfg.momentum as f32,
                one_minus_momentum: (1.0 - cfg.momentum) as f32,
                ..Default::default()
            }
        };
        self.insert.write(cx.engine, seg);
        self.apply.write(cx.engine, seg);
        self.insert.record(rec);
        for d in &self.fixed {
            rec.push(d.clone());
        }
        self.apply.record(rec);
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.momentum.iter().map(|a| ("momentum", a)).collect()
    }

    fn whole_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
        let m = self.m as usize;
        vec![
            (
                "mfac.grads".into(),
                &self.window,
                vec![m, self.width4 as usize * 4],
            ),
            ("mfac.small".into(), &self.small, vec![3 * m * m + 3 * m]),
        ]
    }
}

/// The insert and apply launches (grid-stride over the optimizer's groups).
fn kernels(
    cx: &Build<'_, MfacConfig>,
    uniform: &wgpu::Buffer,
    window: &wgpu::Buffer,
    small: &wgpu::Buffer,
    momentum: Option<&Arena>,
) -> (
    ElementwiseKernel<MfacSegment>,
    ElementwiseKernel<MfacSegment>,
) {
    let engine: &Engine = cx.engine;
    let ids = cx.groups.ids();
    let cover = Coverage::groups(cx.layout(), &ids);
    let dummy = engine.create_buffer("unused momentum", 16, wgpu::BufferUsages::STORAGE);
    let (param, grad) = (cx.params.param_arena(), cx.params.grad_arena());
    let insert = ElementwiseKernel::new(engine, &INSERT, &[], cover, |c| {
        vec![
            cx.stats.clone(),
            uniform.clone(),
            param.chunks[c].clone(),
            grad.chunks[c].clone(),
            window.clone(),
        ]
    });
    let constants = [("MOMENTUM", momentum.is_some() as u8 as f64)];
    let apply = ElementwiseKernel::new(engine, &APPLY, &constants, cover, |c| {
        vec![
            cx.stats.clone(),
            uniform.clone(),
            param.chunks[c].clone(),
            window.clone(),
            small.clone(),
            momentum.map_or(dummy.clone(), |a| a.chunks[c].clone()),
        ]
    });
    (insert, apply)
}

impl Stepper<MfacProgram> {
    /// The window size m and the width of each row in floats.
    pub fn window_shape(&self) -> (u32, u32) {
        (self.program().m, self.program().width4 * 4)
    }

    /// Reads the window back (m rows; waits). For tests and diagnostics.
    pub fn read_window(&self) -> Result<Vec<f32>> {
        let w = &self.program().window;
        read_range(self.engine(), w, 0, w.size())
    }

    /// Reads `[GGᵀ, B, D, den, c, w]` back (waits). For tests and diagnostics.
    pub fn read_small(&self) -> Result<Vec<f32>> {
        let s = &self.program().small;
        read_range(self.engine(), s, 0, s.size())
    }

    /// The momentum arena, when a group has momentum.
    pub fn momentum_arena(&self) -> Option<&Arena> {
        self.program().momentum.as_ref()
    }
}

/// The table's recipe for M-FAC: one config for every group (the window is one), the CPU
/// oracle over the flattened tensors (`wgopt_reference::optim::mfac::Whole`).
pub struct MfacRecipe;

impl Recipe for MfacRecipe {
    fn build(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver> {
        Single::<MfacProgram>::new(MfacConfig::default).driver(params, req)
    }

    fn reference(&self, layout: &Layout, req: &Request<'_>) -> Result<Box<dyn ReferenceOptimizer>> {
        let groups = Single::<MfacProgram>::new(MfacConfig::default).groups(layout, req)?;
        let first = groups[0].1;
        if groups.iter().any(|g| g.1 != first) {
            return Err(Error::InvalidHyperparameter(
                "the M-FAC oracle takes one config for every group".into(),
            ));
        }
        let lens: Vec<usize> = layout.slots.iter().map(|s| s.len).collect();
        Ok(Box::new(Whole::new(first, &lens)?))
    }

    fn kernels(&self) -> Vec<&'static Kernel> {
        MfacProgram::kernels()
    }

    fn labels(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn lr(&self, req: &Request<'_>) -> Result<f64> {
        Ok(crate::registry::config_from("mfac", MfacConfig::default(), req.hparams)?.lr)
    }
}
