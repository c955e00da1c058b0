//! Gaussian sketch-and-project on the GPU (Gower & Richtárik 2015) for a consistent system
//! `A x = b`: each step draws a fresh q × m Gaussian `S` (Philox draw k, never stored), forms
//! `[S·A | S·b]` with `shaders/sketch/sketch_gaussian.wgsl`, then projects x onto
//! `{x : S·A·x = S·b}` in one workgroup (`shaders/sketch/gaussian_sketch_project.wgsl`: the
//! q × q Gram matrix, its Cholesky factor and the update). Reference twin:
//! `wgopt_reference::sketch::project::gaussian_sketch_project` (same draws; the GPU's Gaussian
//! entries differ from the CPU's by Vulkan's cos/sin/log error, so iterates agree in rate, not
//! bits).
//!
//! A step costs O(q·m·n), q passes' worth of Kaczmarz rows: the method is the one whose rate
//! the theory states cleanly (`E‖x_k − x*‖² ≤ ρᵏ‖x_0 − x*‖²` with `ρ = 1 − λ_min(E[Z])`), and
//! the baseline the block solvers ([`crate::sketch::BlockSolver`]) are measured against. Steps
//! are recorded `RING` per submit, each with its own uniform (the draw), created once.

use wgopt_reference::random;
use wgopt_reference::sketch::project::{IterOptions, IterSolution};
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Result, StepRecorder};

use crate::sketch::{
    check_size, check_system, iterate_to_tolerance, storage_buffer, uniform_buffer, SketchParams,
    GPU_RIDGE, SKETCH_COMMON, SKETCH_GAUSSIAN,
};

/// `sketch/gaussian_sketch_project.wgsl`, one projection in one workgroup: params, sab, x,
/// status.
pub static GAUSSIAN_SKETCH_PROJECT: Kernel = Kernel::new(
    wgsl!("sketch/gaussian_sketch_project.wgsl"),
    &[&SKETCH_COMMON],
    &[U, R, W, W],
)
.twins(&[SketchParams::LAYOUT]);

/// Steps per submit (one uniform buffer and two dispatches each, made once).
const RING: usize = 32;

/// The solver for one system.
#[derive(Debug)]
pub struct GaussianSketchProject {
    engine: Engine,
    params: SketchParams,
    m: usize,
    n: usize,
    ring: Vec<(wgpu::Buffer, [Dispatch; 2])>,
    x: wgpu::Buffer,
    status: wgpu::Buffer,
    a_host: Vec<f32>,
    b_host: Vec<f32>,
}

impl GaussianSketchProject {
    /// Uploads `[A | b]` (A m × n row-major) for sketches of `q` ∈ 1..=32 rows.
    pub fn new(
        engine: &Engine,
        a: &[f32],
        b: &[f32],
        m: usize,
        n: usize,
        q: usize,
    ) -> Result<GaussianSketchProject> {
        check_system(a, b, m, n, q, "sketch-and-project")?;
        check_size(engine, "sketch-and-project [A | b]", m * (n + 1))?;
        let w = n + 1;
        let mut aug = vec![0f32; m * w];
        for (i, (row, &bi)) in a.chunks_exact(n).zip(b).enumerate() {
            aug[i * w..i * w + n].copy_from_slice(row);
            aug[i * w + n] = bi;
        }
        let aug = storage_buffer(
            engine,
            "sketch-and-project [A | b]",
            bytemuck::cast_slice(&aug),
        );
        let sab = storage_buffer(
            engine,
            "sketch-and-project [SA | Sb]",
            &vec![0u8; q * w * 4],
        );
        let x = storage_buffer(engine, "sketch-and-project x", &vec![0u8; n * 4]);
        let status = storage_buffer(engine, "sketch-and-project status", &1u32.to_le_bytes());
        let params = SketchParams {
            rows: q as u32,
            input: m as u32,
            cols: w as u32,
            scale: 1.0 / (q as f32).sqrt(),
            ridge_rel: GPU_RIDGE,
            ..Default::default()
        };
        let ring = (0..RING)
            .map(|_| {
                let p = uniform_buffer(engine, "sketch-and-project params", &params);
                let d = [
                    engine.dispatch(
                        &SKETCH_GAUSSIAN,
                        &[],
                        &[&p, &aug, &sab],
                        [(w as u32).div_ceil(64), (q as u32).div_ceil(64), 1],
                    ),
                    engine.dispatch(
                        &GAUSSIAN_SKETCH_PROJECT,
                        &[],
                        &[&p, &sab, &x, &status],
                        [1, 1, 1],
                    ),
                ];
                (p, d)
            })
            .collect();
        Ok(GaussianSketchProject {
            engine: engine.clone(),
            params,
            m,
            n,
            ring,
            x,
            status,
            a_host: a.to_vec(),
            b_host: b.to_vec(),
        })
    }

    /// Runs steps `first .. first + steps` with `seed` (Philox draw k for step k).
    pub fn run(&mut self, first: usize, steps: usize, seed: u64) -> Result<()> {
        let key = random::key(seed);
        let mut k = first;
        while k < first + steps {
            let chunk = RING.min(first + steps - k);
            let mut rec = StepRecorder::new();
            for (slot, (p, d)) in self.ring.iter().take(chunk).enumerate() {
                let params = SketchParams {
                    key,
                    draw: (k + slot) as u32,
                    ..self.params
                };
                self.engine
                    .queue()
                    .write_buffer(p, 0, bytemuck::bytes_of(&params));
                rec.push(d[0].clone());
                rec.push(d[1].clone());
            }
            rec.submit(&self.engine)?;
            k += chunk;
        }
        Ok(())
    }

    /// Reads the iterate back.
    pub fn x(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.x, 0, self.n as u64 * 4)
    }

    /// ‖A x − b‖ / ‖b‖ of the current iterate, in f64 on the host.
    pub fn relative_residual(&self) -> Result<f64> {
        Ok(crate::host::relative_residual(
            &self.a_host,
            &self.b_host,
            &self.x()?,
            self.n,
        ))
    }

    /// Iterates from zero until ‖Ax − b‖/‖b‖ ≤ `opts.tol` (checked every `opts.check_every`
    /// steps, default ⌈m/q⌉) or `opts.max_steps`.
    pub fn solve(&mut self, opts: &IterOptions) -> Result<IterSolution> {
        let q = self.engine.queue();
        q.write_buffer(&self.x, 0, &vec![0u8; self.n * 4]);
        q.write_buffer(&self.status, 0, &1u32.to_le_bytes());
        let per = self.m.div_ceil(self.params.rows as usize);
        let (steps, residual, history) =
            iterate_to_tolerance(opts, per, "sketch-and-project iterate", |first, steps| {
                self.run(first, steps, opts.seed)?;
                let ok = read_range(&self.engine, &self.status, 0, 4)?[0].to_bits();
                if ok != 1 {
                    return Err(SolveError::NotSpd(
                        "a sketched Gram matrix (S·A)(S·A)ᵀ + δI lost positive definiteness in f32"
                            .into(),
                    )
                    .into());
                }
                self.relative_residual()
            })?;
        Ok(IterSolution {
            x: self.x()?.into_iter().map(f64::from).collect(),
            steps,
            residual,
            history,
        })
    }
}
