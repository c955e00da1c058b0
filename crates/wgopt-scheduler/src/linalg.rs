//! Launchers of the linear-algebra kernels (`shaders/linalg/`): batched GEMM and symmetric Gram
//! with per-batch offsets, batched Frobenius normalisation, and a Newton–Schulz plan that chains
//! them — normalise, then per step Gram, fused polynomial GEMM, fused update GEMM — with the
//! Gram always on the short side (XXᵀ for wide X, XᵀX for tall X, no transposes). Everything is
//! created once; recording a plan allocates nothing on the GPU.

use crate::pipelines::Kernel;
use crate::recorder::{Dispatch, StepRecorder};
use crate::shaders::{Precision, ShaderId};
use crate::{Engine, Error, Result};
use bytemuck::{Pod, Zeroable};

/// Output tile edge of gemm.wgsl / gram.wgsl.
pub const GEMM_TILE: u32 = 64;

/// Uniform of the matrix-product kernels. WGSL twin in linalg/tile_core.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct GemmParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub use_c: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Where batch entry i's matrices start, in floats.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GemmOffsets {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
}

/// Uniform of frobenius_normalize.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct NormalizeParams {
    pub len: u32,
    pub factor: f32,
    pub clamp_base: u32,
    pub _pad1: u32,
}

/// ROOT's soft-threshold fused into the normalisation: matrix i of a batch is clamped at
/// `thresholds[base + i]` (see [`crate::quantile::AbsQuantile`]).
#[derive(Debug, Clone, Copy)]
pub struct Clamp<'a> {
    pub thresholds: &'a wgpu::Buffer,
    pub base: u32,
}

/// Source and destination offsets (floats) of one matrix to normalise.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct NormalizeOffsets {
    pub src: u32,
    pub dst: u32,
}

/// One batched product D = alpha·op(A)·op(B) + beta·C.
#[derive(Debug, Clone)]
pub struct MatmulSpec<'a> {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub trans_a: bool,
    pub trans_b: bool,
    pub alpha: f32,
    pub beta: f32,
    pub a: &'a wgpu::Buffer,
    pub b: &'a wgpu::Buffer,
    /// `None`: no C term (β ignored).
    pub c: Option<&'a wgpu::Buffer>,
    pub d: &'a wgpu::Buffer,
    pub offsets: &'a [GemmOffsets],
}

fn check_fits(what: &str, buffer: &wgpu::Buffer, offset: u32, len: u64) -> Result<()> {
    check_fits_as(what, buffer, offset, len, Precision::F32)
}

fn check_fits_as(
    what: &str,
    buffer: &wgpu::Buffer,
    offset: u32,
    len: u64,
    precision: Precision,
) -> Result<()> {
    let end = (offset as u64 + len) * bytes_per(precision);
    if end > buffer.size() {
        return Err(Error::ShapeMismatch {
            name: what.into(),
            expected: format!("{len} floats from offset {offset}"),
            got: format!("a buffer of {} bytes", buffer.size()),
        });
    }
    Ok(())
}

fn bytes_per(p: Precision) -> u64 {
    match p {
        Precision::F32 => 4,
        Precision::F16 => 2,
    }
}

/// Storage types of one product: A, B and C in `input`, D in `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storage {
    pub input: Precision,
    pub output: Precision,
}

impl Storage {
    pub const F32: Storage = Storage {
        input: Precision::F32,
        output: Precision::F32,
    };

    fn gemm_shader(self) -> Result<ShaderId> {
        match (self.input, self.output) {
            (Precision::F32, Precision::F32) => Ok(ShaderId::Gemm),
            (Precision::F16, Precision::F16) => Ok(ShaderId::GemmF16),
            (Precision::F16, Precision::F32) => Ok(ShaderId::GemmF16ToF32),
            _ => Err(Error::InvalidHyperparameter(format!(
                "no GEMM kernel reads {:?} and writes {:?}",
                self.input, self.output
            ))),
        }
    }

    fn gram_shader(self) -> Result<ShaderId> {
        match (self.input, self.output) {
            (Precision::F32, Precision::F32) => Ok(ShaderId::Gram),
            (Precision::F16, Precision::F16) => Ok(ShaderId::GramF16),
            _ => Err(Error::InvalidHyperparameter(format!(
                "no Gram kernel reads {:?} and writes {:?}",
                self.input, self.output
            ))),
        }
    }
}

fn require_shader(engine: &Engine, shader: ShaderId) -> Result<()> {
    if shader.needs_f16() {
        engine.require_features(wgpu::Features::SHADER_F16)?;
    }
    Ok(())
}

/// A recorded-once batched GEMM or Gram.
#[derive(Debug)]
pub struct Matmul {
    dispatch: Dispatch,
    params: wgpu::Buffer,
    spec: GemmParams,
}

impl Matmul {
    /// D = alpha·op(A)·op(B) + beta·C.
    pub fn gemm(engine: &Engine, spec: &MatmulSpec<'_>) -> Result<Matmul> {
        Self::build(engine, ShaderId::Gemm, spec)
    }

    /// [`Matmul::gemm`] over other storage types (f16 needs SHADER_F16).
    pub fn gemm_with(engine: &Engine, spec: &MatmulSpec<'_>, storage: Storage) -> Result<Matmul> {
        Self::build(engine, storage.gemm_shader()?, spec)
    }

    /// [`Matmul::gram`] over other storage types (f16 needs SHADER_F16).
    pub fn gram_with(engine: &Engine, spec: &MatmulSpec<'_>, storage: Storage) -> Result<Matmul> {
        Self::check_gram(spec)?;
        Self::build(engine, storage.gram_shader()?, spec)
    }

    fn check_gram(spec: &MatmulSpec<'_>) -> Result<()> {
        if spec.m != spec.n || spec.trans_b == spec.trans_a {
            return Err(Error::InvalidHyperparameter(
                "gram needs a square result (m == n) and trans_b == !trans_a".into(),
            ));
        }
        Ok(())
    }

    /// Symmetric D = alpha·op(X)·op(X)ᵀ (+ beta·C): one triangle computed, mirrored. `spec.a`
    /// and `spec.b` must be the same matrices with `trans_b == !trans_a`, and m == n.
    pub fn gram(engine: &Engine, spec: &MatmulSpec<'_>) -> Result<Matmul> {
        Self::check_gram(spec)?;
        Self::build(engine, ShaderId::Gram, spec)
    }

    fn build(engine: &Engine, shader: ShaderId, s: &MatmulSpec<'_>) -> Result<Matmul> {
        let batch = s.offsets.len() as u32;
        let limit = engine.limits().max_compute_workgroups_per_dimension;
        let (tx, ty) = (s.n.div_ceil(GEMM_TILE), s.m.div_ceil(GEMM_TILE));
        if batch == 0 || s.m == 0 || s.n == 0 || s.k == 0 {
            return Err(Error::ShapeMismatch {
                name: "matmul".into(),
                expected: "non-empty matrices and batch".into(),
                got: format!("{}×{}×{} batch {batch}", s.m, s.n, s.k),
            });
        }
        if batch > limit || tx > limit || ty > limit {
            return Err(Error::OverLimit {
                what: format!("matmul grid {tx}×{ty}×{batch}"),
                size: batch.max(tx).max(ty) as u64,
                limit: limit as u64,
            });
        }
        require_shader(engine, shader)?;
        let (input, output) = shader.storage().unwrap_or((Precision::F32, Precision::F32));
        let (mk, kn, mn) = (
            s.m as u64 * s.k as u64,
            s.k as u64 * s.n as u64,
            s.m as u64 * s.n as u64,
        );
        for o in s.offsets {
            check_fits_as("matmul A", s.a, o.a, mk, input)?;
            check_fits_as("matmul B", s.b, o.b, kn, input)?;
            check_fits_as("matmul D", s.d, o.d, mn, output)?;
            if let Some(c) = s.c {
                check_fits_as("matmul C", c, o.c, mn, input)?;
            }
        }
        let kernel: Kernel = engine.kernel(
            shader,
            "main",
            &[
                ("TRANS_A", s.trans_a as u8 as f64),
                ("TRANS_B", s.trans_b as u8 as f64),
                ("TILE_K", engine.tuning().gemm_tile_k as f64),
                (
                    "SHARED_TILES",
                    engine.tuning().gemm_shared_tiles as u8 as f64,
                ),
            ],
        );
        let spec = GemmParams {
            m: s.m,
            n: s.n,
            k: s.k,
            use_c: s.c.is_some() as u32,
            alpha: s.alpha,
            beta: s.beta,
            ..Default::default()
        };
        let params = engine.create_buffer(
            "gemm params",
            std::mem::size_of::<GemmParams>() as u64,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        engine
            .queue()
            .write_buffer(&params, 0, bytemuck::bytes_of(&spec));
        let offsets = engine.create_buffer(
            "gemm offsets",
            std::mem::size_of_val(s.offsets) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        engine
            .queue()
            .write_buffer(&offsets, 0, bytemuck::cast_slice(s.offsets));
        // Without C, bind A in its place (read-only; never read).
        let c = s.c.unwrap_or(s.a);
        let bind_group = engine.bind_buffers(
            shader.path(),
            &kernel.layout,
            &[&params, &offsets, s.a, s.b, c, s.d],
        );
        Ok(Matmul {
            dispatch: Dispatch {
                label: shader.path(),
                pipeline: kernel.pipeline,
                bind_group,
                workgroups: [tx, ty, batch],
            },
            params,
            spec,
        })
    }

    /// Changes alpha and beta (e.g. per-step coefficients); compiles nothing.
    pub fn set_scalars(&mut self, engine: &Engine, alpha: f32, beta: f32) {
        self.spec.alpha = alpha;
        self.spec.beta = beta;
        engine
            .queue()
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&self.spec));
    }

    /// Multiply-adds per launch (2·m·n·k per batch entry; a Gram does about half).
    pub fn flops(&self) -> f64 {
        2.0 * self.spec.m as f64
            * self.spec.n as f64
            * self.spec.k as f64
            * self.dispatch.workgroups[2] as f64
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }
}

/// Batched `dst = src / (factor·‖src‖_F + 1e-7)`, one workgroup per matrix, optionally after
/// ROOT's clamp.
#[derive(Debug)]
pub struct Normalize {
    dispatch: Dispatch,
}

impl Normalize {
    pub fn new(
        engine: &Engine,
        len: u32,
        factor: f32,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        offsets: &[NormalizeOffsets],
    ) -> Result<Normalize> {
        Self::new_clamped(engine, len, factor, src, dst, offsets, None, Precision::F32)
    }

    /// As [`Normalize::new`], clamping each matrix first when `clamp` is given, writing
    /// `output` precision (f32 source either way).
    #[allow(clippy::too_many_arguments)]
    pub fn new_clamped(
        engine: &Engine,
        len: u32,
        factor: f32,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
        offsets: &[NormalizeOffsets],
        clamp: Option<Clamp<'_>>,
        output: Precision,
    ) -> Result<Normalize> {
        let shader = match output {
            Precision::F32 => ShaderId::FrobeniusNormalize,
            Precision::F16 => ShaderId::FrobeniusNormalizeToF16,
        };
        require_shader(engine, shader)?;
        for o in offsets {
            check_fits("normalize source", src, o.src, len as u64)?;
            check_fits_as("normalize destination", dst, o.dst, len as u64, output)?;
        }
        let limit = engine.limits().max_compute_workgroups_per_dimension;
        if offsets.is_empty() || offsets.len() as u32 > limit {
            return Err(Error::OverLimit {
                what: "normalize batch".into(),
                size: offsets.len() as u64,
                limit: limit as u64,
            });
        }
        if let Some(c) = clamp {
            check_fits(
                "clamp thresholds",
                c.thresholds,
                c.base,
                offsets.len() as u64,
            )?;
        }
        let kernel = engine.kernel(shader, "main", &[("CLAMP", clamp.is_some() as u8 as f64)]);
        let p = NormalizeParams {
            len,
            factor,
            clamp_base: clamp.map_or(0, |c| c.base),
            ..Default::default()
        };
        let params = engine.create_buffer(
            "normalize params",
            16,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        engine
            .queue()
            .write_buffer(&params, 0, bytemuck::bytes_of(&p));
        let offs = engine.create_buffer(
            "normalize offsets",
            std::mem::size_of_val(offsets) as u64,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        engine
            .queue()
            .write_buffer(&offs, 0, bytemuck::cast_slice(offsets));
        // Without a clamp the thresholds binding is never read; the offsets stand in.
        let thresholds = clamp.map_or(&offs, |c| c.thresholds);
        let bind_group = engine.bind_buffers(
            "frobenius_normalize",
            &kernel.layout,
            &[&params, &offs, src, dst, thresholds],
        );
        Ok(Normalize {
            dispatch: Dispatch {
                label: shader.path(),
                pipeline: kernel.pipeline,
                bind_group,
                workgroups: [offsets.len() as u32, 1, 1],
            },
        })
    }

    pub fn record(&self, rec: &mut StepRecorder) {
        rec.push(self.dispatch.clone());
    }
}

/// Newton–Schulz over a batch of same-shape rows×cols matrices: reads `input` at
/// `input_offsets`, writes the approximate polar factors to `output` at `output_offsets`.
#[derive(Debug)]
pub struct NewtonSchulzPlan {
    normalize: Normalize,
    steps: Vec<[Matmul; 3]>,
    pub rows: u32,
    pub cols: u32,
    pub batch: u32,
    _scratch: Vec<wgpu::Buffer>,
}

impl NewtonSchulzPlan {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: &Engine,
        rows: u32,
        cols: u32,
        coefficients: &[(f32, f32, f32)],
        norm_factor: f32,
        input: &wgpu::Buffer,
        input_offsets: &[u32],
        output: &wgpu::Buffer,
        output_offsets: &[u32],
    ) -> Result<NewtonSchulzPlan> {
        Self::new_clamped(
            engine,
            rows,
            cols,
            coefficients,
            norm_factor,
            (input, input_offsets),
            (output, output_offsets),
            None,
            Precision::F32,
        )
    }

    /// As [`NewtonSchulzPlan::new`], with ROOT's clamp fused into the normalisation and the
    /// iterates stored in `precision` (input and output stay f32).
    #[allow(clippy::too_many_arguments)]
    pub fn new_clamped(
        engine: &Engine,
        rows: u32,
        cols: u32,
        coefficients: &[(f32, f32, f32)],
        norm_factor: f32,
        (input, input_offsets): (&wgpu::Buffer, &[u32]),
        (output, output_offsets): (&wgpu::Buffer, &[u32]),
        clamp: Option<Clamp<'_>>,
        precision: Precision,
    ) -> Result<NewtonSchulzPlan> {
        if input_offsets.len() != output_offsets.len() {
            return Err(Error::ShapeMismatch {
                name: "newton-schulz batch".into(),
                expected: format!("{} outputs", input_offsets.len()),
                got: format!("{}", output_offsets.len()),
            });
        }
        let batch = input_offsets.len() as u32;
        let len = rows as u64 * cols as u64;
        let short = rows.min(cols);
        let tall = rows > cols;
        let storage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let bytes = |n: u64| -> Result<u64> {
            let b = (n * batch as u64 * bytes_per(precision)).div_ceil(4) * 4;
            if b > engine.chunk_bytes() || n * batch as u64 > u32::MAX as u64 {
                return Err(Error::OverLimit {
                    what: format!("Newton–Schulz scratch for {batch} × {rows}×{cols}"),
                    size: b,
                    limit: engine.chunk_bytes(),
                });
            }
            Ok(b)
        };
        let x = [
            engine.create_buffer("ns x0", bytes(len)?, storage),
            engine.create_buffer("ns x1", bytes(len)?, storage),
        ];
        let gram = engine.create_buffer("ns gram", bytes(short as u64 * short as u64)?, storage);
        let poly = engine.create_buffer("ns poly", bytes(short as u64 * short as u64)?, storage);
        let slot = |i: usize, n: u64| (i as u64 * n) as u32;
        let steps_n = coefficients.len();
        // Normalise into x0, or straight into the output when there are no steps.
        let norm_offsets: Vec<NormalizeOffsets> = (0..batch as usize)
            .map(|i| NormalizeOffsets {
                src: input_offsets[i],
                dst: if steps_n == 0 {
                    output_offsets[i]
                } else {
                    slot(i, len)
                },
            })
            .collect();
        let norm_dst = if steps_n == 0 { output } else { &x[0] };
        let inner = Storage {
            input: precision,
            output: precision,
        };
        let last_storage = Storage {
            input: precision,
            output: Precision::F32,
        };
        let normalize = Normalize::new_clamped(
            engine,
            len as u32,
            norm_factor,
            input,
            norm_dst,
            &norm_offsets,
            clamp,
            if steps_n == 0 {
                Precision::F32
            } else {
                precision
            },
        )?;
        let ss = short as u64 * short as u64;
        let mut steps = Vec::with_capacity(steps_n);
        for (t, &(a, b, c)) in coefficients.iter().enumerate() {
            let cur = &x[t % 2];
            let last = t + 1 == steps_n;
            let next = if last { output } else { &x[(t + 1) % 2] };
            let gram_offsets: Vec<GemmOffsets> = (0..batch as usize)
                .map(|i| GemmOffsets {
                    a: slot(i, len),
                    b: slot(i, len),
                    c: 0,
                    d: slot(i, ss),
                })
                .collect();
            let g = Matmul::gram_with(
                engine,
                &MatmulSpec {
                    m: short,
                    n: short,
                    k: rows.max(cols),
                    trans_a: tall,
                    trans_b: !tall,
                    alpha: 1.0,
                    beta: 0.0,
                    a: cur,
                    b: cur,
                    c: None,
                    d: &gram,
                    offsets: &gram_offsets,
                },
                inner,
            )?;
            let poly_offsets: Vec<GemmOffsets> = (0..batch as usize)
                .map(|i| GemmOffsets {
                    a: slot(i, ss),
                    b: slot(i, ss),
                    c: slot(i, ss),
                    d: slot(i, ss),
                })
                .collect();
            // B = c·G·G + b·G
            let p = Matmul::gemm_with(
                engine,
                &MatmulSpec {
                    m: short,
                    n: short,
                    k: short,
                    trans_a: false,
                    trans_b: false,
                    alpha: c,
                    beta: b,
                    a: &gram,
                    b: &gram,
                    c: Some(&gram),
                    d: &poly,
                    offsets: &poly_offsets,
                },
                inner,
            )?;
            // X' = B·X + a·X (wide) or X·B + a·X (tall)
            let update_offsets: Vec<GemmOffsets> = (0..batch as usize)
                .map(|i| {
                    let (pa, pb) = if tall {
                        (slot(i, len), slot(i, ss))
                    } else {
                        (slot(i, ss), slot(i, len))
                    };
                    GemmOffsets {
                        a: pa,
                        b: pb,
                        c: slot(i, len),
                        d: if last {
                            output_offsets[i]
                        } else {
                            slot(i, len)
                        },
                    }
                })
                .collect();
            let (ua, ub, uk) = if tall {
                (cur, &poly, cols)
            } else {
                (&poly, cur, rows)
            };
            let u = Matmul::gemm_with(
                engine,
                &MatmulSpec {
                    m: rows,
                    n: cols,
                    k: uk,
                    trans_a: false,
                    trans_b: false,
                    alpha: 1.0,
                    beta: a,
                    a: ua,
                    b: ub,
                    c: Some(cur),
                    d: next,
                    offsets: &update_offsets,
                },
                if last { last_storage } else { inner },
            )?;
            steps.push([g, p, u]);
        }
        let mut scratch = x.to_vec();
        scratch.push(gram);
        scratch.push(poly);
        Ok(NewtonSchulzPlan {
            normalize,
            steps,
            rows,
            cols,
            batch,
            _scratch: scratch,
        })
    }

    /// Dispatches of one orthogonalisation: 1 + 3 per step.
    pub fn record(&self, rec: &mut StepRecorder) {
        self.normalize.record(rec);
        for s in &self.steps {
            for m in s {
                m.record(rec);
            }
        }
    }

    /// Useful FLOPs per run (the Gram counted at the half it computes).
    pub fn flops(&self) -> f64 {
        self.steps
            .iter()
            .map(|[g, p, u]| g.flops() / 2.0 + p.flops() + u.flops())
            .sum()
    }
}
