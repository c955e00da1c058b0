//! Nyström-preconditioned conjugate gradient on the GPU (Frangella, Tropp & Udell, SIMAX 2023)
//! for `(A + μI) x = b` with `A` symmetric positive semidefinite. Kernels:
//! `shaders/sketch/nystrom_*.wgsl`; reference twin: `wgopt_reference::sketch::nystrom`.
//!
//! The rank-ℓ Nyström factor (U, λ̂) is built once per matrix on the host, in f64, by the
//! reference (`Nystrom::new`: Y = AΩ, a shifted Cholesky and a thin SVD, O(n²ℓ)). The
//! iterations, which cost O(n²) each and dominate, run on the GPU: the dense product, the
//! preconditioner `P⁻¹ r = r + U·diag((λ̂_ℓ + μ)/(λ̂ + μ) − 1)·Uᵀr`, and CG's updates. CG's
//! scalars live in a GPU buffer its kernels read, so the host reads 16 floats once per
//! `check_every` iterations. Rank 0 is plain CG.

use bytemuck::{Pod, Zeroable};
use ndarray::ArrayView2;
use wgopt_reference::sketch::nystrom::Nystrom;
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, ShaderId, StepRecorder};

/// The kernels' uniform. WGSL twin: `NystromParams` in shaders/sketch/nystrom_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct NystromParams {
    pub n: u32,
    pub rank: u32,
    pub matvec_parts: u32,
    pub parts: u32,
    pub cg_max: u32,
    pub _pad0: u32,
    pub mu: f32,
    pub tol2: f32,
}

/// Scalar slots (twin: the N_* constants of nystrom_common.wgsl).
mod slot {
    pub const RR: usize = 4;
    pub const BB: usize = 5;
    pub const DONE: usize = 6;
    pub const ITS: usize = 7;
    pub const NOT_SPD: usize = 8;
    pub const COUNT: usize = 16;
}

/// A solve's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NystromSolution {
    pub x: Vec<f32>,
    pub iterations: usize,
    /// ‖b − (A + μI)x‖ / ‖b‖ as CG tracks it (the recursively updated residual).
    pub residual: f64,
    /// The preconditioner's λ̂ (descending).
    pub lambda: Vec<f64>,
}

/// One matrix on the GPU with its preconditioner, ready for any number of right-hand sides.
#[derive(Debug)]
pub struct NystromPcg {
    engine: Engine,
    params: NystromParams,
    params_buf: wgpu::Buffer,
    vecs: wgpu::Buffer,
    scalars: wgpu::Buffer,
    lambda: Vec<f64>,
    /// project, precondition, start scalars, direction.
    start: Vec<Dispatch>,
    /// matvec, α, update, residual test, project, precondition, β, direction.
    iteration: Vec<Dispatch>,
}

fn invalid(msg: String) -> Error {
    Error::Solve(SolveError::Invalid(msg))
}

impl NystromPcg {
    /// Uploads `a` (n × n, row-major, symmetric PSD) and builds the rank-`rank` Nyström
    /// preconditioner for shift `mu` from Philox stream `seed`.
    pub fn new(
        engine: &Engine,
        a: &[f32],
        n: usize,
        mu: f64,
        rank: usize,
        seed: u64,
    ) -> Result<Self> {
        if n == 0 || a.len() != n * n {
            return Err(Error::ShapeMismatch {
                name: "A".into(),
                expected: format!("{n}×{n} = {} values (n ≥ 1)", n * n),
                got: format!("{} values", a.len()),
            });
        }
        if rank > n {
            return Err(invalid(format!("rank {rank} exceeds n = {n}")));
        }
        if !(mu >= 0.0 && mu.is_finite()) {
            return Err(invalid(format!("μ must be finite and ≥ 0, got {mu}")));
        }
        if let Some(i) = a.iter().position(|v| !v.is_finite()) {
            return Err(Error::Solve(SolveError::NonFinite(format!(
                "A[{}, {}]",
                i / n,
                i % n
            ))));
        }
        let limit = engine.chunk_bytes();
        let bytes = (n * n) as u64 * 4;
        if bytes > limit {
            return Err(Error::OverLimit {
                what: "Nyström PCG matrix".into(),
                size: bytes,
                limit,
            });
        }
        let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        let view = ArrayView2::from_shape((n, n), &a64).expect("n × n checked");
        let (u, lambda) = if rank == 0 {
            (Vec::new(), Vec::new())
        } else {
            let nys = Nystrom::new(view, rank, seed)?;
            (
                nys.u.iter().map(|&v| v as f32).collect::<Vec<f32>>(),
                nys.lambda,
            )
        };
        let last = lambda.last().copied().unwrap_or(0.0);
        let scale: Vec<f32> = lambda
            .iter()
            .map(|l| ((last + mu) / (l + mu) - 1.0) as f32)
            .collect();
        if scale.iter().any(|s| !s.is_finite()) {
            return Err(Error::Solve(SolveError::Singular(format!(
                "λ̂_ℓ + μ = {} leaves the preconditioner undefined (μ = 0 and A of rank < ℓ?)",
                last + mu
            ))));
        }
        let mut ut = vec![0f32; u.len()];
        for i in 0..n {
            for j in 0..rank {
                ut[j * n + i] = u[i * rank + j];
            }
        }
        let params = NystromParams {
            n: n as u32,
            rank: rank as u32,
            matvec_parts: n.div_ceil(8) as u32,
            parts: n.div_ceil(256) as u32,
            cg_max: 1,
            mu: mu as f32,
            ..NystromParams::default()
        };
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let upload = |label: &str, data: &[u8]| {
            let b = engine.create_buffer(label, (data.len() as u64).max(16), storage);
            engine.queue().write_buffer(&b, 0, data);
            b
        };
        let a_buf = upload("nystrom A", bytemuck::cast_slice(a));
        let u_buf = upload("nystrom U", bytemuck::cast_slice(&u));
        let ut_buf = upload("nystrom Uᵀ", bytemuck::cast_slice(&ut));
        let scale_buf = upload("nystrom scale", bytemuck::cast_slice(&scale));
        let params_buf = engine.create_buffer(
            "nystrom params",
            std::mem::size_of::<NystromParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let readable = storage | wgpu::BufferUsages::COPY_SRC;
        let vecs = engine.create_buffer("nystrom cg vectors", (5 * n * 4) as u64, readable);
        let scalars = engine.create_buffer("nystrom scalars", (slot::COUNT * 4) as u64, readable);
        let w = engine.create_buffer("nystrom w", (rank.max(4) * 4) as u64, storage);
        let partial = engine.create_buffer(
            "nystrom partial sums",
            (params.matvec_parts.max(params.parts) as u64 * 8).max(16),
            storage,
        );
        let dispatch =
            |id, consts: &[(&'static str, f64)], label, bufs: &[&wgpu::Buffer], groups| {
                let k = engine.kernel(id, "main", consts);
                Dispatch {
                    label,
                    pipeline: k.pipeline.clone(),
                    bind_group: engine.bind_buffers(label, &k.layout, bufs),
                    workgroups: groups,
                }
            };
        let lanes = [params.parts, 1, 1];
        let scalars_pass = |mode: f64, label| {
            dispatch(
                ShaderId::NystromCgScalars,
                &[("MODE", mode)],
                label,
                &[&params_buf, &partial, &scalars],
                [1, 1, 1],
            )
        };
        let project = dispatch(
            ShaderId::NystromProject,
            &[],
            "nystrom project",
            &[&params_buf, &ut_buf, &scalars, &vecs, &w],
            [rank as u32, 1, 1],
        );
        let precondition = dispatch(
            ShaderId::NystromPrecondition,
            &[],
            "nystrom precondition",
            &[
                &params_buf,
                &u_buf,
                &scale_buf,
                &w,
                &scalars,
                &vecs,
                &partial,
            ],
            lanes,
        );
        let direction = dispatch(
            ShaderId::NystromCgDirection,
            &[],
            "nystrom direction",
            &[&params_buf, &scalars, &vecs],
            lanes,
        );
        let mut start = Vec::new();
        let mut iteration = vec![
            dispatch(
                ShaderId::NystromMatvec,
                &[],
                "nystrom matvec",
                &[&params_buf, &a_buf, &scalars, &vecs, &partial],
                [params.matvec_parts, 1, 1],
            ),
            scalars_pass(0.0, "nystrom alpha"),
            dispatch(
                ShaderId::NystromCgUpdate,
                &[],
                "nystrom update",
                &[&params_buf, &scalars, &vecs, &partial],
                lanes,
            ),
            scalars_pass(1.0, "nystrom residual"),
        ];
        // Rank 0: no projection (w stays 0, so z = r).
        if rank > 0 {
            start.push(project.clone());
            iteration.push(project);
        }
        start.extend([
            precondition.clone(),
            scalars_pass(2.0, "nystrom start"),
            direction.clone(),
        ]);
        iteration.extend([precondition, scalars_pass(3.0, "nystrom beta"), direction]);
        Ok(NystromPcg {
            engine: engine.clone(),
            params,
            params_buf,
            vecs,
            scalars,
            lambda,
            start,
            iteration,
        })
    }

    /// Solves `(A + μI) x = b` from x = 0 to ‖r‖ ≤ tol·‖b‖ (f32: tol ≳ 1e-6), reading CG's
    /// state every `check_every` iterations. Errors: wrong length or non-finite b, A + μI
    /// found not positive definite, the iteration cap.
    pub fn solve(
        &mut self,
        b: &[f32],
        tol: f64,
        max_iter: usize,
        check_every: usize,
    ) -> Result<NystromSolution> {
        let n = self.params.n as usize;
        if b.len() != n {
            return Err(Error::ShapeMismatch {
                name: "b".into(),
                expected: format!("{n} values"),
                got: format!("{} values", b.len()),
            });
        }
        if let Some(i) = b.iter().position(|v| !v.is_finite()) {
            return Err(Error::Solve(SolveError::NonFinite(format!("b[{i}]"))));
        }
        if max_iter == 0 || check_every == 0 || tol.is_nan() || tol < 0.0 {
            return Err(invalid(format!(
                "max_iter and check_every must be ≥ 1 and tol ≥ 0 (got {max_iter}, {check_every}, {tol})"
            )));
        }
        self.params.cg_max = max_iter.min(u32::MAX as usize) as u32;
        self.params.tol2 = (tol * tol) as f32;
        let q = self.engine.queue();
        q.write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
        // x = 0, r = b, p = 0 (so p = z + 0·p starts clean).
        let mut init = vec![0f32; 5 * n];
        init[n..2 * n].copy_from_slice(b);
        q.write_buffer(&self.vecs, 0, bytemuck::cast_slice(&init));
        // Clear the last solve's `done` flag, which the start's kernels read.
        q.write_buffer(&self.scalars, 0, &[0u8; slot::COUNT * 4]);
        let mut rec = StepRecorder::new();
        for d in &self.start {
            rec.push(d.clone());
        }
        let mut s;
        loop {
            for _ in 0..check_every {
                for d in &self.iteration {
                    rec.push(d.clone());
                }
            }
            rec.submit(&self.engine)?;
            s = read_range(&self.engine, &self.scalars, 0, slot::COUNT as u64 * 4)?;
            if s[slot::DONE] != 0.0 {
                break;
            }
        }
        let iterations = s[slot::ITS] as usize;
        let residual = (s[slot::RR] as f64 / (s[slot::BB] as f64).max(f64::MIN_POSITIVE)).sqrt();
        if s[slot::NOT_SPD] != 0.0 {
            return Err(Error::Solve(SolveError::NotSpd(format!(
                "pᵀ(A + μI)p ≤ 0 at iteration {}",
                iterations + 1
            ))));
        }
        if !residual.is_finite() {
            return Err(Error::Solve(SolveError::NonFinite("CG iterate".into())));
        }
        if residual > tol {
            return Err(Error::Solve(SolveError::IterationCap {
                iterations,
                residual,
                tolerance: tol,
            }));
        }
        let x = read_range(&self.engine, &self.vecs, 0, n as u64 * 4)?;
        Ok(NystromSolution {
            x,
            iterations,
            residual,
            lambda: self.lambda.clone(),
        })
    }
}
