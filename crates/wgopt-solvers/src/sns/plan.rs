//! [`SnsPlan`]: one problem's buffers, pipelines and the dispatches of each phase of a Newton
//! step (evaluation, sparsification and system, CG, line-search trial, acceptance), built once.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::arena::{read_bytes, read_range};
use wgopt_scheduler::pipelines::Kernel;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, ShaderId, StepRecorder};

use super::SnsOptions;
use crate::ot::{bad, pack, OtProblem, OtProblemGpu, Packed};

/// The kernels' uniform. WGSL twin: `SnsParams` in shaders/ot/sns_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct SnsParams {
    pub n: u32,
    pub m: u32,
    pub cap: u32,
    pub cap_total: u32,
    pub parts: u32,
    pub cg_max: u32,
    pub nu: f32,
    pub alpha: f32,
    pub cg_tol2: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Scalar slots (twin: the S_* constants of sns_common.wgsl).
pub(super) mod slot {
    pub const ERR: usize = 0;
    pub const DUAL: usize = 1;
    pub const TRIAL: usize = 4;
    pub const DONE: usize = 14;
    pub const ITS: usize = 15;
    pub const SLOPE: usize = 16;
    pub const NNZ: usize = 17;
    pub const COUNT: usize = 32;
}

/// The sparsified off-diagonal block as the GPU holds it (for tests and inspection).
#[derive(Debug, Clone, PartialEq)]
pub struct SnsPattern {
    /// Last kept bin per row (`u32::MAX`: none).
    pub cut: Vec<u32>,
    pub row_offsets: Vec<u32>,
    pub row_columns: Vec<u32>,
    pub row_values: Vec<f32>,
    pub col_offsets: Vec<u32>,
    pub col_rows: Vec<u32>,
    pub col_values: Vec<f32>,
}

/// Buffers, pipelines and dispatches of one problem, built once.
#[derive(Debug)]
pub struct SnsPlan {
    pub(super) engine: Engine,
    pub(super) n: usize,
    pub(super) m: usize,
    pub(super) eps: f32,
    pub(super) params: SnsParams,
    pub(super) params_buf: wgpu::Buffer,
    pub(super) pot: wgpu::Buffer,
    pub(super) scalars: wgpu::Buffer,
    pub(super) pattern: wgpu::Buffer,
    pub(super) idx: wgpu::Buffer,
    pub(super) val: wgpu::Buffer,
    pub(super) summary: wgpu::Buffer,
    pub(super) sweep: [Dispatch; 2],
    /// Marginals of slot 0 and its summary.
    pub(super) evaluate: [Dispatch; 3],
    /// Threshold, the four pattern passes and the scan, setup and its scalars.
    pub(super) build: Vec<Dispatch>,
    /// spmv, α, update, β, direction.
    pub(super) cg: [Dispatch; 5],
    /// trial, its slope, slot 1's marginals and summary.
    pub(super) trial: [Dispatch; 5],
    pub(super) accept: Dispatch,
    pub(super) objective: [Dispatch; 2],
}

impl SnsPlan {
    pub fn new(
        engine: &Engine,
        problem: &OtProblem,
        eps: f64,
        opts: &SnsOptions,
    ) -> Result<SnsPlan> {
        if opts.cap == 0 || opts.cg_max == 0 || opts.cg_check_every == 0 {
            return Err(bad("cap, cg_max and cg_check_every must be >= 1".into()));
        }
        if !(opts.nu >= 0.0 && opts.nu.is_finite()) || opts.cg_tol.is_nan() || opts.cg_tol < 0.0 {
            return Err(bad(format!(
                "nu must be finite and >= 0, cg_tol >= 0 (got {}, {})",
                opts.nu, opts.cg_tol
            )));
        }
        let Packed {
            gpu,
            cost,
            logw,
            kind,
            ..
        } = pack(engine, std::slice::from_ref(problem), eps)?;
        let cur = gpu[0];
        let (n, m) = (cur.n as usize, cur.m as usize);
        let total = n + m;
        let cap = opts.cap.min(m);
        let cap_total = n
            .checked_mul(cap)
            .filter(|&c| c <= u32::MAX as usize / 2)
            .ok_or_else(|| Error::OverLimit {
                what: "SNS sparse pattern (n·cap entries)".into(),
                size: (n as u64).saturating_mul(cap as u64) * 8,
                limit: engine.chunk_bytes(),
            })?;
        let limit = engine.chunk_bytes();
        let pattern_bytes = cap_total as u64 * 8;
        if pattern_bytes > limit || (total as u64) * 28 > limit {
            return Err(Error::OverLimit {
                what: "SNS sparse pattern (n·cap entries) or CG vectors".into(),
                size: pattern_bytes.max(total as u64 * 28),
                limit,
            });
        }
        let trial = OtProblemGpu {
            f_off: total as u32,
            g_off: (total + n) as u32,
            ..cur
        };
        let parts = total.div_ceil(256);
        let params = SnsParams {
            n: n as u32,
            m: m as u32,
            cap: cap as u32,
            cap_total: cap_total as u32,
            parts: parts as u32,
            cg_max: opts.cg_max.min(u32::MAX as usize) as u32,
            nu: opts.nu as f32,
            alpha: 1.0,
            cg_tol2: (opts.cg_tol * opts.cg_tol) as f32,
            ..SnsParams::default()
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let readable = storage | wgpu::BufferUsages::COPY_SRC;
        let upload = |label: &str, data: &[u8]| {
            let b = engine.create_buffer(label, (data.len() as u64).max(16), storage);
            engine.queue().write_buffer(&b, 0, data);
            b
        };
        let sized = |label: &str, bytes: usize, usage| {
            engine.create_buffer(label, (bytes as u64).max(16), usage)
        };
        let problems = upload("sns problems", bytemuck::cast_slice(&[cur, trial]));
        let cost_buf = upload("sns cost", bytemuck::cast_slice(&cost));
        let logw_buf = upload("sns log weights", bytemuck::cast_slice(&logw));
        let params_buf = engine.create_buffer(
            "sns params",
            std::mem::size_of::<SnsParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        engine
            .queue()
            .write_buffer(&params_buf, 0, bytemuck::bytes_of(&params));
        let pot = sized("sns potentials", 2 * total * 4, readable);
        let marg = sized("sns marginals", 2 * total * 4, storage);
        let scalars = sized("sns scalars", slot::COUNT * 4, readable);
        let vecs = sized("sns cg vectors", 7 * total * 4, storage);
        let partial = sized("sns partial sums", parts * 8, storage);
        let pattern = sized("sns pattern", (3 * total + 2) * 4, readable);
        let idx = sized("sns indices", 2 * cap_total * 4, readable);
        let val = sized("sns values", 2 * cap_total * 4, readable);
        let columns = sized("sns columns", total * 16, storage);
        let summary = sized("sns objective", 20, readable);

        let grid = |outputs: usize| -> [u32; 3] {
            let x = (outputs as u32).clamp(1, 65535);
            [x, (outputs as u32).div_ceil(x), 1]
        };
        let lanes = [parts as u32, 1, 1];
        let dispatch =
            |label: &'static str, k: &Kernel, bufs: &[&wgpu::Buffer], workgroups| Dispatch {
                label,
                pipeline: k.pipeline.clone(),
                bind_group: engine.bind_buffers(label, &k.layout, bufs),
                workgroups,
            };
        let c = ("COST", kind as f64);
        let k = |id, consts: &[(&'static str, f64)]| engine.kernel(id, "main", consts);
        let update = [&problems, &cost_buf, &logw_buf, &pot];
        let sweep = [
            dispatch(
                "sns sinkhorn g",
                &k(ShaderId::SinkhornUpdate, &[c, ("SIDE", 0.0)]),
                &update,
                grid(m),
            ),
            dispatch(
                "sns sinkhorn f",
                &k(ShaderId::SinkhornUpdate, &[c, ("SIDE", 1.0)]),
                &update,
                grid(n),
            ),
        ];
        let marginals = |slot: f64| {
            let bufs = [&problems, &cost_buf, &pot, &marg];
            [
                dispatch(
                    "sns columns",
                    &k(ShaderId::SnsMarginals, &[c, ("SLOT", slot), ("SIDE", 0.0)]),
                    &bufs,
                    grid(m),
                ),
                dispatch(
                    "sns rows",
                    &k(ShaderId::SnsMarginals, &[c, ("SLOT", slot), ("SIDE", 1.0)]),
                    &bufs,
                    grid(n),
                ),
                dispatch(
                    "sns summary",
                    &k(ShaderId::SnsSummary, &[("SLOT", slot)]),
                    &[&problems, &logw_buf, &pot, &marg, &scalars],
                    [1, 1, 1],
                ),
            ]
        };
        let evaluate = marginals(0.0);
        let [tc, tr, ts] = marginals(1.0);
        let pattern_bufs = [
            &params_buf,
            &problems,
            &cost_buf,
            &pot,
            &marg,
            &pattern,
            &idx,
            &val,
        ];
        let pattern_pass = |mode: f64, label, outputs| {
            dispatch(
                label,
                &k(ShaderId::SnsPattern, &[c, ("MODE", mode)]),
                &pattern_bufs,
                grid(outputs),
            )
        };
        let cg_scalars = |mode: f64, label| {
            dispatch(
                label,
                &k(ShaderId::SnsCgScalars, &[("MODE", mode)]),
                &[&params_buf, &partial, &scalars],
                [1, 1, 1],
            )
        };
        let build = vec![
            dispatch(
                "sns threshold",
                &k(ShaderId::SnsThreshold, &[c]),
                &[
                    &params_buf,
                    &problems,
                    &cost_buf,
                    &pot,
                    &marg,
                    &scalars,
                    &pattern,
                ],
                grid(n),
            ),
            pattern_pass(0.0, "sns count rows", n),
            pattern_pass(1.0, "sns count columns", m),
            dispatch(
                "sns scan",
                &k(ShaderId::SnsScan, &[]),
                &[&params_buf, &pattern, &scalars],
                [2, 1, 1],
            ),
            pattern_pass(2.0, "sns fill rows", n),
            pattern_pass(3.0, "sns fill columns", m),
            dispatch(
                "sns setup",
                &k(ShaderId::SnsSetup, &[]),
                &[
                    &params_buf,
                    &problems,
                    &logw_buf,
                    &marg,
                    &scalars,
                    &vecs,
                    &partial,
                ],
                lanes,
            ),
            cg_scalars(2.0, "sns cg start"),
        ];
        let cg = [
            dispatch(
                "sns spmv",
                &k(ShaderId::SnsSpmv, &[]),
                &[&params_buf, &pattern, &idx, &val, &scalars, &vecs, &partial],
                lanes,
            ),
            cg_scalars(0.0, "sns cg alpha"),
            dispatch(
                "sns cg update",
                &k(ShaderId::SnsCgUpdate, &[]),
                &[&params_buf, &scalars, &vecs, &partial],
                lanes,
            ),
            cg_scalars(1.0, "sns cg beta"),
            dispatch(
                "sns cg direction",
                &k(ShaderId::SnsCgDirection, &[]),
                &[&params_buf, &scalars, &vecs],
                lanes,
            ),
        ];
        let trial = [
            dispatch(
                "sns trial",
                &k(ShaderId::SnsTrial, &[]),
                &[&params_buf, &problems, &vecs, &pot, &partial],
                lanes,
            ),
            cg_scalars(3.0, "sns slope"),
            tc,
            tr,
            ts,
        ];
        let accept = dispatch(
            "sns accept",
            &k(ShaderId::SnsAccept, &[]),
            &[&problems, &pot, &marg, &scalars],
            lanes,
        );
        let objective = [
            dispatch(
                "sns objective columns",
                &k(ShaderId::SinkhornColumns, &[c]),
                &[&problems, &cost_buf, &logw_buf, &pot, &columns],
                grid(m),
            ),
            dispatch(
                "sns objective",
                &k(ShaderId::SinkhornSummary, &[]),
                &[&problems, &logw_buf, &pot, &columns, &summary],
                [1, 1, 1],
            ),
        ];
        Ok(SnsPlan {
            engine: engine.clone(),
            n,
            m,
            eps: cur.eps,
            params,
            params_buf,
            pot,
            scalars,
            pattern,
            idx,
            val,
            summary,
            sweep,
            evaluate,
            build,
            cg,
            trial,
            accept,
            objective,
        })
    }

    pub(super) fn read_scalars(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.scalars, 0, slot::COUNT as u64 * 4)
    }

    pub(super) fn set_alpha(&mut self, alpha: f64) {
        self.params.alpha = alpha as f32;
        self.engine
            .queue()
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
    }

    /// Records `iterations` Sinkhorn sweeps on slot 0.
    pub fn record_sinkhorn(&self, rec: &mut StepRecorder, iterations: usize) {
        for _ in 0..iterations {
            rec.push(self.sweep[0].clone());
            rec.push(self.sweep[1].clone());
        }
    }

    /// Records slot 0's marginals, L1 error and dual.
    pub fn record_evaluate(&self, rec: &mut StepRecorder) {
        for d in &self.evaluate {
            rec.push(d.clone());
        }
    }

    /// Records the sparsification, the Newton system and CG's start.
    pub fn record_newton_system(&self, rec: &mut StepRecorder) {
        for d in &self.build {
            rec.push(d.clone());
        }
    }

    pub(super) fn record_cg(&self, rec: &mut StepRecorder, iterations: usize) {
        for _ in 0..iterations {
            for d in &self.cg {
                rec.push(d.clone());
            }
        }
    }

    /// The sparsified block as the GPU holds it after [`Self::record_newton_system`] (waits).
    pub fn read_pattern(&self) -> Result<SnsPattern> {
        let (n, m) = (self.n, self.m);
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&read_bytes(
            &self.engine,
            &self.pattern,
            0,
            (3 * (n + m) + 2) as u64 * 4,
        )?);
        let off = 2 * n + m;
        let row_offsets = words[off..off + n + 1].to_vec();
        let col_offsets = words[off + n + 1..off + n + m + 2].to_vec();
        let cap_total = self.params.cap_total as usize;
        let idx: Vec<u32> =
            bytemuck::pod_collect_to_vec(&read_bytes(&self.engine, &self.idx, 0, self.idx.size())?);
        let val = read_range(&self.engine, &self.val, 0, self.val.size())?;
        let nnz = (row_offsets[n] as usize).min(cap_total);
        let nnz_t = (col_offsets[m] as usize).min(cap_total);
        Ok(SnsPattern {
            cut: words[..n].to_vec(),
            row_columns: idx[..nnz].to_vec(),
            row_values: val[..nnz].to_vec(),
            col_rows: idx[cap_total..cap_total + nnz_t].to_vec(),
            col_values: val[cap_total..cap_total + nnz_t].to_vec(),
            row_offsets,
            col_offsets,
        })
    }

    /// Slot 0's potentials (waits).
    pub fn read_potentials(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        let p = read_range(&self.engine, &self.pot, 0, (self.n + self.m) as u64 * 4)?;
        Ok((p[..self.n].to_vec(), p[self.n..].to_vec()))
    }
}
