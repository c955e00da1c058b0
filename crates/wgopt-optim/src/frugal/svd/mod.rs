//! FRUGAL's SVD projector on the GPU (reference twin `wgopt_reference::optim::frugal::svd`).
//!
//! Every step, per 2-D weight: P(G) by one GEMM from the raw gradient into the low-dimensional
//! buffer, AdamW on all of them at once (`shaders/optim/frugal_svd_adam.wgsl`, compact state),
//! then per weight one batched GEMM lifting [P(G) | U] back to full size into a shared scratch
//! and `shaders/optim/frugal_svd_apply.wgsl`. Every `update_gap` applied steps the basis is
//! refreshed from the current gradient: four skinny GEMMs per weight (the sketch Z = C²·Ω with
//! C = HᵀH), a read-back of its d·k floats, a QR on the host, one more GEMM (B = H·Q) and its
//! read-back, and the small Rayleigh–Ritz factorization on the host — the functions of
//! `wgopt_reference::optim::frugal::svd` that the reference uses too. Those are the only steps
//! with host round trips and a second submit ([`crate::program::Program::host_work`]).

use super::FrugalParam;
use crate::blocks::{element_blocks, ElementBlock, ParamTable};
use crate::program::Build;
use wgopt_reference::optim::frugal::svd::{basis_from_image, orthonormalize, probes, SvdShape};
use wgopt_reference::optim::frugal::Projection;
use wgopt_reference::optim::FrugalConfig;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::guard::grid;
use wgopt_scheduler::kernel::common::{ELEMENT_BLOCK, STEP_STATS};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder, StepStats};
use wgopt_solvers::linalg::matmul::Matmul;

mod products;
use products::{products, Shared};

/// `optim/frugal_svd_adam.wgsl`: blocks, params, stats, low, exp_avg, exp_avg_sq.
pub static ADAM: Kernel = Kernel::new(
    wgsl!("optim/frugal_svd_adam.wgsl"),
    &[&STEP_STATS, &ELEMENT_BLOCK, &super::COMMON],
    &[R, R, R, W, W, W],
)
.twins(&[ElementBlock::LAYOUT, FrugalParam::LAYOUT, StepStats::LAYOUT]);

/// `optim/frugal_svd_apply.wgsl`: blocks, params, stats, param, grad, delta.
pub static APPLY: Kernel = Kernel::new(
    wgsl!("optim/frugal_svd_apply.wgsl"),
    &[&STEP_STATS, &ELEMENT_BLOCK, &super::COMMON],
    &[R, R, R, W, R, R],
)
.twins(&[ElementBlock::LAYOUT, FrugalParam::LAYOUT, StepStats::LAYOUT]);

/// One 2-D weight under the projector.
#[derive(Debug)]
struct Weight {
    slot: usize,
    shape: SvdShape,
    /// Offset of its basis W (d×r) in the basis buffer.
    basis_off: u32,
    project: Matmul,
    /// [P(G) | U] → [P⁻¹(P(G)) | P⁻¹(U)] in the scratch, one launch of batch 2.
    lift: Matmul,
    apply: Dispatch,
    /// Y = H·Ω, Z₁ = Hᵀ·Y, Y = H·Z₁, Z₂ = Hᵀ·Y.
    sketch: Vec<Matmul>,
}

/// The projector's buffers, products and dispatches, built once.
#[derive(Debug)]
pub(super) struct SvdPlan {
    weights: Vec<Weight>,
    /// One AdamW pass per page of projected coordinates.
    adam: Vec<Dispatch>,
    basis: wgpu::Buffer,
    omega: wgpu::Buffer,
    y: wgpu::Buffer,
    z: wgpu::Buffer,
    seed: u64,
    update_gap: u64,
    /// Refresh period of the bases on the GPU (`None` before the first).
    period: Option<u64>,
    /// The bases came from a checkpoint: they belong to the period of the next applied step.
    loaded: bool,
    sketch_rec: StepRecorder,
    _keep: Vec<wgpu::Buffer>,
}

/// Sizes of the shared buffers, in floats.
#[derive(Debug, Default)]
struct Sizes {
    /// Per page of [P(G) | U] pairs.
    low: Vec<usize>,
    basis: usize,
    omega: usize,
    y: usize,
    delta: usize,
}

pub(super) fn storage(engine: &Engine, label: &str, floats: usize) -> Result<wgpu::Buffer> {
    let bytes = floats.max(1) as u64 * 4;
    let limit = engine.limits().max_storage_buffer_binding_size;
    if bytes > limit {
        return Err(Error::OverLimit {
            what: format!("FRUGAL svd {label}"),
            size: bytes,
            limit,
            unit: "bytes",
        });
    }
    Ok(engine.create_buffer(
        label,
        bytes,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
    ))
}

/// Whether a table row is a 2-D weight under the projector.
pub(super) fn is_projected(q: &FrugalParam) -> bool {
    q.mode == Projection::Svd.code() && q.n_cols > 0
}

/// Places each weight's [P(G) | U] pair (2·`n_units` floats) in pages of at most one arena
/// chunk (≤ one storage binding; GPT-2 small's pairs take 171 MB, over lavapipe's 128 MiB):
/// rewrites `col_base` as the offset within its page and returns each table row's page (0 for
/// rows not projected).
pub(super) fn place_low(engine: &Engine, host: &mut [FrugalParam]) -> Result<Vec<u32>> {
    let limit = engine.chunk_bytes() / 4;
    let (mut page, mut used) = (0u32, 0u64);
    let mut pages = vec![0u32; host.len()];
    for (k, q) in host.iter_mut().enumerate() {
        if !is_projected(q) {
            continue;
        }
        let need = 2 * q.n_units as u64;
        if need > limit {
            return Err(Error::OverLimit {
                what: "FRUGAL svd projected gradient and update of one weight".into(),
                size: need * 4,
                limit: limit * 4,
                unit: "bytes",
            });
        }
        if used + need > limit {
            (page, used) = (page + 1, 0);
        }
        q.col_base = used as u32;
        pages[k] = page;
        used += need;
    }
    Ok(pages)
}

/// The projected weights: (table row, layout slot) of each row that uses the projector.
fn members(cx: &Build<'_, FrugalConfig>, host: &[FrugalParam]) -> Vec<(usize, usize)> {
    cx.groups
        .slots()
        .iter()
        .enumerate()
        .filter(|(k, _)| is_projected(&host[*k]))
        .map(|(k, &i)| (k, i))
        .collect()
}

/// The shape of a projected weight; refuses one split over chunks or of rank 0.
fn weight_shape(cx: &Build<'_, FrugalConfig>, i: usize) -> Result<SvdShape> {
    let slot = &cx.layout().slots[i];
    if slot.is_split() {
        return Err(Error::InvalidInput(format!(
            "FRUGAL's svd projector needs {} in one chunk ({} elements span {} chunks)",
            slot.name,
            slot.len,
            slot.pieces.len()
        )));
    }
    let cfg = cx.groups.config(slot.group);
    let s = SvdShape::new(cfg, &slot.shape);
    if s.r == 0 {
        return Err(Error::InvalidHyperparameter(format!(
            "FRUGAL svd: density {} gives rank 0 for {} ({}×{}); use a larger density or \
             another projection",
            cfg.density, slot.name, s.rows, s.cols
        )));
    }
    Ok(s)
}

/// The shared buffers' sizes over every projected weight.
fn measure(
    cx: &Build<'_, FrugalConfig>,
    (host, pages): (&[FrugalParam], &[u32]),
    members: &[(usize, usize)],
) -> Result<Sizes> {
    let mut sizes = Sizes::default();
    for &(k, i) in members {
        let s = weight_shape(cx, i)?;
        let page = pages[k] as usize;
        if sizes.low.len() <= page {
            sizes.low.resize(page + 1, 0);
        }
        sizes.low[page] = sizes.low[page].max(host[k].col_base as usize + 2 * s.low_len());
        sizes.basis += s.d * s.r;
        sizes.omega = sizes.omega.max(s.d * s.k);
        sizes.y = sizes.y.max(s.other * s.k);
        sizes.delta = sizes.delta.max(2 * cx.layout().slots[i].len);
    }
    Ok(sizes)
}

/// Every buffer the plan owns.
struct Buffers {
    low: Vec<wgpu::Buffer>,
    basis: wgpu::Buffer,
    omega: wgpu::Buffer,
    y: wgpu::Buffer,
    z: wgpu::Buffer,
    delta: wgpu::Buffer,
}

impl Buffers {
    fn new(engine: &Engine, sizes: &Sizes) -> Result<Buffers> {
        Ok(Buffers {
            low: sizes
                .low
                .iter()
                .map(|&n| storage(engine, "frugal svd low", n))
                .collect::<Result<Vec<_>>>()?,
            basis: storage(engine, "frugal svd basis", sizes.basis)?,
            omega: storage(engine, "frugal svd probes", sizes.omega)?,
            y: storage(engine, "frugal svd sketch y", sizes.y)?,
            z: storage(engine, "frugal svd sketch z", 2 * sizes.omega)?,
            delta: storage(engine, "frugal svd lift", sizes.delta)?,
        })
    }

    fn shared<'a>(&'a self, grad: &'a wgpu::Buffer, page: usize) -> Shared<'a> {
        Shared {
            grad,
            low: &self.low[page],
            basis: &self.basis,
            omega: &self.omega,
            y: &self.y,
            z: &self.z,
            delta: &self.delta,
        }
    }
}

/// The AdamW blocks of one weight's projected coordinates (absolute in its page).
fn low_blocks(q: &FrugalParam, k: usize, len: usize) -> impl Iterator<Item = ElementBlock> + '_ {
    (0..len)
        .step_by(crate::blocks::ELEMENT_BLOCK)
        .map(move |b| ElementBlock {
            start: q.col_base + b as u32,
            end: q.col_base + (b + crate::blocks::ELEMENT_BLOCK).min(len) as u32,
            first_elem: b as u32,
            param: k as u32,
        })
}

/// What building one weight needs beside its row and slot.
struct WeightCx<'a> {
    cx: &'a Build<'a, FrugalConfig>,
    table: &'a ParamTable<FrugalParam>,
    bufs: &'a Buffers,
    rule: f64,
}

impl WeightCx<'_> {
    /// Weight `(k, i)` (table row, slot) on `page`, its basis at `basis_off`; the apply
    /// kernel's block list goes to `keep`.
    fn build(
        &self,
        (k, i, page): (usize, usize, usize),
        q: &FrugalParam,
        basis_off: u32,
        keep: &mut Vec<wgpu::Buffer>,
    ) -> Result<Weight> {
        let (engine, layout) = (self.cx.engine, self.cx.layout());
        let s = weight_shape(self.cx, i)?;
        let piece = &layout.slots[i].pieces[0];
        let (param, grad) = (
            &self.cx.params.param_arena().chunks[piece.chunk],
            &self.cx.params.grad_arena().chunks[piece.chunk],
        );
        let buf = self.bufs.shared(grad, page);
        let (project, lift, sketch) =
            products(engine, &s, (piece.offset as u32, basis_off), q, &buf)?;
        let mine: Vec<ElementBlock> = element_blocks(layout, &[i])[piece.chunk]
            .iter()
            .map(|b| ElementBlock {
                param: k as u32,
                ..*b
            })
            .collect();
        let blocks = engine.upload(
            "frugal svd apply blocks",
            bytemuck::cast_slice(&mine),
            wgpu::BufferUsages::STORAGE,
        );
        let bound = [
            &blocks,
            self.table.buffer(),
            self.cx.stats,
            param,
            grad,
            &self.bufs.delta,
        ];
        let apply = engine.dispatch(
            &APPLY,
            &[("RULE", self.rule)],
            &bound,
            grid(engine, mine.len() as u32),
        );
        keep.push(blocks);
        Ok(Weight {
            slot: i,
            shape: s,
            basis_off,
            project,
            lift,
            apply,
            sketch,
        })
    }
}

/// One AdamW pass per page of projected coordinates.
fn adam_passes(
    cx: &Build<'_, FrugalConfig>,
    table: &ParamTable<FrugalParam>,
    (low, per_page): (&[wgpu::Buffer], &[Vec<ElementBlock>]),
    state: (&wgpu::Buffer, &wgpu::Buffer),
    keep: &mut Vec<wgpu::Buffer>,
) -> Vec<Dispatch> {
    let engine = cx.engine;
    let mut out = Vec::new();
    for (page, blocks) in per_page.iter().enumerate() {
        if blocks.is_empty() {
            continue;
        }
        let list = engine.upload(
            "frugal svd adam blocks",
            bytemuck::cast_slice(blocks),
            wgpu::BufferUsages::STORAGE,
        );
        let bound = [
            &list,
            table.buffer(),
            cx.stats,
            &low[page],
            state.0,
            state.1,
        ];
        out.push(engine.dispatch(&ADAM, &[], &bound, grid(engine, blocks.len() as u32)));
        keep.push(list);
    }
    out
}

impl SvdPlan {
    /// The plan over the table rows that use the projector (`table[k]` describes
    /// `slots[k]`); `place_low` already placed each weight's [P(G) | U] pair on its page.
    pub(super) fn new(
        cx: &Build<'_, FrugalConfig>,
        table: &ParamTable<FrugalParam>,
        (host, pages): (&[FrugalParam], &[u32]),
        state: (&wgpu::Buffer, &wgpu::Buffer),
    ) -> Result<SvdPlan> {
        let cfg = cx
            .groups
            .configs()
            .first()
            .map_or(FrugalConfig::default(), |c| **c);
        let members = members(cx, host);
        let bufs = Buffers::new(cx.engine, &measure(cx, (host, pages), &members)?)?;
        let wcx = WeightCx {
            cx,
            table,
            bufs: &bufs,
            rule: cfg.inactive_update_rule.code() as f64,
        };
        let (mut weights, mut keep) = (Vec::with_capacity(members.len()), Vec::new());
        let mut per_page = vec![Vec::new(); bufs.low.len()];
        let mut basis_off = 0u32;
        for &(k, i) in &members {
            let page = pages[k] as usize;
            let w = wcx.build((k, i, page), &host[k], basis_off, &mut keep)?;
            per_page[page].extend(low_blocks(&host[k], k, w.shape.low_len()));
            basis_off += (w.shape.d * w.shape.r) as u32;
            weights.push(w);
        }
        let adam = adam_passes(cx, table, (&bufs.low, &per_page), state, &mut keep);
        let Buffers {
            low,
            basis,
            omega,
            y,
            z,
            delta,
        } = bufs;
        keep.extend(low);
        keep.push(delta);
        Ok(SvdPlan {
            weights,
            adam,
            basis,
            omega,
            y,
            z,
            seed: cfg.seed,
            update_gap: cfg.update_gap as u64,
            period: None,
            loaded: false,
            sketch_rec: StepRecorder::new(),
            _keep: keep,
        })
    }

    /// The bases: checkpointed whole, d·r floats per weight in table order.
    pub(super) fn basis(&self) -> (&wgpu::Buffer, usize) {
        let n = self.weights.iter().map(|w| w.shape.d * w.shape.r).sum();
        (&self.basis, n)
    }

    /// Whether the step the host expects to be `t` may open a refresh period (or follows a
    /// load); the exact answer needs the guard's count ([`SvdPlan::host_work`]).
    pub(super) fn due(&self, t: u64) -> bool {
        !self.weights.is_empty()
            && (self.loaded || self.period != Some((t.max(1) - 1) / self.update_gap))
    }

    /// Refreshes the bases when this step (GPU count in `stats`) opens a period.
    pub(super) fn host_work(&mut self, engine: &Engine, stats: &StepStats) -> Result<()> {
        if stats.found_inf != 0 || stats.applied_steps == 0 {
            return Ok(());
        }
        let t = stats.applied_steps as u64;
        let (period, since) = ((t - 1) / self.update_gap, (t - 1) % self.update_gap);
        let loaded = std::mem::take(&mut self.loaded);
        if since != 0 && (loaded || self.period == Some(period)) {
            self.period = Some(period);
            return Ok(());
        }
        self.refresh(engine, period)?;
        self.period = Some(period);
        Ok(())
    }

    /// New bases from the current gradients, one weight at a time (the scratch is shared):
    /// the sketch Z = C²·Ω, Q = orth(Z) on the host, B = H·Q by the sketch's first product
    /// with Q in Ω's place, Rayleigh–Ritz on the host. A stage that is not finite keeps the
    /// weight's previous basis.
    fn refresh(&mut self, engine: &Engine, period: u64) -> Result<()> {
        for w in &self.weights {
            let s = &w.shape;
            let omega = probes(self.seed, w.slot as u32, period as u32, s);
            engine.write_buffer(&self.omega, 0, bytemuck::cast_slice(&omega));
            for m in &w.sketch {
                m.record(&mut self.sketch_rec);
            }
            self.sketch_rec.submit(engine)?;
            let dk = (s.d * s.k) as u64;
            let z = read_range(engine, &self.z, dk * 4, dk * 4)?;
            let Some(q) = orthonormalize(&z, s.d, s.k) else {
                continue;
            };
            engine.write_buffer(&self.omega, 0, bytemuck::cast_slice(&q));
            w.sketch[0].record(&mut self.sketch_rec);
            self.sketch_rec.submit(engine)?;
            let b = read_range(engine, &self.y, 0, (s.other * s.k) as u64 * 4)?;
            if let Some(basis) = basis_from_image(&q, &b, s) {
                let at = w.basis_off as u64 * 4;
                engine.write_buffer(&self.basis, at, bytemuck::cast_slice(&basis));
            }
        }
        Ok(())
    }

    /// After a checkpoint load: the restored bases serve the rest of their period.
    pub(super) fn restored(&mut self) {
        self.loaded = !self.weights.is_empty();
        self.period = None;
    }

    /// Projections, the AdamW pass, then lift and apply per weight.
    pub(super) fn record(&self, rec: &mut StepRecorder) {
        for w in &self.weights {
            w.project.record(rec);
        }
        for d in &self.adam {
            rec.push(d.clone());
        }
        for w in &self.weights {
            w.lift.record(rec);
            rec.push(w.apply.clone());
        }
    }
}
