//! Entropic optimal transport on the GPU: batched log-domain Sinkhorn
//! (`shaders/ot/sinkhorn_update.wgsl`, `sinkhorn_columns.wgsl`, `sinkhorn_summary.wgsl`), with
//! dense costs or costs evaluated from point clouds inside the kernels (O(n + m) memory),
//! optional ε-scaling, and the L1 marginal error computed on the GPU and read every
//! `check_every` iterations (the only host syncs). Reference twin:
//! `wgopt_reference::ot::sinkhorn` (f64).
//!
//! Named as a POT user expects: weights `a`, `b`, a cost, `eps` (POT's `reg`); the result has
//! the potentials `f`, `g` with `P_ij = exp((f_i + g_j − C_ij)/ε)` (POT `sinkhorn_log` / OTT),
//! `⟨P, C⟩` (POT `sinkhorn2`), the entropic objective (POT's) and the KL one (OTT
//! `reg_ot_cost`, GeomLoss), iterations and the error history.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::pipelines::Kernel;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, ShaderId, StepRecorder};

/// Where a problem's cost comes from.
#[derive(Debug, Clone, Copy)]
pub enum CostInput<'a> {
    /// Row-major n×m.
    Dense(&'a [f32]),
    /// `‖xᵢ − yⱼ‖²` between rows of x (n×d) and y (m×d), evaluated in the kernels.
    SqEuclidean {
        x: &'a [f32],
        y: &'a [f32],
        d: usize,
    },
    /// `‖xᵢ − yⱼ‖_p^p`, p ≥ 1.
    PNorm {
        x: &'a [f32],
        y: &'a [f32],
        d: usize,
        p: f32,
    },
}

impl CostInput<'_> {
    fn kind(&self) -> u32 {
        match self {
            CostInput::Dense(_) => 0,
            CostInput::SqEuclidean { .. } => 1,
            CostInput::PNorm { .. } => 2,
        }
    }
}

/// One transport problem: source weights `a` (n), target weights `b` (m), the cost.
#[derive(Debug, Clone, Copy)]
pub struct OtProblem<'a> {
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub cost: CostInput<'a>,
}

/// ε-scaling: stages at `eps0·decayᵏ` (each `check_every` sweeps, warm-started) down to ε.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpsScaling {
    pub eps0: f64,
    pub decay: f64,
}

/// Solver options (defaults: L1 marginal tolerance 1e-6, the f32 floor; 1000 iterations;
/// checked every 10).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    pub eps: f64,
    pub tol: f64,
    pub max_iter: usize,
    pub check_every: usize,
    pub eps_scaling: Option<EpsScaling>,
}

impl SinkhornOptions {
    pub fn new(eps: f64) -> Self {
        SinkhornOptions {
            eps,
            tol: 1e-6,
            max_iter: 1000,
            check_every: 10,
            eps_scaling: None,
        }
    }
}

/// One problem's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornResult {
    pub f: Vec<f32>,
    pub g: Vec<f32>,
    /// Iterations (a g and an f update each) at the target ε.
    pub iterations: usize,
    pub converged: bool,
    /// L1 marginal error ‖Pᵀ1 − b‖₁ at each check (rows are exact after the f-update).
    pub errors: Vec<f32>,
    pub marginal_error: f32,
    /// ⟨P, C⟩.
    pub cost_linear: f32,
    /// ⟨P, C⟩ + ε Σ P log P.
    pub cost_entropic: f32,
    /// ⟨P, C⟩ + ε KL(P ‖ a⊗b).
    pub cost_kl: f32,
}

/// One problem of the batch. WGSL twin: `OtProblem` in shaders/ot/sinkhorn_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct OtProblemGpu {
    pub n: u32,
    pub m: u32,
    pub d: u32,
    pub live: u32,
    pub cost_off: u32,
    pub costt_off: u32,
    pub la_off: u32,
    pub lb_off: u32,
    pub f_off: u32,
    pub g_off: u32,
    pub eps: f32,
    pub p: f32,
}

pub(crate) fn bad(msg: String) -> Error {
    Error::InvalidHyperparameter(msg)
}

fn validate(k: usize, q: &OtProblem) -> Result<(usize, usize, usize)> {
    let (n, m) = (q.a.len(), q.b.len());
    if n == 0 || m == 0 {
        return Err(bad(format!(
            "problem {k}: empty marginals ({n} and {m} weights)"
        )));
    }
    for (name, w) in [("a", q.a), ("b", q.b)] {
        if let Some(i) = w.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(bad(format!(
                "problem {k}: {name}[{i}] = {} must be positive and finite",
                w[i]
            )));
        }
    }
    let (sa, sb): (f64, f64) = (
        q.a.iter().map(|&v| v as f64).sum(),
        q.b.iter().map(|&v| v as f64).sum(),
    );
    if (sa - sb).abs() > 1e-5 * sa.max(sb) {
        return Err(bad(format!(
            "problem {k}: marginals of different mass, Σa = {sa}, Σb = {sb}"
        )));
    }
    let d = match q.cost {
        CostInput::Dense(c) => {
            if c.len() != n * m {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} cost"),
                    expected: format!("{n}×{m} = {} values", n * m),
                    got: format!("{} values", c.len()),
                });
            }
            if let Some(i) = c.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "problem {k}: cost[{}, {}] is not finite",
                    i / m,
                    i % m
                )));
            }
            0
        }
        CostInput::SqEuclidean { x, y, d } | CostInput::PNorm { x, y, d, .. } => {
            if d == 0 || x.len() != n * d || y.len() != m * d {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} point clouds"),
                    expected: format!("x: {n}×d, y: {m}×d with d ≥ 1 (d = {d})"),
                    got: format!("{} and {} values", x.len(), y.len()),
                });
            }
            if x.iter().chain(y).any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "problem {k}: a point coordinate is not finite"
                )));
            }
            if let CostInput::PNorm { p, .. } = q.cost {
                if p.is_nan() || p < 1.0 {
                    return Err(bad(format!("problem {k}: p must be >= 1, got {p}")));
                }
            }
            d
        }
    };
    Ok((n, m, d))
}

/// A batch laid out for the GPU: the problem table, the cost data (dense C then Cᵀ, or the two
/// point clouds, per problem), log a and log b per problem, and the potentials' length.
pub(crate) struct Packed {
    pub gpu: Vec<OtProblemGpu>,
    pub cost: Vec<f32>,
    pub logw: Vec<f32>,
    pub pot_len: usize,
    pub max_n: usize,
    pub max_m: usize,
    pub kind: u32,
}

/// Validates and lays out a batch (all problems with the same kind of cost) at `eps`.
pub(crate) fn pack(engine: &Engine, problems: &[OtProblem], eps: f64) -> Result<Packed> {
    if problems.is_empty() {
        return Err(bad("no problems given".into()));
    }
    if eps.is_nan() || eps <= 0.0 || !eps.is_finite() {
        return Err(bad(format!("eps must be > 0 and finite, got {eps}")));
    }
    let kind = problems[0].cost.kind();
    let mut gpu = Vec::with_capacity(problems.len());
    let (mut cost, mut logw) = (Vec::<f32>::new(), Vec::<f32>::new());
    let mut pot_len = 0usize;
    let (mut max_n, mut max_m) = (0usize, 0usize);
    for (k, q) in problems.iter().enumerate() {
        if q.cost.kind() != kind {
            return Err(bad(
                "every problem of one batch needs the same kind of cost (dense or points)".into(),
            ));
        }
        let (n, m, d) = validate(k, q)?;
        let cost_off = cost.len();
        let costt_off;
        let mut p = 2.0;
        match q.cost {
            CostInput::Dense(c) => {
                cost.extend_from_slice(c);
                costt_off = cost.len();
                for j in 0..m {
                    cost.extend((0..n).map(|i| c[i * m + j]));
                }
            }
            CostInput::SqEuclidean { x, y, .. } | CostInput::PNorm { x, y, .. } => {
                if let CostInput::PNorm { p: pp, .. } = q.cost {
                    p = pp;
                }
                cost.extend_from_slice(x);
                costt_off = cost.len();
                cost.extend_from_slice(y);
            }
        }
        let la_off = logw.len();
        logw.extend(q.a.iter().map(|v| v.ln()));
        let lb_off = logw.len();
        logw.extend(q.b.iter().map(|v| v.ln()));
        gpu.push(OtProblemGpu {
            n: n as u32,
            m: m as u32,
            d: d as u32,
            live: 1,
            cost_off: cost_off as u32,
            costt_off: costt_off as u32,
            la_off: la_off as u32,
            lb_off: lb_off as u32,
            f_off: pot_len as u32,
            g_off: (pot_len + n) as u32,
            eps: eps as f32,
            p,
        });
        pot_len += n + m;
        max_n = max_n.max(n);
        max_m = max_m.max(m);
    }
    let limit = engine.chunk_bytes();
    let cost_bytes = cost.len() as u64 * 4;
    if cost_bytes > limit || cost.len() > u32::MAX as usize / 2 {
        return Err(Error::OverLimit {
            what: "Sinkhorn cost data (dense C and Cᵀ, or the point clouds)".into(),
            size: cost_bytes,
            limit,
        });
    }
    Ok(Packed {
        gpu,
        cost,
        logw,
        pot_len,
        max_n,
        max_m,
        kind,
    })
}

/// The GPU side of a batch, built once: buffers, pipelines and the dispatches of a sweep (a g
/// and an f update) and of a check (column sums, then the per-problem summary).
#[derive(Debug)]
pub struct SinkhornPlan {
    engine: Engine,
    gpu: Vec<OtProblemGpu>,
    kind: u32,
    problems_buf: wgpu::Buffer,
    cost_buf: wgpu::Buffer,
    pot: wgpu::Buffer,
    summary: wgpu::Buffer,
    pot_len: usize,
    sweep: [Dispatch; 2],
    check: [Dispatch; 2],
}

impl SinkhornPlan {
    /// Validates and uploads the batch (all problems with the same kind of cost) at `eps`.
    pub fn new(engine: &Engine, problems: &[OtProblem], eps: f64) -> Result<SinkhornPlan> {
        let Packed {
            gpu,
            cost,
            logw,
            pot_len,
            max_n,
            max_m,
            kind,
        } = pack(engine, problems, eps)?;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let upload = |label: &str, data: &[u8]| {
            let b = engine.create_buffer(label, (data.len() as u64).max(16), storage);
            engine.queue().write_buffer(&b, 0, data);
            b
        };
        let problems_buf = upload("ot problems", bytemuck::cast_slice(&gpu));
        let cost_buf = upload("ot cost", bytemuck::cast_slice(&cost));
        let logw_buf = upload("ot log weights", bytemuck::cast_slice(&logw));
        let pot = engine.create_buffer(
            "ot potentials",
            (pot_len as u64 * 4).max(16),
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let columns = engine.create_buffer("ot columns", (pot_len as u64 * 16).max(16), storage);
        let summary = engine.create_buffer(
            "ot summary",
            problems.len() as u64 * 20,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let c = ("COST", kind as f64);
        let upd_g = engine.kernel(ShaderId::SinkhornUpdate, "main", &[c, ("SIDE", 0.0)]);
        let upd_f = engine.kernel(ShaderId::SinkhornUpdate, "main", &[c, ("SIDE", 1.0)]);
        let cols = engine.kernel(ShaderId::SinkhornColumns, "main", &[c]);
        let summ = engine.kernel(ShaderId::SinkhornSummary, "main", &[]);
        let batch = problems.len() as u32;
        let wg = |outputs: usize| -> [u32; 3] {
            let x = (outputs as u32).clamp(1, 65535);
            [x, (outputs as u32).div_ceil(x), batch]
        };
        let dispatch =
            |label: &'static str, k: &Kernel, bufs: &[&wgpu::Buffer], workgroups| Dispatch {
                label,
                pipeline: k.pipeline.clone(),
                bind_group: engine.bind_buffers(label, &k.layout, bufs),
                workgroups,
            };
        let update = [&problems_buf, &cost_buf, &logw_buf, &pot];
        let sweep = [
            dispatch("sinkhorn g", &upd_g, &update, wg(max_m)),
            dispatch("sinkhorn f", &upd_f, &update, wg(max_n)),
        ];
        let check = [
            dispatch(
                "sinkhorn columns",
                &cols,
                &[&problems_buf, &cost_buf, &logw_buf, &pot, &columns],
                wg(max_m),
            ),
            dispatch(
                "sinkhorn summary",
                &summ,
                &[&problems_buf, &logw_buf, &pot, &columns, &summary],
                [batch, 1, 1],
            ),
        ];
        Ok(SinkhornPlan {
            engine: engine.clone(),
            gpu,
            kind,
            problems_buf,
            cost_buf,
            pot,
            summary,
            pot_len,
            sweep,
            check,
        })
    }

    /// Sets every problem's ε (queued; applies to the next submit).
    pub fn set_eps(&mut self, eps: f64) {
        for q in self.gpu.iter_mut() {
            q.eps = eps as f32;
        }
        self.write_problems();
    }

    fn write_problems(&self) {
        self.engine
            .queue()
            .write_buffer(&self.problems_buf, 0, bytemuck::cast_slice(&self.gpu));
    }

    /// Records `n` sweeps.
    pub fn record_sweeps(&self, rec: &mut StepRecorder, n: usize) {
        for _ in 0..n {
            rec.push(self.sweep[0].clone());
            rec.push(self.sweep[1].clone());
        }
    }

    /// Records the column pass and the summary.
    pub fn record_check(&self, rec: &mut StepRecorder) {
        rec.push(self.check[0].clone());
        rec.push(self.check[1].clone());
    }

    /// (L1 error, mass, ⟨P,C⟩, entropic, KL) per problem after the last check (waits).
    pub fn read_summary(&self) -> Result<Vec<[f32; 5]>> {
        let s = read_range(&self.engine, &self.summary, 0, self.summary.size())?;
        Ok(s.chunks(5)
            .map(|c| [c[0], c[1], c[2], c[3], c[4]])
            .collect())
    }

    /// (f, g) per problem (waits).
    pub fn read_potentials(&self) -> Result<Vec<(Vec<f32>, Vec<f32>)>> {
        let pots = read_range(&self.engine, &self.pot, 0, self.pot_len as u64 * 4)?;
        Ok(self
            .gpu
            .iter()
            .map(|q| {
                let (f0, g0) = (q.f_off as usize, q.g_off as usize);
                (
                    pots[f0..f0 + q.n as usize].to_vec(),
                    pots[g0..g0 + q.m as usize].to_vec(),
                )
            })
            .collect())
    }

    /// Sets every problem's potentials (f, g per problem), e.g. from a finished solve.
    pub fn set_potentials(&self, pots: &[(&[f32], &[f32])]) -> Result<()> {
        if pots.len() != self.gpu.len() {
            return Err(bad(format!(
                "{} potential pairs for {} problems",
                pots.len(),
                self.gpu.len()
            )));
        }
        let mut all = vec![0f32; self.pot_len];
        for (k, (q, (f, g))) in self.gpu.iter().zip(pots).enumerate() {
            if f.len() != q.n as usize || g.len() != q.m as usize {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} potentials"),
                    expected: format!("f: {}, g: {}", q.n, q.m),
                    got: format!("f: {}, g: {}", f.len(), g.len()),
                });
            }
            all[q.f_off as usize..][..f.len()].copy_from_slice(f);
            all[q.g_off as usize..][..g.len()].copy_from_slice(g);
        }
        self.engine
            .queue()
            .write_buffer(&self.pot, 0, bytemuck::cast_slice(&all));
        Ok(())
    }

    /// The plans applied to vectors without forming them: `P v` per problem (v of length m),
    /// or `Pᵀ u` (u of length n) when `transpose` (waits).
    pub fn apply_plan(&self, transpose: bool, vectors: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        if vectors.len() != self.gpu.len() {
            return Err(bad(format!(
                "{} vectors for {} problems",
                vectors.len(),
                self.gpu.len()
            )));
        }
        let mut input = vec![0f32; self.pot_len];
        let mut max_out = 1;
        for (k, (q, v)) in self.gpu.iter().zip(vectors).enumerate() {
            let (len, off, out) = if transpose {
                (q.n, q.f_off, q.m)
            } else {
                (q.m, q.g_off, q.n)
            };
            if v.len() != len as usize {
                return Err(Error::ShapeMismatch {
                    name: format!("problem {k} vector"),
                    expected: format!("{len} values"),
                    got: format!("{} values", v.len()),
                });
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!("problem {k}: vector[{i}] is not finite")));
            }
            input[off as usize..][..v.len()].copy_from_slice(v);
            max_out = max_out.max(out as usize);
        }
        let e = &self.engine;
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let bytes = (self.pot_len as u64 * 4).max(16);
        let in_buf = e.create_buffer("ot apply input", bytes, storage);
        e.queue()
            .write_buffer(&in_buf, 0, bytemuck::cast_slice(&input));
        let out_buf = e.create_buffer(
            "ot apply output",
            bytes,
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let side = if transpose { 0.0 } else { 1.0 };
        let k = e.kernel(
            ShaderId::SinkhornApply,
            "main",
            &[("COST", self.kind as f64), ("SIDE", side)],
        );
        let x = (max_out as u32).clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(Dispatch {
            label: "sinkhorn apply",
            pipeline: k.pipeline.clone(),
            bind_group: e.bind_buffers(
                "sinkhorn apply",
                &k.layout,
                &[
                    &self.problems_buf,
                    &self.cost_buf,
                    &self.pot,
                    &in_buf,
                    &out_buf,
                ],
            ),
            workgroups: [x, (max_out as u32).div_ceil(x), self.gpu.len() as u32],
        });
        rec.submit(e)?;
        let out = read_range(e, &out_buf, 0, self.pot_len as u64 * 4)?;
        Ok(self
            .gpu
            .iter()
            .map(|q| {
                let (off, len) = if transpose {
                    (q.g_off, q.m)
                } else {
                    (q.f_off, q.n)
                };
                out[off as usize..][..len as usize].to_vec()
            })
            .collect())
    }

    /// The dense plans, row-major n×m per problem (waits; n·m values each).
    pub fn transport_plans(&self) -> Result<Vec<Vec<f32>>> {
        let mut offsets = Vec::with_capacity(self.gpu.len());
        let mut total = 0u64;
        let mut max_nm = 1u64;
        for q in &self.gpu {
            offsets.push(total as u32);
            let nm = q.n as u64 * q.m as u64;
            total += nm;
            max_nm = max_nm.max(nm);
        }
        let e = &self.engine;
        if total * 4 > e.chunk_bytes() || total > u32::MAX as u64 {
            return Err(Error::OverLimit {
                what: "dense transport plans".into(),
                size: total * 4,
                limit: e.chunk_bytes(),
            });
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let off_buf = e.create_buffer(
            "ot plan offsets",
            (offsets.len() as u64 * 4).max(16),
            storage,
        );
        e.queue()
            .write_buffer(&off_buf, 0, bytemuck::cast_slice(&offsets));
        let plan = e.create_buffer(
            "ot plans",
            (total * 4).max(16),
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let k = e.kernel(
            ShaderId::SinkhornPlan,
            "main",
            &[("COST", self.kind as f64)],
        );
        let groups = max_nm.div_ceil(256) as u32;
        let x = groups.clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(Dispatch {
            label: "sinkhorn plan",
            pipeline: k.pipeline.clone(),
            bind_group: e.bind_buffers(
                "sinkhorn plan",
                &k.layout,
                &[
                    &self.problems_buf,
                    &self.cost_buf,
                    &self.pot,
                    &off_buf,
                    &plan,
                ],
            ),
            workgroups: [x, groups.div_ceil(x), self.gpu.len() as u32],
        });
        rec.submit(e)?;
        let all = read_range(e, &plan, 0, total * 4)?;
        Ok(self
            .gpu
            .iter()
            .zip(&offsets)
            .map(|(q, &o)| all[o as usize..][..(q.n * q.m) as usize].to_vec())
            .collect())
    }

    /// Stops updating problem `k` (its potentials stay as they are).
    fn retire(&mut self, k: usize) {
        self.gpu[k].live = 0;
    }

    fn live(&self, k: usize) -> bool {
        self.gpu[k].live == 1
    }
}

/// Solves every problem of the batch (all with the same kind of cost); reads back at each check.
pub fn sinkhorn(
    engine: &Engine,
    problems: &[OtProblem],
    opts: &SinkhornOptions,
) -> Result<Vec<SinkhornResult>> {
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    if opts.check_every == 0 || opts.max_iter == 0 {
        return Err(bad("check_every and max_iter must be >= 1".into()));
    }
    let eps = opts.eps;
    let mut plan = SinkhornPlan::new(engine, problems, eps)?;
    // ε-scaling stages, warm-starting each from the last.
    if let Some(s) = opts.eps_scaling {
        if !(s.decay > 0.0 && s.decay < 1.0) || s.eps0.is_nan() {
            return Err(bad(format!(
                "eps scaling needs 0 < decay < 1, got {}",
                s.decay
            )));
        }
        let mut e = s.eps0;
        while e > eps {
            plan.set_eps(e);
            let mut rec = StepRecorder::new();
            plan.record_sweeps(&mut rec, opts.check_every);
            rec.submit(engine)?;
            e *= s.decay;
        }
        plan.set_eps(eps);
    }
    let mut out: Vec<SinkhornResult> = problems
        .iter()
        .map(|_| SinkhornResult {
            f: Vec::new(),
            g: Vec::new(),
            iterations: 0,
            converged: false,
            errors: Vec::new(),
            marginal_error: f32::INFINITY,
            cost_linear: 0.0,
            cost_entropic: 0.0,
            cost_kl: 0.0,
        })
        .collect();
    let mut it = 0usize;
    while it < opts.max_iter && (0..problems.len()).any(|k| plan.live(k)) {
        let steps = opts.check_every.min(opts.max_iter - it);
        let mut rec = StepRecorder::new();
        plan.record_sweeps(&mut rec, steps);
        plan.record_check(&mut rec);
        rec.submit(engine)?;
        it += steps;
        let summary = plan.read_summary()?;
        let mut changed = false;
        for (k, row) in summary.iter().enumerate() {
            if !plan.live(k) {
                continue;
            }
            let r = &mut out[k];
            r.errors.push(row[0]);
            r.marginal_error = row[0];
            r.cost_linear = row[2];
            r.cost_entropic = row[3];
            r.cost_kl = row[4];
            r.iterations = it;
            if !row[0].is_finite() {
                return Err(Error::Device(format!(
                    "problem {k}: the marginal error became {} (eps {eps} too small for f32?)",
                    row[0]
                )));
            }
            if (row[0] as f64) <= opts.tol {
                r.converged = true;
                plan.retire(k);
                changed = true;
            }
        }
        if changed {
            plan.write_problems();
        }
    }
    for (r, (f, g)) in out.iter_mut().zip(plan.read_potentials()?) {
        r.f = f;
        r.g = g;
    }
    Ok(out)
}

/// The debiased Sinkhorn divergence in the KL convention (GeomLoss, OTT):
/// `S_ε(α, β) = OT_ε(α, β) − ½OT_ε(α, α) − ½OT_ε(β, β)`, between point clouds `x` (n×d,
/// weights `a`) and `y` (m×d, weights `b`) with `‖x − y‖²`. The three problems run as one batch.
/// Returns `(S, [the three results])`.
pub fn sinkhorn_divergence(
    engine: &Engine,
    (a, x): (&[f32], &[f32]),
    (b, y): (&[f32], &[f32]),
    d: usize,
    opts: &SinkhornOptions,
) -> Result<(f32, Vec<SinkhornResult>)> {
    let problems = [
        OtProblem {
            a,
            b,
            cost: CostInput::SqEuclidean { x, y, d },
        },
        OtProblem {
            a,
            b: a,
            cost: CostInput::SqEuclidean { x, y: x, d },
        },
        OtProblem {
            a: b,
            b,
            cost: CostInput::SqEuclidean { x: y, y, d },
        },
    ];
    let r = sinkhorn(engine, &problems, opts)?;
    let s = r[0].cost_kl - 0.5 * (r[1].cost_kl + r[2].cost_kl);
    Ok((s, r))
}
