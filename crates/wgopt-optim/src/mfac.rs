//! M-FAC on the GPU (dense variant): `shaders/optim/mfac_insert.wgsl` → `mfac_dots.wgsl` →
//! `mfac_setup.wgsl` (one workgroup, the m×m recursion) → `mfac_apply.wgsl`, after the step
//! guard, in one submit; reference twin `wgopt_reference::optim::mfac`.
//!
//! The window holds m copies of the optimizer's span of one arena chunk, so every parameter of
//! an M-FAC optimizer must lie in one chunk and m times that span must fit one storage binding
//! (`Error::OverLimit` otherwise): M-FAC's 4m bytes per parameter make it a method for small
//! models, as its authors say. All groups share m and λ (one window); lr, momentum and weight
//! decay may differ per group.

use crate::blocks::resolve_groups;
use crate::checkpoint::Stateful;
use crate::optimizer::{counter_methods, guarded_methods, Counters, Optimizer};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::MfacConfig;
use wgopt_reference::schedule::Schedule;
use wgopt_scheduler::arena::{read_range, Arena};
use wgopt_scheduler::elementwise::ElementwiseKernel;
use wgopt_scheduler::guard::Guard;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, GuardConfig, ParamSet, Result, ShaderId, StepRecorder};

/// Uniform of the M-FAC kernels. WGSL twin: `MfacParams` in shaders/optim/mfac_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
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

/// M-FAC over some groups of a parameter set.
#[derive(Debug)]
pub struct Mfac {
    engine: Engine,
    param_set: u64,
    groups: Vec<(usize, String, MfacConfig)>,
    slots: Vec<usize>,
    m: u32,
    width4: u32,
    window: wgpu::Buffer,
    small: wgpu::Buffer,
    momentum: Option<Arena>,
    guard: Guard,
    insert: ElementwiseKernel,
    apply: ElementwiseKernel,
    fixed: Vec<Dispatch>,
    scratch: Vec<MfacSegment>,
    recorder: StepRecorder,
    counters: Counters,
}

impl Mfac {
    /// One config for every group.
    pub fn all(params: &ParamSet, cfg: MfacConfig) -> Result<Self> {
        let groups: Vec<(String, MfacConfig)> = params
            .layout()
            .groups
            .iter()
            .map(|g| (g.clone(), cfg))
            .collect();
        Self::new(params, &groups, GuardConfig::default())
    }

    pub fn new(
        params: &ParamSet,
        groups: &[(String, MfacConfig)],
        guard: GuardConfig,
    ) -> Result<Self> {
        let engine = params.engine().clone();
        let layout = params.layout();
        let first = groups.first().map(|g| g.1);
        let (resolved, slots) = resolve_groups("mfac", layout, groups, |cfg: &MfacConfig| {
            cfg.validate()
                .map_err(|e| Error::InvalidHyperparameter(e.to_string()))?;
            if first.is_some_and(|f| (cfg.ngrads, cfg.damp) != (f.ngrads, f.damp)) {
                return Err(Error::InvalidHyperparameter(
                    "mfac: ngrads and damp define the one shared window and must agree across \
                     groups"
                        .into(),
                ));
            }
            Ok(())
        })?;
        let first = resolved[0].2;
        let group_ids: Vec<usize> = resolved.iter().map(|g| g.0).collect();
        let pieces: Vec<_> = slots
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
                limit: engine.chunk_bytes(),
            });
        }
        let lo4 = pieces
            .iter()
            .map(|p| p.vec4_range().start)
            .min()
            .unwrap_or(0);
        let hi4 = pieces.iter().map(|p| p.vec4_range().end).max().unwrap_or(0);
        let width4 = hi4 - lo4;
        let m = first.ngrads;
        let window_bytes = m as u64 * width4 as u64 * 16;
        if window_bytes > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: format!("mfac gradient window ({m} × {} floats)", width4 * 4),
                size: window_bytes,
                limit: engine.chunk_bytes(),
            });
        }
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let window = engine.create_buffer("mfac window", window_bytes.max(16), storage);
        let tiles = width4.div_ceil(MFAC_TILE).max(1);
        let partials = engine.create_buffer("mfac partials", (m * tiles) as u64 * 4, storage);
        let small_len = 3 * m as u64 * m as u64 + 3 * m as u64;
        let small = engine.create_buffer("mfac small", small_len * 4, storage);
        let uniform = engine.create_buffer(
            "mfac params",
            std::mem::size_of::<MfacParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let p = MfacParams {
            m,
            width4,
            lo4,
            tiles,
            inv_damp: (1.0 / first.damp) as f32,
            ..Default::default()
        };
        engine
            .queue()
            .write_buffer(&uniform, 0, bytemuck::bytes_of(&p));
        let guard = Guard::new(&engine, params, &slots, guard)?;
        let stats = guard.stats_buffer().clone();
        let with_momentum = resolved.iter().any(|g| g.2.momentum > 0.0);
        let momentum = with_momentum.then(|| Arena::new(&engine, layout, "momentum"));
        let dummy = engine.create_buffer("unused momentum", 16, wgpu::BufferUsages::STORAGE);
        let seg_size = std::mem::size_of::<MfacSegment>();
        let insert = ElementwiseKernel::new(
            &engine,
            ShaderId::MfacInsert,
            &[],
            layout,
            &group_ids,
            seg_size,
            |c| {
                vec![
                    stats.clone(),
                    uniform.clone(),
                    params.param_arena().chunks[c].clone(),
                    params.grad_arena().chunks[c].clone(),
                    window.clone(),
                ]
            },
        );
        let apply = ElementwiseKernel::new(
            &engine,
            ShaderId::MfacApply,
            &[("MOMENTUM", with_momentum as u8 as f64)],
            layout,
            &group_ids,
            seg_size,
            |c| {
                vec![
                    stats.clone(),
                    uniform.clone(),
                    params.param_arena().chunks[c].clone(),
                    window.clone(),
                    small.clone(),
                    momentum
                        .as_ref()
                        .map_or(dummy.clone(), |a| a.chunks[c].clone()),
                ]
            },
        );
        let dots_k = engine.kernel(ShaderId::MfacDots, "main", &[]);
        let setup_k = engine.kernel(ShaderId::MfacSetup, "main", &[]);
        let fixed = vec![
            Dispatch {
                label: "optim/mfac_dots.wgsl",
                pipeline: dots_k.pipeline.clone(),
                bind_group: engine.bind_buffers(
                    "mfac_dots",
                    &dots_k.layout,
                    &[&uniform, &stats, &window, &partials],
                ),
                workgroups: [tiles, m, 1],
            },
            Dispatch {
                label: "optim/mfac_setup.wgsl",
                pipeline: setup_k.pipeline.clone(),
                bind_group: engine.bind_buffers(
                    "mfac_setup",
                    &setup_k.layout,
                    &[&uniform, &stats, &partials, &small],
                ),
                workgroups: [1, 1, 1],
            },
        ];
        Ok(Mfac {
            engine,
            param_set: params.id(),
            groups: resolved,
            slots,
            m,
            width4,
            window,
            small,
            momentum,
            guard,
            insert,
            apply,
            fixed,
            scratch: Vec::new(),
            recorder: StepRecorder::new(),
            counters: Counters::new(),
        })
    }

    fn check_params(&self, params: &ParamSet) -> Result<()> {
        if params.id() != self.param_set {
            return Err(Error::InvalidHyperparameter(
                "mfac was built for another ParamSet".into(),
            ));
        }
        Ok(())
    }

    fn record(&mut self, params: &ParamSet, rec: &mut StepRecorder) -> Result<()> {
        self.check_params(params)?;
        let (mult, _) = self.counters.next();
        let groups = &self.groups;
        let seg = |g: usize, start: u32, end: u32| {
            let cfg = &groups
                .iter()
                .find(|x| x.0 == g)
                .expect("segments come from these groups")
                .2;
            MfacSegment {
                start,
                end,
                neg_lr: (-cfg.lr * mult) as f32,
                weight_decay: cfg.weight_decay as f32,
                momentum: cfg.momentum as f32,
                one_minus_momentum: (1.0 - cfg.momentum) as f32,
                ..Default::default()
            }
        };
        self.insert
            .write_segments(&self.engine, &mut self.scratch, seg);
        self.apply
            .write_segments(&self.engine, &mut self.scratch, seg);
        self.guard.record(rec);
        self.insert.record(rec);
        for d in &self.fixed {
            rec.push(d.clone());
        }
        self.apply.record(rec);
        self.counters.advance();
        Ok(())
    }

    /// The window size m and the width of each row in floats.
    pub fn window_shape(&self) -> (u32, u32) {
        (self.m, self.width4 * 4)
    }

    /// Reads the window back (m rows; waits). For tests and diagnostics.
    pub fn read_window(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.window, 0, self.window.size())
    }

    /// Reads `[GGᵀ, B, D, den, c, w]` back (waits). For tests and diagnostics.
    pub fn read_small(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.small, 0, self.small.size())
    }

    /// Layout indices of the parameters this optimizer updates.
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// The momentum arena, when a group has momentum.
    pub fn momentum_arena(&self) -> Option<&Arena> {
        self.momentum.as_ref()
    }
}

impl Stateful for Mfac {
    type Config = MfacConfig;

    fn checkpoint_name(&self) -> &'static str {
        "mfac"
    }

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state_fields(&self) -> Vec<(&'static str, &Arena)> {
        self.momentum.iter().map(|a| ("momentum", a)).collect()
    }

    fn state_slots(&self) -> &[usize] {
        &self.slots
    }

    fn counters(&self) -> (u64, u64, u64) {
        self.counters.tuple()
    }

    fn group_configs(&self) -> Vec<(String, MfacConfig)> {
        self.groups
            .iter()
            .map(|(_, l, c)| (l.clone(), *c))
            .collect()
    }

    fn schedule(&self) -> &Schedule {
        &self.counters.schedule
    }

    fn check_config(&self, label: &str, saved: &MfacConfig, ours: &MfacConfig) -> Result<()> {
        saved
            .validate()
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
        if (saved.ngrads, saved.damp) != (ours.ngrads, ours.damp)
            || (saved.momentum > 0.0) != (ours.momentum > 0.0)
        {
            return Err(Error::Checkpoint(format!(
                "group {label:?}: ngrads, damp and whether momentum is on shape the state; saved \
                 {saved:?}, this optimizer {ours:?}"
            )));
        }
        Ok(())
    }

    fn restore(
        &mut self,
        iteration: u64,
        applied: u64,
        skipped: u64,
        configs: Vec<MfacConfig>,
        schedule: Schedule,
    ) {
        for (g, c) in self.groups.iter_mut().zip(configs) {
            g.2 = c;
        }
        self.counters.restore(iteration, applied, skipped, schedule);
        self.guard
            .set_counters(&self.engine, applied as u32, skipped as u32);
    }

    fn extra_buffers(&self) -> Vec<(String, &wgpu::Buffer, Vec<usize>)> {
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

impl Optimizer for Mfac {
    fn name(&self) -> &'static str {
        "mfac"
    }

    counter_methods!();
    guarded_methods!();

    fn enable_timing(&mut self) -> Result<()> {
        let n = 2 * self.insert.plans().len() as u32 + 2 * self.apply.plans().len() as u32 + 4;
        self.recorder.enable_timing(&self.engine, n)
    }
}
