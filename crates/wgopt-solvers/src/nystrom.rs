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

use crate::pcg::{slot, Pcg, ScalarsPass, PCG_COMMON};
use bytemuck::{Pod, Zeroable};
use ndarray::ArrayView2;
use wgopt_reference::sketch::dense::norm;
use wgopt_reference::sketch::nystrom::Nystrom;
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder};

/// `NystromParams`.
pub static NYSTROM_COMMON: Wgsl = wgsl!("sketch/nystrom_common.wgsl");

/// `sketch/nystrom_matvec.wgsl`, CG's product (A + μI)p: params, a, scalars, vecs, partial.
pub static NYSTROM_MATVEC: Kernel = Kernel::new(
    wgsl!("sketch/nystrom_matvec.wgsl"),
    &[&PCG_COMMON, &NYSTROM_COMMON],
    &[U, R, R, W, W],
)
.twins(&[NystromParams::LAYOUT]);

/// `sketch/nystrom_project.wgsl`, w = Uᵀr: params, ut, scalars, vecs, w.
pub static NYSTROM_PROJECT: Kernel = Kernel::new(
    wgsl!("sketch/nystrom_project.wgsl"),
    &[&PCG_COMMON, &NYSTROM_COMMON],
    &[U, R, R, R, W],
)
.twins(&[NystromParams::LAYOUT]);

/// `sketch/nystrom_precondition.wgsl`, z = r + U(scale ⊙ w): params, u, scale, w, scalars,
/// vecs, partial.
pub static NYSTROM_PRECONDITION: Kernel = Kernel::new(
    wgsl!("sketch/nystrom_precondition.wgsl"),
    &[&PCG_COMMON, &NYSTROM_COMMON],
    &[U, R, R, R, R, W, W],
)
.twins(&[NystromParams::LAYOUT]);

/// Every Nyström kernel (CG's shared ones are `crate::pcg`'s).
pub const KERNELS: &[&Kernel] = &[&NYSTROM_MATVEC, &NYSTROM_PROJECT, &NYSTROM_PRECONDITION];

/// The kernels' uniform. WGSL twin: `NystromParams` in shaders/sketch/nystrom_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct NystromParams {
    pub n: u32,
    pub rank: u32,
    pub matvec_parts: u32,
    pub parts: u32,
    pub mu: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// A solve's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct NystromSolution {
    /// The solution rounded to f32 (its own residual can be up to about cond(A)·6e-8 worse
    /// than `x64`'s).
    pub x: Vec<f32>,
    /// The refined solution in f64: the iterate `residual` is measured on.
    pub x64: Vec<f64>,
    /// CG iterations over all refinement rounds.
    pub iterations: usize,
    /// Refinement rounds (f32 PCG solves of the f64 residual equation).
    pub rounds: usize,
    /// ‖b − (A + μI)x64‖ / ‖b‖, recomputed in f64 on the host from `A` (never CG's
    /// recursively updated residual, which drifts below the truth in f32).
    pub residual: f64,
    /// The preconditioner's λ̂ (descending).
    pub lambda: Vec<f64>,
}

/// The preconditioner from the reference in f64: U (n × ℓ), Uᵀ, the scales
/// (λ̂_ℓ + μ)/(λ̂_j + μ) − 1 (f32) and λ̂.
type Factor = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f64>);

fn factor(a: &[f32], n: usize, mu: f64, rank: usize, seed: u64) -> Result<Factor> {
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
    let scale = shift_scales(&lambda, mu)?;
    let mut ut = vec![0f32; u.len()];
    for i in 0..n {
        for j in 0..rank {
            ut[j * n + i] = u[i * rank + j];
        }
    }
    Ok((u, ut, scale, lambda))
}

/// The preconditioner's scales (λ̂_ℓ + μ)/(λ̂_j + μ) − 1 for shift μ.
fn shift_scales(lambda: &[f64], mu: f64) -> Result<Vec<f32>> {
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
    Ok(scale)
}

/// One matrix on the GPU with its preconditioner, ready for any number of right-hand sides.
#[derive(Debug)]
pub struct NystromPcg {
    engine: Engine,
    n: usize,
    /// A host copy of A and the shift, for the f64 residuals of the refinement.
    a: Vec<f32>,
    mu: f64,
    cg: Pcg,
    lambda: Vec<f64>,
    /// The uniform and the preconditioner's scales, rewritten by [`NystromPcg::set_shift`].
    params: NystromParams,
    params_buf: wgpu::Buffer,
    scale_buf: wgpu::Buffer,
    /// project, precondition, start scalars, direction.
    start: Vec<Dispatch>,
    /// matvec, α, update, residual test, project, precondition, β, direction.
    iteration: Vec<Dispatch>,
}

/// Most f32 PCG rounds of mixed-precision refinement before a solve gives up.
pub const MAX_REFINEMENTS: usize = 10;

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
                unit: "bytes",
            });
        }
        let (u, ut, scale, lambda) = factor(a, n, mu, rank, seed)?;
        let params = NystromParams {
            n: n as u32,
            rank: rank as u32,
            matvec_parts: n.div_ceil(8) as u32,
            parts: n.div_ceil(256) as u32,
            mu: mu as f32,
            ..NystromParams::default()
        };
        let cg = Pcg::new(engine, n, n.div_ceil(8), (5, slot::COUNT), false)?;
        let storage = wgpu::BufferUsages::STORAGE;
        let scale_buf = engine.upload("nystrom scale", bytemuck::cast_slice(&scale), storage);
        let params_buf = engine.upload(
            "nystrom params",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        let (start, iteration) = Self::passes(
            engine,
            &params,
            &cg,
            (a, &u, &ut),
            (&params_buf, &scale_buf),
        )?;
        Ok(NystromPcg {
            engine: engine.clone(),
            n,
            a: a.to_vec(),
            mu,
            cg,
            lambda,
            params,
            params_buf,
            scale_buf,
            start,
            iteration,
        })
    }

    /// Moves the shift to `mu` for the next solves, keeping A and its rank-ℓ factor: only the
    /// preconditioner's ℓ scales `(λ̂_ℓ + μ)/(λ̂_j + μ) − 1` and the uniform change (no new
    /// buffers, pipelines or bind groups). GNS Newton solves one Hessian at many shifts.
    pub fn set_shift(&mut self, mu: f64) -> Result<()> {
        if !(mu >= 0.0 && mu.is_finite()) {
            return Err(invalid(format!("μ must be finite and ≥ 0, got {mu}")));
        }
        let scale = shift_scales(&self.lambda, mu)?;
        self.mu = mu;
        self.params.mu = mu as f32;
        if !scale.is_empty() {
            self.engine
                .write_buffer(&self.scale_buf, 0, bytemuck::cast_slice(&scale));
        }
        self.engine
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
        Ok(())
    }

    /// The start (precondition r = b, then p = z) and one iteration, built once.
    fn passes(
        engine: &Engine,
        params: &NystromParams,
        cg: &Pcg,
        (a, u, ut): (&[f32], &[f32], &[f32]),
        (params_buf, scale_buf): (&wgpu::Buffer, &wgpu::Buffer),
    ) -> Result<(Vec<Dispatch>, Vec<Dispatch>)> {
        let storage = wgpu::BufferUsages::STORAGE;
        let a_buf = engine.upload("nystrom A", bytemuck::cast_slice(a), storage);
        let u_buf = engine.upload("nystrom U", bytemuck::cast_slice(u), storage);
        let ut_buf = engine.upload("nystrom Uᵀ", bytemuck::cast_slice(ut), storage);
        let rank = params.rank as usize;
        let w = engine.create_buffer("nystrom w", (rank.max(4) * 4) as u64, storage);
        let (scalars, vecs, partial) = (&cg.scalars, &cg.vecs, &cg.partial);
        let project = engine.dispatch(
            &NYSTROM_PROJECT,
            &[],
            &[params_buf, &ut_buf, scalars, vecs, &w],
            [rank as u32, 1, 1],
        );
        let precondition = engine.dispatch(
            &NYSTROM_PRECONDITION,
            &[],
            &[params_buf, &u_buf, scale_buf, &w, scalars, vecs, partial],
            cg.lanes(),
        );
        let matvec = engine.dispatch(
            &NYSTROM_MATVEC,
            &[],
            &[params_buf, &a_buf, scalars, vecs, partial],
            [params.matvec_parts, 1, 1],
        );
        // Rank 0: no projection (w stays 0, so z = r).
        let mut preconditioner = Vec::new();
        if rank > 0 {
            preconditioner.push(project);
        }
        preconditioner.push(precondition);
        let mut start = preconditioner.clone();
        start.extend([cg.scalars_pass(ScalarsPass::Start), cg.direction()]);
        Ok((start, cg.iteration(matvec, preconditioner)))
    }

    /// Solves `(A + μI) x = b` to ‖b − (A + μI)x‖ ≤ tol·‖b‖ *measured in f64 on the host*, by
    /// mixed-precision refinement: each round runs the f32 PCG on the GPU for the current
    /// residual (reading CG's state every `check_every` iterations) and adds the correction
    /// to an f64 iterate, so tolerances below f32's floor (about cond·6e-8) are reachable.
    /// Errors: wrong length or non-finite b, A + μI found not positive definite, the
    /// iteration cap (`max_iter` CG iterations in all, or [`MAX_REFINEMENTS`] rounds), a
    /// round that does not halve the true residual (stalled).
    pub fn solve(
        &mut self,
        b: &[f32],
        tol: f64,
        max_iter: usize,
        check_every: usize,
    ) -> Result<NystromSolution> {
        self.check_rhs(b, tol, max_iter, check_every)?;
        let b64: Vec<f64> = b.iter().map(|&v| v as f64).collect();
        let bnorm = norm(&b64);
        let mut x64 = vec![0.0f64; self.n];
        let (mut iterations, mut rounds, mut rel) = (0usize, 0usize, 1.0f64);
        if bnorm == 0.0 {
            rel = 0.0;
        }
        let mut r = b64.clone();
        while rel > tol {
            if rounds == MAX_REFINEMENTS || iterations >= max_iter {
                return Err(Error::Solve(SolveError::IterationCap {
                    iterations,
                    residual: rel,
                    tolerance: tol,
                }));
            }
            // Solve (A + μI)d = r in f32 to the accuracy this round needs (relative to ‖r‖).
            let rnorm = norm(&r);
            let inner_tol = (tol * bnorm / rnorm).clamp(1e-6, 0.5);
            let r32: Vec<f32> = r.iter().map(|&v| v as f32).collect();
            let (d, its) = self.cg_once(&r32, inner_tol, max_iter - iterations, check_every)?;
            iterations += its;
            rounds += 1;
            for (x, d) in x64.iter_mut().zip(&d) {
                *x += *d as f64;
            }
            r = self.residual_of(b, &x64);
            let next = norm(&r) / bnorm;
            if !next.is_finite() {
                return Err(Error::Solve(SolveError::NonFinite(
                    "refined iterate".into(),
                )));
            }
            if next > tol && next > 0.5 * rel {
                return Err(Error::Solve(SolveError::Stalled {
                    iterations,
                    residual: next,
                    tolerance: tol,
                    window: rounds,
                }));
            }
            rel = next;
        }
        Ok(NystromSolution {
            x: x64.iter().map(|&v| v as f32).collect(),
            x64,
            iterations,
            rounds,
            residual: rel,
            lambda: self.lambda.clone(),
        })
    }

    /// b − (A + μI)x in f64 from the host copy of A (the solvers' shared host pass).
    fn residual_of(&self, b: &[f32], x: &[f64]) -> Vec<f64> {
        let mut r = crate::host::residual(&self.a, b, x, self.n);
        r.iter_mut()
            .zip(x)
            .for_each(|(ri, &xi)| *ri -= self.mu * xi);
        r
    }

    fn check_rhs(&self, b: &[f32], tol: f64, max_iter: usize, check_every: usize) -> Result<()> {
        let n = self.n;
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
        if max_iter == 0 || check_every == 0 || !tol.is_finite() || tol < 0.0 {
            return Err(invalid(format!(
                "max_iter and check_every must be ≥ 1 and tol finite and ≥ 0 (got {max_iter}, {check_every}, {tol})"
            )));
        }
        Ok(())
    }

    /// One f32 PCG solve of (A + μI)d = b to CG's own (recurrence) tolerance: d and the
    /// iterations it took.
    fn cg_once(
        &mut self,
        b: &[f32],
        tol: f64,
        max_iter: usize,
        check_every: usize,
    ) -> Result<(Vec<f32>, usize)> {
        let n = self.n;
        self.cg.set_limits(max_iter, tol);
        let q = self.engine.queue();
        // x = 0, r = b, p = 0 (so p = z + 0·p starts clean).
        let mut init = vec![0f32; 5 * n];
        init[n..2 * n].copy_from_slice(b);
        q.write_buffer(&self.cg.vecs, 0, bytemuck::cast_slice(&init));
        // Clear the last solve's `done` flag, which the start's kernels read.
        q.write_buffer(&self.cg.scalars, 0, &[0u8; slot::COUNT * 4]);
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
            s = self.cg.read_scalars()?;
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
        let x = read_range(&self.engine, &self.cg.vecs, 0, n as u64 * 4)?;
        Ok((x, iterations))
    }
}
