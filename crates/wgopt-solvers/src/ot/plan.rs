//! [`SinkhornPlan`]: a batch on the GPU, built once — buffers, pipelines, the dispatches of a
//! sweep and of a check — and the transport plan on request (dense, or applied to vectors).

use super::kernels::{
    entry_grid, update_grid, SINKHORN_APPLY, SINKHORN_COLUMNS, SINKHORN_PLAN, SINKHORN_SUMMARY,
    SINKHORN_UPDATE,
};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

use super::problem::{bad, pack, OtProblem, OtProblemGpu, Packed};

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
        let upload = |label: &str, data: &[u8]| engine.upload(label, data, storage);
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
        let batch = problems.len() as u32;
        let update = [&problems_buf, &cost_buf, &logw_buf, &pot];
        let sweep = [
            engine.dispatch(
                &SINKHORN_UPDATE,
                &[c, ("SIDE", 0.0)],
                &update,
                update_grid(max_m, batch),
            ),
            engine.dispatch(
                &SINKHORN_UPDATE,
                &[c, ("SIDE", 1.0)],
                &update,
                update_grid(max_n, batch),
            ),
        ];
        let check = [
            engine.dispatch(
                &SINKHORN_COLUMNS,
                &[c],
                &[&problems_buf, &cost_buf, &logw_buf, &pot, &columns],
                entry_grid(max_m, batch),
            ),
            engine.dispatch(
                &SINKHORN_SUMMARY,
                &[],
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

    pub(crate) fn write_problems(&self) {
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
        let in_buf = e.upload("ot apply input", bytemuck::cast_slice(&input), storage);
        let out_buf = e.create_buffer(
            "ot apply output",
            (self.pot_len as u64 * 4).max(16),
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let side = if transpose { 0.0 } else { 1.0 };
        let x = (max_out as u32).clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(e.dispatch(
            &SINKHORN_APPLY,
            &[("COST", self.kind as f64), ("SIDE", side)],
            &[
                &self.problems_buf,
                &self.cost_buf,
                &self.pot,
                &in_buf,
                &out_buf,
            ],
            [x, (max_out as u32).div_ceil(x), self.gpu.len() as u32],
        ));
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
                unit: "bytes",
            });
        }
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let off_buf = e.upload("ot plan offsets", bytemuck::cast_slice(&offsets), storage);
        let plan = e.create_buffer(
            "ot plans",
            (total * 4).max(16),
            storage | wgpu::BufferUsages::COPY_SRC,
        );
        let groups = max_nm.div_ceil(256) as u32;
        let x = groups.clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(e.dispatch(
            &SINKHORN_PLAN,
            &[("COST", self.kind as f64)],
            &[
                &self.problems_buf,
                &self.cost_buf,
                &self.pot,
                &off_buf,
                &plan,
            ],
            [x, groups.div_ceil(x), self.gpu.len() as u32],
        ));
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
    pub(crate) fn retire(&mut self, k: usize) {
        self.gpu[k].live = 0;
    }

    pub(crate) fn live(&self, k: usize) -> bool {
        self.gpu[k].live == 1
    }
}
