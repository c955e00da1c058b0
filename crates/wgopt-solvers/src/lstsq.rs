//! Sketch-and-precondition least squares on the GPU (Blendenpik / LSRN style), twin of
//! `wgopt_reference::sketch::lsqr::sketch_precondition_lstsq`:
//!
//! 1. `S·A` on the GPU ([`crate::sketch::record_sketch`]; s = 4n rows), read back;
//! 2. `R` from the QR of `S·A` on the host (faer, f64; n × n, small);
//! 3. LSQR on `A·R⁻¹`: the long vectors (length m) stay on the GPU — `u ← A·v − α·u` with
//!    ‖u‖ partials (`sketch/lstsq_av.wgsl`) and `Aᵀu` by row chunks
//!    (`sketch/lstsq_atu.wgsl`, `lstsq_atu_reduce.wgsl`); the short ones (length n: v, w, x
//!    and the `R⁻¹`, `R⁻ᵀ` triangular solves) and the scalar recurrences live on the host
//!    in f64;
//! 4. mixed-precision refinement on the normal equations: the residual `r = b − A·x` and
//!    `c = Aᵀr` in f64 on the host, then the correction `AᵀA·δ = c` by conjugate gradient
//!    preconditioned with `RᵀR` (κ = O(1)), whose products `A·p` and `Aᵀ(A·p)` are f32 on the
//!    GPU. Refining with LSQR on `r` (min ‖A·δ − r‖) would not do for an inconsistent
//!    problem: there `Aᵀr` is ~1e-6·‖A‖‖r‖ after one round, below what f32 products of the
//!    large `r` resolve. CG on the normal equations sees only `c`, so its f32 error is relative
//!    to ‖c‖, and each round gains the f32 solve's digits: ‖Aᵀr‖/(‖A‖_F‖r‖) reaches 1e-8 and
//!    below, as ‖r‖/‖b‖ does for a consistent system.

use bytemuck::{Pod, Zeroable};
use std::time::Instant;
use wgopt_reference::sketch::dense::{cholesky, norm, qr_r};
use wgopt_reference::sketch::lsqr::{back_substitute, forward_substitute_t, sketch_rows};
use wgopt_reference::sketch::{Sketch, SketchKind, SolveError};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, StructLayout, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder};

use crate::host;
use crate::linalg::{GemmOffsets, Matmul, MatmulSpec};
use crate::sketch::record_sketch;

/// `LstsqParams`.
pub static LSTSQ_COMMON: Wgsl = wgsl!("sketch/lstsq_common.wgsl");
const PARAMS: &[StructLayout] = &[LstsqParams::LAYOUT];

/// `sketch/lstsq_av.wgsl`, u ← A·v − α·u with ‖u‖ partials: params, a, v, u, partial.
pub static LSTSQ_AV: Kernel = Kernel::new(
    wgsl!("sketch/lstsq_av.wgsl"),
    &[&LSTSQ_COMMON],
    &[U, R, R, W, W],
)
.twins(PARAMS);

/// `sketch/lstsq_atu.wgsl`, Aᵀu by row chunks: params, a, u, partial.
pub static LSTSQ_ATU: Kernel = Kernel::new(
    wgsl!("sketch/lstsq_atu.wgsl"),
    &[&LSTSQ_COMMON],
    &[U, R, R, W],
)
.twins(PARAMS);

/// `sketch/lstsq_atu_reduce.wgsl`, the chunks' sum: params, partial, out.
pub static LSTSQ_ATU_REDUCE: Kernel = Kernel::new(
    wgsl!("sketch/lstsq_atu_reduce.wgsl"),
    &[&LSTSQ_COMMON],
    &[U, R, W],
)
.twins(PARAMS);

/// Every least-squares kernel.
pub const KERNELS: &[&Kernel] = &[&LSTSQ_AV, &LSTSQ_ATU, &LSTSQ_ATU_REDUCE];

/// Uniform parameters (`shaders/sketch/lstsq_common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct LstsqParams {
    pub m: u32,
    pub n: u32,
    pub chunk_rows: u32,
    pub chunks: u32,
    pub coef: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// What to solve with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstsqOptions {
    pub kind: SketchKind,
    pub seed: u64,
    /// Target of the normal-equation residual ‖Aᵀr‖/(‖A‖_F·‖r‖) (or ‖r‖/‖b‖ ≤ tol for a
    /// consistent system).
    pub tol: f64,
    /// LSQR iterations per refinement round.
    pub max_iter: usize,
    /// Refinement rounds at most.
    pub max_rounds: usize,
}

impl Default for LstsqOptions {
    fn default() -> Self {
        LstsqOptions {
            kind: SketchKind::Srht,
            seed: 0,
            tol: 1e-8,
            max_iter: 200,
            max_rounds: 4,
        }
    }
}

/// The answer and where the time went.
#[derive(Debug, Clone, PartialEq)]
pub struct LstsqReport {
    pub x: Vec<f64>,
    /// ‖Aᵀr‖/(‖A‖_F·‖r‖) of the final x, in f64.
    pub normal_residual: f64,
    /// ‖r‖/‖b‖.
    pub residual: f64,
    /// LSQR (first round) and CG (refinement rounds) iterations over all rounds.
    pub iterations: usize,
    pub rounds: usize,
    /// How S·A became the preconditioner R.
    pub factor: SketchFactor,
    pub sketch_seconds: f64,
    /// Time to factor S·A (the Gram and its Cholesky, or the host QR).
    pub factor_seconds: f64,
    pub solve_seconds: f64,
}

/// How the sketch S·A (s × n) is factored into the preconditioner R (n × n, `RᵀR ≈ AᵀA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SketchFactor {
    /// Cholesky QR: the Gram (SA)ᵀ(SA) on the GPU in f32 (one GEMM, ~1 ms at 4096×1024 on an
    /// H100), its Cholesky factor on the host in f64. It squares the condition number and
    /// the Gram carries f32 rounding, so it is used only when R's diagonal spans at most
    /// [`GRAM_MAX_SPREAD`]; a rougher R would still be correct (the f64 refinement decides
    /// the answer) but would cost LSQR iterations.
    GramCholesky,
    /// Householder QR of S·A on the host in f64 (faer): for ill-conditioned A, or when the
    /// f32 Gram is not numerically positive definite. ~0.35 s at 4096×1024 on 16 cores.
    HouseholderQr,
}

/// Largest max|r_ii| / min|r_ii| for which [`SketchFactor::GramCholesky`] is kept: the f32
/// Gram's relative error (~1e-6 after k = 4096 accumulations) times κ(R)² must stay well
/// below 1 for R to precondition well, and the diagonal spread is a lower bound on κ(R).
pub const GRAM_MAX_SPREAD: f64 = 100.0;

/// The GPU half of LSQR on `A·R⁻¹` for one matrix: `u ← A·v − coef·u` with ‖u‖² partials,
/// and `Aᵀu`. The constrained logistic problem ([`crate::logistic`]) reuses it for X·θ and
/// Xᵀ·w, with its weights kernel in between.
pub(crate) struct Operator {
    engine: Engine,
    params: LstsqParams,
    params_buf: wgpu::Buffer,
    pub(crate) v: wgpu::Buffer,
    pub(crate) u: wgpu::Buffer,
    av_partial: wgpu::Buffer,
    pub(crate) atu_out: wgpu::Buffer,
    pub(crate) av: Dispatch,
    pub(crate) atu: [Dispatch; 2],
    av_groups: usize,
}

impl Operator {
    pub(crate) fn new(engine: &Engine, a: &wgpu::Buffer, m: usize, n: usize) -> Operator {
        let chunk_rows = 256usize;
        let chunks = m.div_ceil(chunk_rows);
        let params = LstsqParams {
            m: m as u32,
            n: n as u32,
            chunk_rows: chunk_rows as u32,
            chunks: chunks as u32,
            ..Default::default()
        };
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let buf = |label: &str, floats: usize| {
            engine.create_buffer(label, (floats * 4).max(16) as u64, usage)
        };
        let params_buf = engine.upload(
            "lstsq params",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        let av_groups = m.div_ceil(8);
        let (v, u, av_partial) = (
            buf("lstsq v", n),
            buf("lstsq u", m),
            buf("lstsq |u| partials", av_groups),
        );
        let atu_partial = buf("lstsq Aᵀu partials", chunks * n);
        let atu_out = buf("lstsq Aᵀu", n);
        let gx = (av_groups as u32).clamp(1, 65535);
        let av = engine.dispatch(
            &LSTSQ_AV,
            &[],
            &[&params_buf, a, &v, &u, &av_partial],
            [gx, (av_groups as u32).div_ceil(gx), 1],
        );
        let atu = [
            engine.dispatch(
                &LSTSQ_ATU,
                &[],
                &[&params_buf, a, &u, &atu_partial],
                [(n as u32).div_ceil(64), chunks as u32, 1],
            ),
            engine.dispatch(
                &LSTSQ_ATU_REDUCE,
                &[],
                &[&params_buf, &atu_partial, &atu_out],
                [(n as u32).div_ceil(64), 1, 1],
            ),
        ];
        Operator {
            engine: engine.clone(),
            params,
            params_buf,
            v,
            u,
            av_partial,
            atu_out,
            av,
            atu,
            av_groups,
        }
    }

    fn set_u(&self, u: &[f32]) {
        self.engine
            .queue()
            .write_buffer(&self.u, 0, bytemuck::cast_slice(u));
    }

    /// u ← A·v − coef·u on the GPU; returns ‖u‖².
    fn av(&mut self, v: &[f64], coef: f64) -> Result<f64> {
        let vf: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        self.engine
            .queue()
            .write_buffer(&self.v, 0, bytemuck::cast_slice(&vf));
        self.params.coef = coef as f32;
        self.engine
            .queue()
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
        let mut rec = StepRecorder::new();
        rec.push(self.av.clone());
        rec.submit(&self.engine)?;
        let p = read_range(
            &self.engine,
            &self.av_partial,
            0,
            (self.av_groups * 4) as u64,
        )?;
        Ok(p.iter().map(|&x| x as f64).sum())
    }

    /// Aᵀu.
    fn atu(&self) -> Result<Vec<f64>> {
        let mut rec = StepRecorder::new();
        rec.push(self.atu[0].clone());
        rec.push(self.atu[1].clone());
        rec.submit(&self.engine)?;
        Ok(
            read_range(&self.engine, &self.atu_out, 0, self.params.n as u64 * 4)?
                .into_iter()
                .map(f64::from)
                .collect(),
        )
    }
}

/// LSQR on `A·R⁻¹ y = rhs` (R upper triangular); returns y's image x = R⁻¹y and iterations.
fn lsqr_round(
    op: &mut Operator,
    r: &ndarray::Array2<f64>,
    rhs: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<(Vec<f64>, usize)> {
    let n = r.nrows();
    let beta0 = norm(rhs);
    if beta0 == 0.0 {
        return Ok((vec![0.0; n], 0));
    }
    let u0: Vec<f32> = rhs.iter().map(|&x| (x / beta0) as f32).collect();
    op.set_u(&u0);
    // u is stored unnormalised; `uscale` turns it into the unit vector LSQR wants.
    let mut uscale = 1.0;
    let mut v = forward_substitute_t(r.view(), &op.atu()?);
    let mut alpha = norm(&v);
    if alpha == 0.0 {
        return Ok((vec![0.0; n], 0));
    }
    v.iter_mut().for_each(|e| *e /= alpha);
    let mut w = v.clone();
    let mut y = vec![0.0; n];
    let (mut phibar, mut rhobar) = (beta0, alpha);
    let mut anorm2 = 0.0;
    for it in 1..=max_iter {
        // u ← (A R⁻¹ v − α·u_unit): stored u times uscale is the unit u.
        let beta = op
            .av(&back_substitute(r.view(), &v), alpha * uscale)?
            .sqrt();
        uscale = if beta > 0.0 { 1.0 / beta } else { 1.0 };
        anorm2 += alpha * alpha + beta * beta;
        let atu = op.atu()?;
        let rt: Vec<f64> = forward_substitute_t(
            r.view(),
            &atu.iter().map(|x| x * uscale).collect::<Vec<_>>(),
        );
        for (vi, t) in v.iter_mut().zip(&rt) {
            *vi = t - beta * *vi;
        }
        alpha = norm(&v);
        if alpha > 0.0 {
            v.iter_mut().for_each(|e| *e /= alpha);
        }
        let rho = (rhobar * rhobar + beta * beta).sqrt();
        let (c, s) = (rhobar / rho, beta / rho);
        let theta = s * alpha;
        rhobar = -c * alpha;
        let phi = c * phibar;
        phibar *= s;
        for ((yi, wi), vi) in y.iter_mut().zip(w.iter_mut()).zip(&v) {
            *yi += (phi / rho) * *wi;
            *wi = vi - (theta / rho) * *wi;
        }
        if !phibar.is_finite() {
            return Err(SolveError::NonFinite("GPU LSQR recurrence".into()).into());
        }
        let normal = alpha * c.abs() / anorm2.sqrt().max(f64::MIN_POSITIVE);
        // f32 products: no point iterating past ~1e-6 within a round.
        if phibar / beta0 <= tol.max(1e-6) || normal <= tol.max(1e-6) {
            return Ok((back_substitute(r.view(), &y), it));
        }
    }
    Ok((back_substitute(r.view(), &y), max_iter))
}

/// CG on `AᵀA·δ = c` preconditioned by `RᵀR` (`AᵀA ≈ RᵀR` from the sketch): the products on
/// the GPU in f32, the n-vectors in f64. Stops at ‖c − AᵀA·δ‖ ≤ 1e-5·‖c‖ (where f32 products
/// stop helping) or at `max_iter`; returns δ and the iterations.
fn normal_cg_round(
    op: &mut Operator,
    r: &ndarray::Array2<f64>,
    c: &[f64],
    max_iter: usize,
) -> Result<(Vec<f64>, usize)> {
    let n = c.len();
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
    let precondition = |v: &[f64]| back_substitute(r.view(), &forward_substitute_t(r.view(), v));
    let cnorm = norm(c);
    let mut delta = vec![0.0; n];
    if cnorm == 0.0 {
        return Ok((delta, 0));
    }
    let mut res = c.to_vec();
    let mut z = precondition(&res);
    let mut p = z.clone();
    let mut rz = dot(&res, &z);
    for it in 1..=max_iter {
        op.av(&p, 0.0)?;
        let q = op.atu()?;
        let pq = dot(&p, &q);
        if pq.is_nan() || pq <= 0.0 {
            // AᵀA is positive definite for full-rank A; here f32 rounding has swamped the
            // correction, which is as far as this round can go.
            return Ok((delta, it));
        }
        let alpha = rz / pq;
        for ((d, pi), (ri, qi)) in delta.iter_mut().zip(&p).zip(res.iter_mut().zip(&q)) {
            *d += alpha * pi;
            *ri -= alpha * qi;
        }
        if !alpha.is_finite() {
            return Err(SolveError::NonFinite("GPU normal-equation CG".into()).into());
        }
        if norm(&res) <= 1e-5 * cnorm {
            return Ok((delta, it));
        }
        z = precondition(&res);
        let rz_new = dot(&res, &z);
        let beta = rz_new / rz;
        rz = rz_new;
        for (pi, zi) in p.iter_mut().zip(&z) {
            *pi = zi + beta * *pi;
        }
    }
    Ok((delta, max_iter))
}

/// R from the Gram of the sketch ([`SketchFactor::GramCholesky`]), or `None` when the f32
/// Gram is not positive definite or R's diagonal spreads beyond [`GRAM_MAX_SPREAD`].
fn gram_cholesky_r(
    engine: &Engine,
    sa: &wgpu::Buffer,
    s: usize,
    n: usize,
) -> Result<Option<ndarray::Array2<f64>>> {
    let gram = engine.create_buffer(
        "lstsq (SA)ᵀ(SA)",
        (n * n * 4) as u64,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    );
    let product = Matmul::gram(
        engine,
        &MatmulSpec {
            m: n as u32,
            n: n as u32,
            k: s as u32,
            trans_a: true,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
            a: sa,
            b: sa,
            c: None,
            d: &gram,
            offsets: &[GemmOffsets::default()],
        },
    )?;
    let mut rec = StepRecorder::new();
    product.record(&mut rec);
    rec.submit(engine)?;
    let g = read_range(engine, &gram, 0, (n * n * 4) as u64)?;
    let g64 = ndarray::Array2::from_shape_fn((n, n), |(i, j)| g[i * n + j] as f64);
    let Ok(l) = cholesky(g64.view()) else {
        return Ok(None);
    };
    let diag = (0..n).map(|i| l[[i, i]].abs());
    let (dmin, dmax) = diag.fold((f64::INFINITY, 0.0f64), |(lo, hi), d| {
        (lo.min(d), hi.max(d))
    });
    if dmin.is_nan() || dmin * GRAM_MAX_SPREAD < dmax {
        return Ok(None);
    }
    // Row-major R: the triangular solves of every LSQR iteration walk its rows.
    Ok(Some(l.t().as_standard_layout().into_owned()))
}

/// ‖Aᵀr‖/(‖A‖_F·‖r‖) and ‖r‖/‖b‖ for r = b − A·x, all in f64 on the host; returns Aᵀr too.
fn residuals(a: &[f32], b: &[f32], x: &[f64], n: usize, afro: f64) -> (f64, f64, Vec<f64>) {
    let r = host::residual(a, b, x, n);
    let atr = host::transpose_times(a, &r, n);
    let rn = norm(&r);
    let bn = b.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    (
        norm(&atr) / (afro * rn).max(f64::MIN_POSITIVE),
        rn / bn.max(f64::MIN_POSITIVE),
        atr,
    )
}

/// Solves `min ‖A x − b‖` for tall full-rank `A` (m × n row-major f32).
pub fn sketch_precondition_lstsq(
    engine: &Engine,
    a: &[f32],
    b: &[f32],
    m: usize,
    n: usize,
    opts: &LstsqOptions,
) -> Result<LstsqReport> {
    check_problem(engine, a, b, (m, n))?;
    let abuf = engine.upload(
        "lstsq A",
        bytemuck::cast_slice(a),
        wgpu::BufferUsages::STORAGE,
    );
    let t0 = Instant::now();
    let (r, factor, sketch_seconds) = preconditioner(engine, &abuf, (m, n), opts)?;
    let factor_seconds = t0.elapsed().as_secs_f64() - sketch_seconds;
    let t2 = Instant::now();
    let mut op = Operator::new(engine, &abuf, m, n);
    let (x, iterations, rounds, (normal, rel)) = refine(&mut op, &r, (a, b), n, opts)?;
    let solve_seconds = t2.elapsed().as_secs_f64();
    if !(normal <= opts.tol || rel <= opts.tol) {
        return Err(SolveError::IterationCap {
            iterations,
            residual: normal.min(rel),
            tolerance: opts.tol,
        }
        .into());
    }
    Ok(LstsqReport {
        x,
        normal_residual: normal,
        residual: rel,
        iterations,
        rounds,
        factor,
        sketch_seconds,
        factor_seconds,
        solve_seconds,
    })
}

fn check_problem(engine: &Engine, a: &[f32], b: &[f32], (m, n): (usize, usize)) -> Result<()> {
    if a.len() != m * n || b.len() != m || n == 0 || m < n {
        return Err(SolveError::Dimension(format!(
            "least squares needs A of m×n with m ≥ n ≥ 1 and b of m; got {} values for {m}×{n}, \
             b of {}",
            a.len(),
            b.len()
        ))
        .into());
    }
    if !a.iter().chain(b).all(|v| v.is_finite()) {
        return Err(SolveError::NonFinite("A or b".into()).into());
    }
    if (m * n * 4) as u64 > engine.chunk_bytes() {
        return Err(Error::OverLimit {
            what: "least-squares matrix".into(),
            size: (m * n * 4) as u64,
            limit: engine.chunk_bytes(),
            unit: "bytes",
        });
    }
    Ok(())
}

/// S·A on the GPU, then R from its Gram's Cholesky factor (when safe) or its QR: (R, which
/// route, seconds of the sketch). A (numerically) rank-deficient R is a typed error.
fn preconditioner(
    engine: &Engine,
    abuf: &wgpu::Buffer,
    (m, n): (usize, usize),
    opts: &LstsqOptions,
) -> Result<(ndarray::Array2<f64>, SketchFactor, f64)> {
    let s = sketch_rows(n).min(if opts.kind == SketchKind::Srht {
        m.next_power_of_two()
    } else {
        usize::MAX
    });
    let sketch = Sketch::new(opts.kind, s, m, opts.seed)?;
    let t0 = Instant::now();
    let mut rec = StepRecorder::new();
    let (sa_buf, _keep) = record_sketch(engine, &mut rec, &sketch, abuf, n)?;
    rec.submit(engine)?;
    engine.wait()?;
    let sketch_seconds = t0.elapsed().as_secs_f64();
    let (r, factor) = match gram_cholesky_r(engine, &sa_buf, s, n)? {
        Some(r) => (r, SketchFactor::GramCholesky),
        None => {
            let sa = read_range(engine, &sa_buf, 0, (s * n * 4) as u64)?;
            let sa64 = ndarray::Array2::from_shape_fn((s, n), |(i, j)| sa[i * n + j] as f64);
            (qr_r(sa64.view()), SketchFactor::HouseholderQr)
        }
    };
    let diag: Vec<f64> = (0..n).map(|i| r[[i, i]].abs()).collect();
    let (dmin, dmax) = (
        diag.iter().cloned().fold(f64::INFINITY, f64::min),
        diag.iter().cloned().fold(0.0, f64::max),
    );
    if dmin.is_nan() || dmin <= 1e-6 * dmax {
        return Err(SolveError::Singular(format!(
            "sketched R has |r_ii| from {dmin:e} to {dmax:e}: A is (numerically, in f32) \
             rank-deficient"
        ))
        .into());
    }
    Ok((r, factor, sketch_seconds))
}

/// (x, iterations, rounds, (normal residual, ‖r‖/‖b‖)).
type Refined = (Vec<f64>, usize, usize, (f64, f64));

/// LSQR from b, then refinement rounds on the f64 normal residual until either residual meets
/// `opts.tol` or `opts.max_rounds`: (x, iterations, rounds, (normal residual, ‖r‖/‖b‖)).
fn refine(
    op: &mut Operator,
    r: &ndarray::Array2<f64>,
    (a, b): (&[f32], &[f32]),
    n: usize,
    opts: &LstsqOptions,
) -> Result<Refined> {
    let afro = host::frobenius_sq(a).sqrt();
    let mut x = vec![0.0; n];
    let rhs: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    let (mut iterations, mut rounds) = (0, 0);
    let (mut normal, mut rel) = (f64::INFINITY, f64::INFINITY);
    let mut atr = Vec::new();
    while rounds < opts.max_rounds {
        let (dx, its) = if rounds == 0 {
            lsqr_round(op, r, &rhs, opts.tol, opts.max_iter)?
        } else {
            normal_cg_round(op, r, &atr, opts.max_iter)?
        };
        iterations += its;
        rounds += 1;
        for (xi, d) in x.iter_mut().zip(&dx) {
            *xi += d;
        }
        let (nr, rr, c) = residuals(a, b, &x, n, afro);
        (normal, rel) = (nr, rr);
        if normal <= opts.tol || rel <= opts.tol {
            break;
        }
        atr = c;
    }
    Ok((x, iterations, rounds, (normal, rel)))
}
