//! Sketches and sketch-and-project solvers on the GPU; reference twins in
//! `wgopt_reference::sketch` (same Philox bits: the GPU regenerates exactly the sketch entries,
//! hashes, signs and block choices the reference uses).
//!
//! - [`apply_sketch`]: `S·A` without materialising `S` — Gaussian entries generated inside a
//!   tiled product (`sketch/sketch_gaussian.wgsl`), CountSketch by bucket lists
//!   (`sketch/sketch_count.wgsl`), SRHT by signs, log₂ m' butterfly passes and a gather
//!   (`sketch/srht_*.wgsl`).
//! - [`BlockSolver`]: randomised block Kaczmarz (any consistent system) and block Newton (SPD
//!   systems): every block's Cholesky factor computed on the GPU, one workgroup per block
//!   (`sketch/block_factor.wgsl`), then many steps per dispatch in one workgroup
//!   (`sketch/block_project.wgsl`). The residual check reads x back every `check_every` steps.

use bytemuck::{Pod, Zeroable};
use wgopt_reference::random;
use wgopt_reference::sketch::project::{blocks, IterOptions, IterSolution};
use wgopt_reference::sketch::{Sketch, SketchKind, SolveError};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::pipelines::Kernel;
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{Engine, Error, Result, ShaderId, StepRecorder};

/// Uniform parameters of the sketch kernels (`shaders/sketch/sketch_common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct SketchParams {
    pub rows: u32,
    pub input: u32,
    pub cols: u32,
    pub stride: u32,
    pub key: [u32; 2],
    pub padded: u32,
    /// Gaussian: the Philox draw of S (0 for a one-off sketch; step k for sketch-and-project).
    pub draw: u32,
    pub scale: f32,
    /// Gaussian sketch-and-project: δ = ridge_rel · tr(G)/q.
    pub ridge_rel: f32,
    pub _pad2: f32,
    pub _pad3: f32,
}

/// Uniform parameters of the block solvers (`shaders/sketch/block_common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct BlockParams {
    pub m: u32,
    pub n: u32,
    pub q: u32,
    pub blocks: u32,
    pub first_step: u32,
    pub steps: u32,
    pub key: [u32; 2],
    pub ridge_rel: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Ridge of the GPU's Kaczmarz block factors: δ = 1e-6 · tr(A_τ A_τᵀ)/q. The reference's
/// 1e-12 is below f32 resolution; 1e-6 (≈ 8 ulp of the diagonal) keeps rank-deficient blocks
/// factorable in f32 and changes a well-conditioned block's solve by ~1e-6 relative.
pub const GPU_RIDGE: f32 = 1e-6;

pub(crate) fn bad(msg: String) -> Error {
    Error::InvalidHyperparameter(msg)
}

/// Workgroup grid for (columns in groups of 64) × `rows` (capped at 65535; kernels stride).
fn grid(cols: usize, rows: usize) -> [u32; 3] {
    [(cols as u32).div_ceil(64), (rows as u32).clamp(1, 65535), 1]
}

pub(crate) fn storage_buffer(engine: &Engine, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let buf = engine.create_buffer(label, (bytes.len() as u64).max(16), usage);
    engine.queue().write_buffer(&buf, 0, bytes);
    buf
}

pub(crate) fn uniform_buffer<T: Pod>(engine: &Engine, label: &str, value: &T) -> wgpu::Buffer {
    let buf = engine.create_buffer(
        label,
        std::mem::size_of::<T>() as u64,
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    );
    engine
        .queue()
        .write_buffer(&buf, 0, bytemuck::bytes_of(value));
    buf
}

pub(crate) fn dispatch(
    engine: &Engine,
    label: &'static str,
    k: &Kernel,
    bufs: &[&wgpu::Buffer],
    workgroups: [u32; 3],
) -> Dispatch {
    Dispatch {
        label,
        pipeline: k.pipeline.clone(),
        bind_group: engine.bind_buffers(label, &k.layout, bufs),
        workgroups,
    }
}

/// The checks every GPU iterative solver makes of its input: A (m × n row-major) and b of m
/// entries, both finite, and a sketch or block size q in 1..=32 (rows of a one-workgroup step).
pub(crate) fn check_system(
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    q: usize,
    what: &str,
) -> Result<()> {
    if a.len() != m * n || b.len() != m || m == 0 || n == 0 {
        return Err(Error::ShapeMismatch {
            name: format!("{what} system"),
            expected: format!("A of {m}×{n} and b of {m}"),
            got: format!("A of {} values, b of {}", a.len(), b.len()),
        });
    }
    if !(1..=32).contains(&q) {
        return Err(bad(format!("{what}: q must be in 1..=32, got {q}")));
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return Err(SolveError::NonFinite(format!("A or b of the {what}")).into());
    }
    Ok(())
}

pub(crate) fn check_size(engine: &Engine, what: &str, floats: usize) -> Result<()> {
    let size = floats as u64 * 4;
    if size > engine.chunk_bytes() {
        return Err(Error::OverLimit {
            what: what.into(),
            size,
            limit: engine.chunk_bytes(),
        });
    }
    Ok(())
}

/// Records `S·A` for `A` (m × n, row-major f32) already on the GPU; returns the output buffer
/// (s × n) and keeps the temporary buffers alive in the returned list until the submit.
pub fn record_sketch(
    engine: &Engine,
    rec: &mut StepRecorder,
    sketch: &Sketch,
    a: &wgpu::Buffer,
    n: usize,
) -> Result<(wgpu::Buffer, Vec<wgpu::Buffer>)> {
    let (s, m) = (sketch.rows, sketch.input);
    check_size(engine, "sketch output", s * n)?;
    let padded = m.next_power_of_two();
    let params = SketchParams {
        rows: s as u32,
        input: m as u32,
        cols: n as u32,
        key: random::key(sketch.seed),
        padded: padded as u32,
        scale: 1.0 / (s as f32).sqrt(),
        ..Default::default()
    };
    let out = engine.create_buffer(
        "sketch out",
        (s * n * 4).max(16) as u64,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    );
    let mut keep = Vec::new();
    match sketch.kind {
        SketchKind::Gaussian => {
            let p = uniform_buffer(engine, "sketch params", &params);
            let k = engine.kernel(ShaderId::SketchGaussian, "main", &[]);
            // 64×64 output tiles (shaders/sketch/sketch_gaussian.wgsl).
            let wg = [(n as u32).div_ceil(64), (s as u32).div_ceil(64), 1];
            if wg[1] > 65535 {
                return Err(bad(format!(
                    "Gaussian sketch of {s} rows exceeds the dispatch grid"
                )));
            }
            rec.push(dispatch(engine, "sketch gaussian", &k, &[&p, a, &out], wg));
            keep.push(p);
        }
        SketchKind::CountSketch => {
            // Bucket lists from the reference's hash (row | sign bit).
            let mut counts = vec![0u32; s + 1];
            let hashed: Vec<(usize, f64)> = (0..m).map(|r| sketch.count_bucket(r)).collect();
            for &(bkt, _) in &hashed {
                counts[bkt + 1] += 1;
            }
            for i in 0..s {
                counts[i + 1] += counts[i];
            }
            let mut fill = counts.clone();
            let mut rows = vec![0u32; m];
            for (r, &(bkt, sign)) in hashed.iter().enumerate() {
                rows[fill[bkt] as usize] = r as u32 | if sign < 0.0 { 0x8000_0000 } else { 0 };
                fill[bkt] += 1;
            }
            let p = uniform_buffer(engine, "sketch params", &params);
            let starts =
                storage_buffer(engine, "countsketch starts", bytemuck::cast_slice(&counts));
            let list = storage_buffer(engine, "countsketch rows", bytemuck::cast_slice(&rows));
            let k = engine.kernel(ShaderId::SketchCount, "main", &[]);
            rec.push(dispatch(
                engine,
                "sketch count",
                &k,
                &[&p, a, &starts, &list, &out],
                grid(n, s),
            ));
            keep.extend([p, starts, list]);
        }
        SketchKind::Srht => {
            check_size(engine, "SRHT work buffer", padded * n)?;
            let x = engine.create_buffer(
                "srht mixed",
                (padded * n * 4) as u64,
                wgpu::BufferUsages::STORAGE,
            );
            let p = uniform_buffer(engine, "sketch params", &params);
            let sign = engine.kernel(ShaderId::SrhtSign, "main", &[]);
            rec.push(dispatch(
                engine,
                "srht sign",
                &sign,
                &[&p, a, &x],
                grid(n, padded),
            ));
            let fly = engine.kernel(ShaderId::SrhtButterfly, "main", &[]);
            let mut h = 1;
            while h < padded {
                let ph = uniform_buffer(
                    engine,
                    "srht pass",
                    &SketchParams {
                        stride: h as u32,
                        ..params
                    },
                );
                rec.push(dispatch(
                    engine,
                    "srht butterfly",
                    &fly,
                    &[&ph, &x],
                    grid(n, padded / 2),
                ));
                keep.push(ph);
                h *= 2;
            }
            let rows = storage_buffer(
                engine,
                "srht rows",
                bytemuck::cast_slice(&sketch.srht_rows()),
            );
            let gather = engine.kernel(ShaderId::SrhtGather, "main", &[]);
            rec.push(dispatch(
                engine,
                "srht gather",
                &gather,
                &[&p, &x, &rows, &out],
                grid(n, s),
            ));
            keep.extend([p, x, rows]);
        }
    }
    Ok((out, keep))
}

/// `S·A` for a host matrix (uploads, one submit, reads back): the convenience and test path.
pub fn apply_sketch(engine: &Engine, sketch: &Sketch, a: &[f32], n: usize) -> Result<Vec<f32>> {
    if n == 0 || a.len() != sketch.input * n {
        return Err(Error::ShapeMismatch {
            name: "sketched matrix".into(),
            expected: format!("{} × {n} values", sketch.input),
            got: format!("{}", a.len()),
        });
    }
    check_size(engine, "sketched matrix", a.len())?;
    let abuf = storage_buffer(engine, "sketch input", bytemuck::cast_slice(a));
    let mut rec = StepRecorder::new();
    let (out, _keep) = record_sketch(engine, &mut rec, sketch, &abuf, n)?;
    rec.submit(engine)?;
    read_range(engine, &out, 0, (sketch.rows * n * 4) as u64)
}

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
        let factor = engine.kernel(ShaderId::BlockFactor, "main", &over);
        let project = engine.kernel(ShaderId::BlockProject, "main", &over);
        let gx = (nb as u32).clamp(1, 65535);
        let mut rec = StepRecorder::new();
        rec.push(dispatch(
            engine,
            "block factor",
            &factor,
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
        let project = dispatch(
            engine,
            "block project",
            &project,
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

/// Steps taken, final relative residual, and (step, residual) at every check.
pub(crate) type Converged = (usize, f64, Vec<(usize, f64)>);

/// The check loop of the GPU's iterative solvers: `step(first, steps)` runs steps
/// `first .. first + steps` and returns the relative residual; it is called every
/// `opts.check_every` steps (`default_per` when 0) until the residual reaches `opts.tol`
/// (returns the steps, the residual and the history) or `opts.max_steps` (a typed cap error).
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
    }
    Err(SolveError::IterationCap {
        iterations: k,
        residual: history.last().map_or(f64::NAN, |h| h.1),
        tolerance: opts.tol,
    }
    .into())
}
