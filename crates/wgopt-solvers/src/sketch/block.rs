//! Randomised block Kaczmarz (any consistent system) and block Newton (SPD systems) on the GPU:
//! every block's inverse Cholesky factor computed on the GPU, one workgroup per block
//! (`sketch/block_factor.wgsl`), then many steps per dispatch in one workgroup
//! (`sketch/block_project.wgsl`). The residual check reads x back every `check_every` steps.
//! Also the check loop every GPU iterative solver shares ([`iterate_to_tolerance`]).

use super::{
    check_size, check_system, storage_buffer, uniform_buffer, BlockParams, BLOCK_FACTOR,
    BLOCK_PROJECT, GPU_RIDGE,
};
use wgopt_reference::random;
use wgopt_reference::sketch::project::{blocks, IterOptions, IterSolution};
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

/// Block Kaczmarz or block Newton on the GPU for one system `A x = b`.
pub struct BlockSolver {
    engine: Engine,
    params: BlockParams,
    params_buf: wgpu::Buffer,
    b: wgpu::Buffer,
    x: wgpu::Buffer,
    project: Dispatch,
    a_host: Vec<f32>,
    b_host: Vec<f32>,
}

impl BlockSolver {
    /// Uploads `a` (m × n row-major) and `b`, and factors every block on the GPU. `newton`
    /// needs a square SPD `a`; `q` ∈ 1..=32.
    pub fn new(
        engine: &Engine,
        a: &[f32],
        b: &[f32],
        m: usize,
        n: usize,
        q: usize,
        newton: bool,
    ) -> Result<BlockSolver> {
        check_system(a, b, m, n, q, "block solver")?;
        if newton && m != n {
            return Err(SolveError::Dimension(format!(
                "block Newton needs a square SPD matrix, got {m}×{n}"
            ))
            .into());
        }
        check_size(engine, "block solver matrix", m * n)?;
        let nb = blocks(m, q).len();
        let params = BlockParams {
            m: m as u32,
            n: n as u32,
            q: q as u32,
            blocks: nb as u32,
            ridge_rel: if newton { 0.0 } else { GPU_RIDGE },
            ..Default::default()
        };
        let params_buf = uniform_buffer(engine, "block params", &params);
        let abuf = storage_buffer(engine, "block A", bytemuck::cast_slice(a));
        let bbuf = storage_buffer(engine, "block b", bytemuck::cast_slice(b));
        let factors = storage_buffer(engine, "block factors", &vec![0u8; nb * q * q * 4]);
        let status = storage_buffer(engine, "block status", &vec![0u8; nb * 4]);
        let x = storage_buffer(engine, "block x", &vec![0u8; n * 4]);
        let over = [("NEWTON", newton as u8 as f64)];
        let gx = (nb as u32).clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(engine.dispatch(
            &BLOCK_FACTOR,
            &over,
            &[&params_buf, &abuf, &factors, &status],
            [gx, (nb as u32).div_ceil(gx), 1],
        ));
        rec.submit(engine)?;
        let st: Vec<u32> = read_range(engine, &status, 0, (nb * 4) as u64)?
            .iter()
            .map(|v| v.to_bits())
            .collect();
        if let Some(t) = st.iter().position(|&s| s != 1) {
            return Err(SolveError::NotSpd(format!(
                "block {t}: its {} is not positive definite in f32",
                if newton {
                    "diagonal block A_ττ"
                } else {
                    "Gram matrix A_τA_τᵀ + δI"
                }
            ))
            .into());
        }
        let project = engine.dispatch(
            &BLOCK_PROJECT,
            &over,
            &[&params_buf, &abuf, &bbuf, &factors, &x],
            [1, 1, 1],
        );
        Ok(BlockSolver {
            engine: engine.clone(),
            params,
            params_buf,
            b: bbuf,
            x,
            project,
            a_host: a.to_vec(),
            b_host: b.to_vec(),
        })
    }

    /// Replaces the right-hand side (the block factors depend on A only, so they stay).
    pub fn set_b(&mut self, b: &[f32]) -> Result<()> {
        if b.len() != self.b_host.len() {
            return Err(Error::ShapeMismatch {
                name: "b".into(),
                expected: self.b_host.len().to_string(),
                got: b.len().to_string(),
            });
        }
        if !b.iter().all(|v| v.is_finite()) {
            return Err(SolveError::NonFinite("b of the block solver".into()).into());
        }
        self.engine
            .queue()
            .write_buffer(&self.b, 0, bytemuck::cast_slice(b));
        self.b_host.copy_from_slice(b);
        Ok(())
    }

    /// Sets the iterate.
    pub fn set_x(&mut self, x: &[f32]) -> Result<()> {
        if x.len() != self.params.n as usize {
            return Err(Error::ShapeMismatch {
                name: "x".into(),
                expected: self.params.n.to_string(),
                got: x.len().to_string(),
            });
        }
        self.engine
            .queue()
            .write_buffer(&self.x, 0, bytemuck::cast_slice(x));
        Ok(())
    }

    /// Records steps `first .. first + steps` with `seed` (one dispatch).
    pub fn record_steps(&mut self, rec: &mut StepRecorder, first: usize, steps: usize, seed: u64) {
        self.params.first_step = first as u32;
        self.params.steps = steps as u32;
        self.params.key = random::key(seed);
        self.engine
            .queue()
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
        rec.push(self.project.clone());
    }

    /// Runs steps `first .. first + steps` now.
    pub fn run(&mut self, first: usize, steps: usize, seed: u64) -> Result<()> {
        let mut rec = StepRecorder::new();
        self.record_steps(&mut rec, first, steps, seed);
        rec.submit(&self.engine)?;
        Ok(())
    }

    /// Reads the iterate back.
    pub fn x(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.x, 0, self.params.n as u64 * 4)
    }

    /// ‖A x − b‖ / ‖b‖ of the current iterate, in f64 on the host.
    pub fn relative_residual(&self) -> Result<f64> {
        let n = self.params.n as usize;
        Ok(crate::host::relative_residual(
            &self.a_host,
            &self.b_host,
            &self.x()?,
            n,
        ))
    }

    /// Iterates from zero until the relative residual reaches `opts.tol` (checked every
    /// `opts.check_every` steps, default one pass over the blocks) or `opts.max_steps`.
    pub fn solve(&mut self, opts: &IterOptions) -> Result<IterSolution> {
        self.set_x(&vec![0.0; self.params.n as usize])?;
        let per = self.params.blocks as usize;
        let (steps, residual, history) =
            iterate_to_tolerance(opts, per, "block solver iterate", |first, steps| {
                self.run(first, steps, opts.seed)?;
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

/// Checks without a 1% improvement of the best residual after which the GPU's iterative
/// solvers stop with [`SolveError::Stalled`] instead of running to `max_steps`.
pub const STALL_CHECKS: usize = 100;

/// True when the last [`STALL_CHECKS`] residuals of `history` gained no 1% over the best
/// before them.
fn stalled(history: &[(usize, f64)]) -> bool {
    if history.len() <= STALL_CHECKS {
        return false;
    }
    let (before, window) = history.split_at(history.len() - STALL_CHECKS);
    let best = |h: &[(usize, f64)]| h.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    best(window) > 0.99 * best(before)
}

/// Steps taken, final relative residual, and (step, residual) at every check.
pub(crate) type Converged = (usize, f64, Vec<(usize, f64)>);

/// The check loop of the GPU's iterative solvers: `step(first, steps)` runs steps
/// `first .. first + steps` and returns the relative residual; it is called every
/// `opts.check_every` steps (`default_per` when 0) until the residual reaches `opts.tol`
/// (returns the steps, the residual and the history), stops improving (a typed stall error)
/// or reaches `opts.max_steps` (a typed cap error).
pub(crate) fn iterate_to_tolerance(
    opts: &IterOptions,
    default_per: usize,
    what: &str,
    mut step: impl FnMut(usize, usize) -> Result<f64>,
) -> Result<Converged> {
    let per = if opts.check_every == 0 {
        default_per.max(1)
    } else {
        opts.check_every
    };
    let mut history = vec![(0, 1.0)];
    let mut k = 0;
    while k < opts.max_steps {
        let steps = per.min(opts.max_steps - k);
        let res = step(k, steps)?;
        k += steps;
        if !res.is_finite() {
            return Err(SolveError::NonFinite(what.into()).into());
        }
        history.push((k, res));
        if res <= opts.tol {
            return Ok((k, res, history));
        }
        if stalled(&history) {
            return Err(SolveError::Stalled {
                iterations: k,
                residual: res,
                tolerance: opts.tol,
                window: STALL_CHECKS,
            }
            .into());
        }
    }
    Err(SolveError::IterationCap {
        iterations: k,
        residual: history.last().map_or(f64::NAN, |h| h.1),
        tolerance: opts.tol,
    }
    .into())
}
