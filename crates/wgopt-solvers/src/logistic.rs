//! Constrained logistic regression with its data on the GPU: a large
//! [`OperatorProblem`] for the matrix-free exact-augmented-Lagrangian method
//! (`wgopt_reference::constrained::solve_operator`), twin of the reference's
//! `LogisticProducts`.
//!
//! The N × d feature matrix X lives on the GPU in f32 and never comes back. Each evaluation
//! at a new θ is one submit — X·θ, the per-sample weights
//! (`shaders/constrained/logistic_weights.wgsl`), Xᵀ·w — and reads back ∇f (d values) and the
//! per-sample losses; each Hessian product ∇²f·v is one submit of the same three kernels and
//! reads back d values. The dense Hessian Xᵀ·diag(w)·X (for GNS Newton) is one submit too:
//! `shaders/constrained/logistic_scale_rows.wgsl` writes √w·X and the symmetric Gram kernel
//! forms H, d² values read back. The ten linear constraints and ‖θ‖² = 1 are small and stay on the
//! host in f64, as does the `2λ₁₁·v` term of ∇²L.
//!
//! Precision: f, ∇f and ∇²f·v carry f32 rounding (relative ~1e-6 for the sizes here), so the
//! KKT residual this problem can reach is ~1e-6·‖∇f‖, not the 1e-9 of the f64 problems; the
//! constraints are exact, and Newton still drives them to 1e-12.

use bytemuck::{Pod, Zeroable};
use std::cell::RefCell;
use wgopt_reference::constrained::logistic::{self, Logistic};
use wgopt_reference::constrained::OperatorProblem;
use wgopt_reference::sketch::SolveError;
use wgopt_scheduler::arena::{read_buffers, read_range};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result, StepRecorder};

use crate::linalg::matmul::{GemmOffsets, Matmul, MatmulSpec};
use crate::lstsq::Operator;
use wgopt_scheduler::guard::grid;

/// `constrained/logistic_weights.wgsl`, per-sample weights between X·θ and Xᵀ·w: params, y,
/// u, curvature weights, loss.
pub static LOGISTIC_WEIGHTS: Kernel = Kernel::new(
    wgsl!("constrained/logistic_weights.wgsl"),
    &[],
    &[U, R, W, W, W],
)
.twins(&[LogisticParams::LAYOUT]);

/// Uniform parameters of `shaders/constrained/logistic_weights.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct LogisticParams {
    pub rows: u32,
    /// 0: evaluate at a new θ; 1: a Hessian product.
    pub mode: u32,
    pub inv_n: f32,
    pub _pad: u32,
}

/// `constrained/logistic_scale_rows.wgsl`, √w·X for the dense Hessian: params, X, curvature
/// weights, scaled rows.
pub static LOGISTIC_SCALE_ROWS: Kernel = Kernel::new(
    wgsl!("constrained/logistic_scale_rows.wgsl"),
    &[],
    &[U, R, R, W],
)
.twins(&[ScaleRowsParams::LAYOUT]);

/// Uniform parameters of `shaders/constrained/logistic_scale_rows.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct ScaleRowsParams {
    pub rows: u32,
    pub cols: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// The dense Hessian's plan (built on first use: its scratch is as large as X): √w·X, then
/// its Gram, one submit.
struct DenseHessian {
    scale: Dispatch,
    gram: Matmul,
    h: wgpu::Buffer,
    _keep: Vec<wgpu::Buffer>,
}

impl DenseHessian {
    fn new(
        engine: &Engine,
        (x, curvature): (&wgpu::Buffer, &wgpu::Buffer),
        n: usize,
        d: usize,
    ) -> Result<Self> {
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let xs = engine.create_buffer("logistic √w·X", (n * d * 4) as u64, storage);
        let h = engine.create_buffer("logistic Hessian", (d * d * 4) as u64, storage);
        let params = ScaleRowsParams {
            rows: n as u32,
            cols: d as u32,
            ..Default::default()
        };
        let params = engine.upload(
            "logistic scale params",
            bytemuck::bytes_of(&params),
            wgpu::BufferUsages::UNIFORM,
        );
        let scale = engine.dispatch(
            &LOGISTIC_SCALE_ROWS,
            &[],
            &[&params, x, curvature, &xs],
            grid(engine, ((n * d) as u32).div_ceil(256)),
        );
        // xsᵀ·xs: xs is stored n×d, so op(A) = xsᵀ (trans_a) and op(B) = xs.
        let gram = Matmul::gram(
            engine,
            &MatmulSpec {
                m: d as u32,
                n: d as u32,
                k: n as u32,
                trans_a: true,
                trans_b: false,
                alpha: 1.0,
                beta: 0.0,
                a: &xs,
                b: &xs,
                c: None,
                d: &h,
                offsets: &[GemmOffsets::default()],
            },
        )?;
        Ok(DenseHessian {
            scale,
            gram,
            h,
            _keep: vec![xs, params],
        })
    }
}

/// f and ∇f at the θ the curvature weights on the GPU belong to.
struct AtPoint {
    x: Vec<f64>,
    f: f64,
    grad: Vec<f64>,
}

/// The problem with X and y on the GPU (see the module docs).
pub struct GpuLogistic {
    engine: Engine,
    n: usize,
    d: usize,
    /// 10 × d constraint rows and their right-hand side, f64 on the host.
    c: ndarray::Array2<f64>,
    e: Vec<f64>,
    op: Operator,
    params: LogisticParams,
    params_buf: wgpu::Buffer,
    weights: Dispatch,
    loss: wgpu::Buffer,
    /// X and the curvature weights (bound by the dense Hessian's plan).
    x: wgpu::Buffer,
    curvature: wgpu::Buffer,
    hessian: RefCell<Option<DenseHessian>>,
    at: RefCell<Option<AtPoint>>,
    /// GPU submits so far (evaluations and Hessian products).
    pub submits: std::cell::Cell<usize>,
}

impl std::fmt::Debug for GpuLogistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuLogistic {{ n: {}, d: {} }}", self.n, self.d)
    }
}

fn to_solve(e: Error) -> SolveError {
    match e {
        Error::Solve(s) => s,
        other => SolveError::Invalid(format!("GPU logistic problem: {other}")),
    }
}

impl GpuLogistic {
    /// Uploads the problem's features (as f32) and labels.
    pub fn new(engine: &Engine, problem: &Logistic) -> Result<GpuLogistic> {
        let (n, d) = problem.a.dim();
        if n == 0 || d == 0 || problem.y.len() != n || problem.c.dim() != (10, d) {
            return Err(SolveError::Dimension(format!(
                "logistic data: X is {n}×{d}, {} labels, C is {:?}",
                problem.y.len(),
                problem.c.dim()
            ))
            .into());
        }
        // Xᵀ·u runs one workgroup row per 256-row chunk: at most 65535 of them.
        if n.div_ceil(256) > 65535 {
            return Err(Error::OverLimit {
                what: "logistic samples".into(),
                size: n as u64,
                limit: 65535 * 256,
                unit: "samples",
            });
        }
        if (n * d * 4) as u64 > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: "logistic feature matrix".into(),
                size: (n * d * 4) as u64,
                limit: engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let xf: Vec<f32> = problem.a.iter().map(|&v| v as f32).collect();
        let yf: Vec<f32> = problem.y.iter().map(|&v| v as f32).collect();
        let xbuf = engine.create_buffer("logistic X", (n * d * 4) as u64, storage);
        let ybuf = engine.create_buffer("logistic y", (n * 4) as u64, storage);
        let curvature = engine.create_buffer("logistic curvature", (n * 4) as u64, storage);
        let loss = engine.create_buffer("logistic loss", (n * 4) as u64, storage);
        let q = engine.queue();
        q.write_buffer(&xbuf, 0, bytemuck::cast_slice(&xf));
        q.write_buffer(&ybuf, 0, bytemuck::cast_slice(&yf));
        let op = Operator::new(engine, &xbuf, n, d);
        let params = LogisticParams {
            rows: n as u32,
            mode: 0,
            inv_n: 1.0 / n as f32,
            _pad: 0,
        };
        let params_buf = engine.create_buffer(
            "logistic params",
            std::mem::size_of::<LogisticParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let groups = (n as u32).div_ceil(256);
        let gx = groups.clamp(1, 65535);
        let weights = engine.dispatch(
            &LOGISTIC_WEIGHTS,
            &[],
            &[&params_buf, &ybuf, &op.u, &curvature, &loss],
            [gx, groups.div_ceil(gx), 1],
        );
        Ok(GpuLogistic {
            engine: engine.clone(),
            n,
            d,
            c: problem.c.clone(),
            e: problem.e.clone(),
            op,
            params,
            params_buf,
            weights,
            loss,
            x: xbuf,
            curvature,
            hessian: RefCell::new(None),
            at: RefCell::new(None),
            submits: std::cell::Cell::new(0),
        })
    }

    /// X·v, the weights kernel in `mode`, Xᵀ·u: one submit.
    fn pass(&self, v: &[f64], mode: u32) -> Result<()> {
        let vf: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        let q = self.engine.queue();
        q.write_buffer(&self.op.v, 0, bytemuck::cast_slice(&vf));
        let params = LogisticParams {
            mode,
            ..self.params
        };
        q.write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&params));
        let mut rec = StepRecorder::new();
        rec.push(self.op.av.clone());
        rec.push(self.weights.clone());
        rec.push(self.op.atu[0].clone());
        rec.push(self.op.atu[1].clone());
        rec.submit(&self.engine)?;
        self.submits.set(self.submits.get() + 1);
        Ok(())
    }

    /// Evaluates f and ∇f at x (and leaves the curvature weights of x on the GPU), unless x
    /// is the point evaluated last.
    fn evaluate(&self, x: &[f64]) -> std::result::Result<(), SolveError> {
        if matches!(self.at.borrow().as_ref(), Some(a) if a.x == x) {
            return Ok(());
        }
        self.check(x, "θ")?;
        self.pass(x, 0).map_err(to_solve)?;
        let out = read_buffers(&self.engine, &[self.op.atu_out.clone(), self.loss.clone()])
            .map_err(to_solve)?;
        let grad: Vec<f64> = out[0][..self.d].iter().map(|&v| f64::from(v)).collect();
        let f = out[1][..self.n].iter().map(|&v| f64::from(v)).sum();
        *self.at.borrow_mut() = Some(AtPoint {
            x: x.to_vec(),
            f,
            grad,
        });
        Ok(())
    }

    fn check(&self, v: &[f64], what: &str) -> std::result::Result<(), SolveError> {
        if v.len() != self.d {
            return Err(SolveError::Dimension(format!(
                "{what} has {} entries, the problem {}",
                v.len(),
                self.d
            )));
        }
        Ok(())
    }

    /// ∇²f(x)·v on the GPU.
    fn objective_hvp_gpu(&self, x: &[f64], v: &[f64]) -> std::result::Result<Vec<f64>, SolveError> {
        self.evaluate(x)?;
        self.check(v, "v")?;
        self.pass(v, 1).map_err(to_solve)?;
        let out =
            read_range(&self.engine, &self.op.atu_out, 0, (self.d * 4) as u64).map_err(to_solve)?;
        Ok(out.into_iter().map(f64::from).collect())
    }
}

impl GpuLogistic {
    /// ∇²f(x) = Xᵀ·diag(w)·X on the GPU: √w·X and its symmetric Gram in one submit, d² floats
    /// read back (instead of d Hessian products, d submits).
    fn dense_hessian(&self, x: &[f64]) -> std::result::Result<ndarray::Array2<f64>, SolveError> {
        self.evaluate(x)?;
        let mut plan = self.hessian.borrow_mut();
        if plan.is_none() {
            let built = DenseHessian::new(&self.engine, (&self.x, &self.curvature), self.n, self.d)
                .map_err(to_solve)?;
            *plan = Some(built);
        }
        let p = plan.as_ref().expect("built above");
        let mut rec = StepRecorder::new();
        rec.push(p.scale.clone());
        p.gram.record(&mut rec);
        rec.submit(&self.engine).map_err(to_solve)?;
        self.submits.set(self.submits.get() + 1);
        let d = self.d;
        let h = read_range(&self.engine, &p.h, 0, (d * d * 4) as u64).map_err(to_solve)?;
        Ok(ndarray::Array2::from_shape_fn((d, d), |(i, j)| {
            f64::from(h[i * d + j])
        }))
    }
}

impl OperatorProblem for GpuLogistic {
    fn name(&self) -> &str {
        "logistic (GPU)"
    }

    fn dims(&self) -> (usize, usize) {
        (self.d, 11)
    }

    fn x0(&self) -> Vec<f64> {
        vec![1.0; self.d]
    }

    fn lambda0(&self) -> Vec<f64> {
        vec![1.0; 11]
    }

    fn objective(&self, x: &[f64]) -> std::result::Result<f64, SolveError> {
        self.evaluate(x)?;
        Ok(self.at.borrow().as_ref().map_or(f64::NAN, |a| a.f))
    }

    fn gradient(&self, x: &[f64]) -> std::result::Result<Vec<f64>, SolveError> {
        self.evaluate(x)?;
        Ok(self
            .at
            .borrow()
            .as_ref()
            .map_or_else(Vec::new, |a| a.grad.clone()))
    }

    fn constraints(&self, x: &[f64]) -> std::result::Result<Vec<f64>, SolveError> {
        self.check(x, "θ")?;
        Ok(logistic::constraint_values(self.c.view(), &self.e, x))
    }

    fn jacobian_product(&self, x: &[f64], v: &[f64]) -> std::result::Result<Vec<f64>, SolveError> {
        logistic::jacobian_product(self.c.view(), x, v)
    }

    fn jacobian_transpose_product(
        &self,
        x: &[f64],
        w: &[f64],
    ) -> std::result::Result<Vec<f64>, SolveError> {
        logistic::jacobian_transpose_product(self.c.view(), x, w)
    }

    fn lagrangian_hvp(
        &self,
        x: &[f64],
        lambda: &[f64],
        v: &[f64],
    ) -> std::result::Result<Vec<f64>, SolveError> {
        if lambda.len() != 11 {
            return Err(SolveError::Dimension(format!(
                "λ has {} entries, want 11",
                lambda.len()
            )));
        }
        let mut out = self.objective_hvp_gpu(x, v)?;
        out.iter_mut()
            .zip(v)
            .for_each(|(o, vi)| *o += 2.0 * lambda[10] * vi);
        Ok(out)
    }

    fn objective_hvp(&self, x: &[f64], v: &[f64]) -> std::result::Result<Vec<f64>, SolveError> {
        self.objective_hvp_gpu(x, v)
    }

    fn objective_hessian(
        &self,
        x: &[f64],
    ) -> Option<std::result::Result<ndarray::Array2<f64>, SolveError>> {
        Some(self.dense_hessian(x))
    }

    fn forms_objective_hessian(&self) -> bool {
        true
    }

    /// f32 per-sample losses summed in f64: ~1e-7 relative each, so 1e-6 is safe.
    fn relative_accuracy(&self) -> f64 {
        1e-6
    }
}
