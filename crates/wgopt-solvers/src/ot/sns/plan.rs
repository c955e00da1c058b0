//! [`SnsPlan`]: one problem's buffers, pipelines and the dispatches of each phase of a Newton
//! step (evaluation, sparsification and system, CG, line-search trial, acceptance), built once.
//! CG is the shared GPU PCG ([`crate::pcg`]) with its Jacobi preconditioner; the Newton
//! system's product is `sns_spmv`.

use wgopt_scheduler::arena::{read_bytes, read_range};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

use super::kernels::{
    SnsParams, SNS_ACCEPT, SNS_MARGINALS, SNS_PATTERN, SNS_SCAN, SNS_SETUP, SNS_SPMV, SNS_SUMMARY,
    SNS_THRESHOLD, SNS_TRIAL,
};
use super::SnsOptions;
use crate::ot::kernels::{
    entry_grid, update_grid, SINKHORN_COLUMNS, SINKHORN_SUMMARY, SINKHORN_UPDATE,
};
use crate::ot::{bad_option, pack, OtProblem, OtProblemGpu, Packed};
use crate::pcg::{Pcg, ScalarsPass};

/// Scalar slots: CG's (`crate::pcg::slot`), then SNS's (twin: the S_* constants of
/// sns_common.wgsl).
pub(super) mod slot {
    pub use crate::pcg::slot::{DONE, ITS};
    pub const ERR: usize = 16;
    pub const DUAL: usize = 17;
    /// Slot 1 (the line-search trial) is 4 past slot 0.
    pub const TRIAL: usize = 4;
    pub const SLOPE: usize = 24;
    pub const NNZ: usize = 25;
    pub const COUNT: usize = 32;
}

/// Vector sections: CG's, its Jacobi diagonal, then the right-hand side.
const VECTORS: usize = 7;

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

/// The problem's buffers (CG's live in [`Pcg`]).
#[derive(Debug)]
pub(super) struct Buffers {
    params: wgpu::Buffer,
    problems: wgpu::Buffer,
    cost: wgpu::Buffer,
    logw: wgpu::Buffer,
    pub(super) pot: wgpu::Buffer,
    marg: wgpu::Buffer,
    pattern: wgpu::Buffer,
    idx: wgpu::Buffer,
    val: wgpu::Buffer,
    columns: wgpu::Buffer,
    pub(super) summary: wgpu::Buffer,
}

/// Buffers, pipelines and dispatches of one problem, built once.
#[derive(Debug)]
pub struct SnsPlan {
    pub(super) engine: Engine,
    pub(super) n: usize,
    pub(super) m: usize,
    pub(super) eps: f32,
    pub(super) params: SnsParams,
    pub(super) bufs: Buffers,
    cg: Pcg,
    pub(super) sweep: [Dispatch; 2],
    /// Marginals of slot 0 and its summary.
    pub(super) evaluate: [Dispatch; 3],
    /// Threshold, the four pattern passes and the scan, setup and its scalars.
    pub(super) build: Vec<Dispatch>,
    /// spmv, α, update, β and the residual test, direction.
    pub(super) cg_iteration: Vec<Dispatch>,
    /// trial, its slope, slot 1's marginals and summary.
    pub(super) trial: Vec<Dispatch>,
    pub(super) accept: Dispatch,
    pub(super) objective: [Dispatch; 2],
}

fn check_options(opts: &SnsOptions) -> Result<()> {
    if opts.cap == 0 || opts.cg_max == 0 || opts.cg_check_every == 0 {
        return Err(bad_option(
            "cap, cg_max and cg_check_every must be >= 1".into(),
        ));
    }
    if !(opts.nu >= 0.0 && opts.nu.is_finite()) || opts.cg_tol.is_nan() || opts.cg_tol < 0.0 {
        return Err(bad_option(format!(
            "nu must be finite and >= 0, cg_tol >= 0 (got {}, {})",
            opts.nu, opts.cg_tol
        )));
    }
    Ok(())
}

/// (cap, cap_total): kept entries per row at most, and in all; checked against the limits.
fn pattern_size(engine: &Engine, n: usize, m: usize, opts: &SnsOptions) -> Result<(usize, usize)> {
    let cap = opts.cap.min(m);
    let limit = engine.chunk_bytes();
    let cap_total = n
        .checked_mul(cap)
        .filter(|&c| c <= u32::MAX as usize / 2)
        .ok_or_else(|| Error::OverLimit {
            what: "SNS sparse pattern (n·cap entries)".into(),
            size: (n as u64).saturating_mul(cap as u64) * 8,
            limit,
            unit: "bytes",
        })?;
    let total = (n + m) as u64;
    if cap_total as u64 * 8 > limit || total * 28 > limit {
        return Err(Error::OverLimit {
            what: "SNS sparse pattern (n·cap entries) or CG vectors".into(),
            size: (cap_total as u64 * 8).max(total * 28),
            limit,
            unit: "bytes",
        });
    }
    Ok((cap, cap_total))
}

impl SnsPlan {
    pub fn new(
        engine: &Engine,
        problem: &OtProblem,
        eps: f64,
        opts: &SnsOptions,
    ) -> Result<SnsPlan> {
        check_options(opts)?;
        let Packed {
            gpu,
            cost,
            logw,
            kind,
            ..
        } = pack(engine, std::slice::from_ref(problem), eps)?;
        let cur = gpu[0];
        let (n, m) = (cur.n as usize, cur.m as usize);
        let (cap, cap_total) = pattern_size(engine, n, m, opts)?;
        let total = n + m;
        let params = SnsParams {
            n: n as u32,
            m: m as u32,
            cap: cap as u32,
            cap_total: cap_total as u32,
            parts: total.div_ceil(256) as u32,
            nu: opts.nu as f32,
            alpha: 1.0,
            ..SnsParams::default()
        };
        // Slot 1 holds the line-search trial's potentials after slot 0's.
        let trial = OtProblemGpu {
            f_off: total as u32,
            g_off: (total + n) as u32,
            ..cur
        };
        let mut cg = Pcg::new(
            engine,
            total,
            total.div_ceil(256),
            (VECTORS, slot::COUNT),
            true,
        )?;
        cg.set_limits(opts.cg_max, opts.cg_tol);
        let bufs = Buffers::new(engine, &params, &[cur, trial], (&cost, &logw))?;
        Ok(SnsPlan {
            engine: engine.clone(),
            n,
            m,
            eps: cur.eps,
            sweep: bufs.sweep(engine, kind, n, m),
            evaluate: bufs.marginals(engine, kind, 0.0, &cg, (n, m)),
            build: bufs.newton_system(engine, kind, &cg, (n, m)),
            cg_iteration: cg.iteration(bufs.product(engine, &cg), Vec::new()),
            trial: bufs.trial(engine, kind, &cg, (n, m)),
            accept: bufs.accept(engine, &cg, total),
            objective: bufs.objective(engine, kind, m),
            params,
            bufs,
            cg,
        })
    }

    pub(super) fn read_scalars(&self) -> Result<Vec<f32>> {
        self.cg.read_scalars()
    }

    pub(super) fn set_alpha(&mut self, alpha: f64) {
        self.params.alpha = alpha as f32;
        self.engine
            .queue()
            .write_buffer(&self.bufs.params, 0, bytemuck::bytes_of(&self.params));
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
            for d in &self.cg_iteration {
                rec.push(d.clone());
            }
        }
    }

    /// The sparsified block as the GPU holds it after [`Self::record_newton_system`] (waits).
    pub fn read_pattern(&self) -> Result<SnsPattern> {
        let (n, m) = (self.n, self.m);
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&read_bytes(
            &self.engine,
            &self.bufs.pattern,
            0,
            (3 * (n + m) + 2) as u64 * 4,
        )?);
        let off = 2 * n + m;
        let row_offsets = words[off..off + n + 1].to_vec();
        let col_offsets = words[off + n + 1..off + n + m + 2].to_vec();
        let cap_total = self.params.cap_total as usize;
        let idx: Vec<u32> = bytemuck::pod_collect_to_vec(&read_bytes(
            &self.engine,
            &self.bufs.idx,
            0,
            self.bufs.idx.size(),
        )?);
        let val = read_range(&self.engine, &self.bufs.val, 0, self.bufs.val.size())?;
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
        let p = read_range(
            &self.engine,
            &self.bufs.pot,
            0,
            (self.n + self.m) as u64 * 4,
        )?;
        Ok((p[..self.n].to_vec(), p[self.n..].to_vec()))
    }
}

impl Buffers {
    fn new(
        engine: &Engine,
        params: &SnsParams,
        problems: &[OtProblemGpu; 2],
        (cost, logw): (&[f32], &[f32]),
    ) -> Result<Buffers> {
        let (n, m) = (params.n as usize, params.m as usize);
        let (total, cap_total) = (n + m, params.cap_total as usize);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let readable = storage | wgpu::BufferUsages::COPY_SRC;
        let sized =
            |label: &str, bytes: usize, usage| engine.create_buffer(label, bytes as u64, usage);
        Ok(Buffers {
            params: engine.upload(
                "sns params",
                bytemuck::bytes_of(params),
                wgpu::BufferUsages::UNIFORM,
            ),
            problems: engine.upload("sns problems", bytemuck::cast_slice(problems), storage),
            cost: engine.upload("sns cost", bytemuck::cast_slice(cost), storage),
            logw: engine.upload("sns log weights", bytemuck::cast_slice(logw), storage),
            pot: sized("sns potentials", 2 * total * 4, readable),
            marg: sized("sns marginals", 2 * total * 4, storage),
            pattern: sized("sns pattern", (3 * total + 2) * 4, readable),
            idx: sized("sns indices", 2 * cap_total * 4, readable),
            val: sized("sns values", 2 * cap_total * 4, readable),
            columns: sized("sns columns", total * 16, storage),
            summary: sized("sns objective", 20, readable),
        })
    }

    /// Sinkhorn's g and f updates on slot 0.
    fn sweep(&self, engine: &Engine, kind: u32, n: usize, m: usize) -> [Dispatch; 2] {
        let c = ("COST", kind as f64);
        let update = [&self.problems, &self.cost, &self.logw, &self.pot];
        [
            engine.dispatch(
                &SINKHORN_UPDATE,
                &[c, ("SIDE", 0.0)],
                &update,
                update_grid(m, 1),
            ),
            engine.dispatch(
                &SINKHORN_UPDATE,
                &[c, ("SIDE", 1.0)],
                &update,
                update_grid(n, 1),
            ),
        ]
    }

    /// A slot's column sums, row sums and summary (error, dual, Σr, Σc).
    fn marginals(
        &self,
        engine: &Engine,
        kind: u32,
        slot: f64,
        cg: &Pcg,
        (n, m): (usize, usize),
    ) -> [Dispatch; 3] {
        let c = ("COST", kind as f64);
        let bufs = [&self.problems, &self.cost, &self.pot, &self.marg];
        [
            engine.dispatch(
                &SNS_MARGINALS,
                &[c, ("SLOT", slot), ("SIDE", 0.0)],
                &bufs,
                entry_grid(m, 1),
            ),
            engine.dispatch(
                &SNS_MARGINALS,
                &[c, ("SLOT", slot), ("SIDE", 1.0)],
                &bufs,
                entry_grid(n, 1),
            ),
            engine.dispatch(
                &SNS_SUMMARY,
                &[("SLOT", slot)],
                &[
                    &self.problems,
                    &self.logw,
                    &self.pot,
                    &self.marg,
                    &cg.scalars,
                ],
                [1, 1, 1],
            ),
        ]
    }

    /// The sparsification (threshold, count, scan, fill), the Newton system and CG's start.
    fn newton_system(
        &self,
        engine: &Engine,
        kind: u32,
        cg: &Pcg,
        (n, m): (usize, usize),
    ) -> Vec<Dispatch> {
        let c = ("COST", kind as f64);
        let pattern_bufs = [
            &self.params,
            &self.problems,
            &self.cost,
            &self.pot,
            &self.marg,
            &self.pattern,
            &self.idx,
            &self.val,
        ];
        let pattern_pass = |mode: f64, outputs| {
            engine.dispatch(
                &SNS_PATTERN,
                &[c, ("MODE", mode)],
                &pattern_bufs,
                entry_grid(outputs, 1),
            )
        };
        let threshold = [
            &self.params,
            &self.problems,
            &self.cost,
            &self.pot,
            &self.marg,
            &cg.scalars,
            &self.pattern,
        ];
        let setup = [
            &self.params,
            &self.problems,
            &self.logw,
            &self.marg,
            &cg.scalars,
            &cg.vecs,
            &cg.partial,
        ];
        vec![
            engine.dispatch(&SNS_THRESHOLD, &[c], &threshold, entry_grid(n, 1)),
            pattern_pass(0.0, n),
            pattern_pass(1.0, m),
            engine.dispatch(
                &SNS_SCAN,
                &[],
                &[&self.params, &self.pattern, &cg.scalars],
                [2, 1, 1],
            ),
            pattern_pass(2.0, n),
            pattern_pass(3.0, m),
            engine.dispatch(&SNS_SETUP, &[], &setup, cg.lanes()),
            cg.scalars_pass(ScalarsPass::Start),
        ]
    }

    /// CG's product: (M + σI)·p by the CSR and CSC halves.
    fn product(&self, engine: &Engine, cg: &Pcg) -> Dispatch {
        let bufs = [
            &self.params,
            &self.pattern,
            &self.idx,
            &self.val,
            &cg.scalars,
            &cg.vecs,
            &cg.partial,
        ];
        engine.dispatch(&SNS_SPMV, &[], &bufs, cg.lanes())
    }

    /// A line-search trial into slot 1, its slope, and slot 1's marginals and summary.
    fn trial(&self, engine: &Engine, kind: u32, cg: &Pcg, size: (usize, usize)) -> Vec<Dispatch> {
        let bufs = [
            &self.params,
            &self.problems,
            &cg.vecs,
            &self.pot,
            &cg.partial,
        ];
        let mut v = vec![
            engine.dispatch(&SNS_TRIAL, &[], &bufs, cg.lanes()),
            cg.sum_into(slot::SLOPE),
        ];
        v.extend(self.marginals(engine, kind, 1.0, cg, size));
        v
    }

    /// Slot 1 becomes slot 0.
    fn accept(&self, engine: &Engine, cg: &Pcg, total: usize) -> Dispatch {
        let bufs = [&self.problems, &self.pot, &self.marg, &cg.scalars];
        engine.dispatch(
            &SNS_ACCEPT,
            &[],
            &bufs,
            [total.div_ceil(256).max(1) as u32, 1, 1],
        )
    }

    /// Sinkhorn's column pass and summary on slot 0: ⟨P, C⟩ and the KL objective.
    fn objective(&self, engine: &Engine, kind: u32, m: usize) -> [Dispatch; 2] {
        let c = ("COST", kind as f64);
        [
            engine.dispatch(
                &SINKHORN_COLUMNS,
                &[c],
                &[
                    &self.problems,
                    &self.cost,
                    &self.logw,
                    &self.pot,
                    &self.columns,
                ],
                entry_grid(m, 1),
            ),
            engine.dispatch(
                &SINKHORN_SUMMARY,
                &[],
                &[
                    &self.problems,
                    &self.logw,
                    &self.pot,
                    &self.columns,
                    &self.summary,
                ],
                [1, 1, 1],
            ),
        ]
    }
}
