//! One Newton–Schulz plan: a batch of same-shape rows×cols matrices read from one buffer,
//! normalised, iterated, and written to another (or the same) buffer. Per step: the Gram on the
//! short side (XXᵀ for wide X, XᵀX for tall X), the polynomial B = c·G² + b·G fused into one
//! GEMM, and the update X' = B·X + a·X (X·B + a·X when tall) fused into another. All buffers,
//! pipelines and bind groups are made here; recording allocates nothing.

use super::normalize::{Clamp, Normalize, NormalizeOffsets};
use crate::linalg::matmul::{bytes_per, GemmOffsets, Matmul, MatmulSpec, Storage};
use wgopt_scheduler::kernel::Precision;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

/// What a plan computes.
#[derive(Debug, Clone, Copy)]
pub struct NewtonSchulzSpec<'a> {
    pub rows: u32,
    pub cols: u32,
    /// (a, b, c) of each step, in order.
    pub coefficients: &'a [(f32, f32, f32)],
    /// X₀ = X / (norm_factor·‖X‖_F + 1e-7) (Polar Express's safety factor; 1 elsewhere).
    pub norm_factor: f32,
    /// The matrices' buffer and the offset (floats) of each.
    pub input: (&'a wgpu::Buffer, &'a [u32]),
    /// Where the polar factors go (may be the input: in place).
    pub output: (&'a wgpu::Buffer, &'a [u32]),
    /// ROOT's soft-threshold before the normalisation.
    pub clamp: Option<Clamp<'a>>,
    /// Storage of the iterates (input and output stay f32).
    pub precision: Precision,
}

impl<'a> NewtonSchulzSpec<'a> {
    /// `coefficients` over f32 iterates, no clamp, factor 1.
    pub fn new(
        rows: u32,
        cols: u32,
        coefficients: &'a [(f32, f32, f32)],
        input: (&'a wgpu::Buffer, &'a [u32]),
        output: (&'a wgpu::Buffer, &'a [u32]),
    ) -> Self {
        NewtonSchulzSpec {
            rows,
            cols,
            coefficients,
            norm_factor: 1.0,
            input,
            output,
            clamp: None,
            precision: Precision::F32,
        }
    }

    fn batch(&self) -> u32 {
        self.input.1.len() as u32
    }

    fn len(&self) -> u64 {
        self.rows as u64 * self.cols as u64
    }

    fn short(&self) -> u32 {
        self.rows.min(self.cols)
    }

    fn tall(&self) -> bool {
        self.rows > self.cols
    }
}

/// The iterates (two, alternating), the Gram and the polynomial, for the whole batch.
#[derive(Debug)]
struct Scratch {
    x: [wgpu::Buffer; 2],
    gram: wgpu::Buffer,
    poly: wgpu::Buffer,
}

impl Scratch {
    fn new(engine: &Engine, s: &NewtonSchulzSpec<'_>) -> Result<Scratch> {
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        let batch = s.batch() as u64;
        let buffer = |label: &str, n: u64| -> Result<wgpu::Buffer> {
            let b = (n * batch * bytes_per(s.precision)).div_ceil(4) * 4;
            if b > engine.chunk_bytes() || n * batch > u32::MAX as u64 {
                return Err(Error::OverLimit {
                    what: format!("Newton–Schulz scratch for {batch} × {}×{}", s.rows, s.cols),
                    size: b,
                    limit: engine.chunk_bytes(),
                    unit: "bytes",
                });
            }
            Ok(engine.create_buffer(label, b, usage))
        };
        let ss = s.short() as u64 * s.short() as u64;
        Ok(Scratch {
            x: [buffer("ns x0", s.len())?, buffer("ns x1", s.len())?],
            gram: buffer("ns gram", ss)?,
            poly: buffer("ns poly", ss)?,
        })
    }
}

/// Newton–Schulz over a batch of same-shape matrices.
#[derive(Debug)]
pub struct NewtonSchulzPlan {
    normalize: Normalize,
    steps: Vec<[Matmul; 3]>,
    pub rows: u32,
    pub cols: u32,
    pub batch: u32,
    _scratch: Scratch,
}

/// D = alpha·A·B + beta·C over `offsets`, m × n × k.
fn product<'a>(
    (m, n, k): (u32, u32, u32),
    (alpha, beta): (f32, f32),
    (a, b, c): (&'a wgpu::Buffer, &'a wgpu::Buffer, Option<&'a wgpu::Buffer>),
    d: &'a wgpu::Buffer,
    offsets: &'a [GemmOffsets],
) -> MatmulSpec<'a> {
    MatmulSpec {
        m,
        n,
        k,
        trans_a: false,
        trans_b: false,
        alpha,
        beta,
        a,
        b,
        c,
        d,
        offsets,
    }
}

/// Offset (floats) of batch entry `i` in a scratch buffer of `n`-float matrices.
fn at(i: usize, n: u64) -> u32 {
    (i as u64 * n) as u32
}

impl NewtonSchulzPlan {
    pub fn new(engine: &Engine, s: &NewtonSchulzSpec<'_>) -> Result<NewtonSchulzPlan> {
        if s.input.1.len() != s.output.1.len() {
            return Err(Error::ShapeMismatch {
                name: "newton-schulz batch".into(),
                expected: format!("{} outputs", s.input.1.len()),
                got: format!("{}", s.output.1.len()),
            });
        }
        let scratch = Scratch::new(engine, s)?;
        let normalize = Self::normalize(engine, s, &scratch)?;
        let steps = (0..s.coefficients.len())
            .map(|t| Self::step(engine, s, &scratch, t))
            .collect::<Result<_>>()?;
        Ok(NewtonSchulzPlan {
            normalize,
            steps,
            rows: s.rows,
            cols: s.cols,
            batch: s.batch(),
            _scratch: scratch,
        })
    }

    /// Normalise into x0, or straight into the output when there are no steps.
    fn normalize(engine: &Engine, s: &NewtonSchulzSpec<'_>, x: &Scratch) -> Result<Normalize> {
        let direct = s.coefficients.is_empty();
        let offsets: Vec<NormalizeOffsets> = (0..s.batch() as usize)
            .map(|i| NormalizeOffsets {
                src: s.input.1[i],
                dst: if direct {
                    s.output.1[i]
                } else {
                    at(i, s.len())
                },
            })
            .collect();
        let (dst, precision) = if direct {
            (s.output.0, Precision::F32)
        } else {
            (&x.x[0], s.precision)
        };
        Normalize::with(
            engine,
            (s.len() as u32, s.norm_factor),
            (s.input.0, dst, &offsets),
            s.clamp,
            precision,
        )
    }

    /// Step `t`'s three products: Gram, polynomial, update.
    fn step(
        engine: &Engine,
        s: &NewtonSchulzSpec<'_>,
        x: &Scratch,
        t: usize,
    ) -> Result<[Matmul; 3]> {
        let (a, b, c) = s.coefficients[t];
        let (len, short, tall) = (s.len(), s.short(), s.tall());
        let ss = short as u64 * short as u64;
        let last = t + 1 == s.coefficients.len();
        let cur = &x.x[t % 2];
        let next = if last { s.output.0 } else { &x.x[(t + 1) % 2] };
        let inner = Storage {
            input: s.precision,
            output: s.precision,
        };
        let out_storage = if last {
            Storage {
                input: s.precision,
                output: Precision::F32,
            }
        } else {
            inner
        };
        let batch = 0..s.batch() as usize;
        let offsets = |f: &dyn Fn(usize) -> GemmOffsets| batch.clone().map(f).collect::<Vec<_>>();
        let gram_offsets = offsets(&|i| GemmOffsets {
            a: at(i, len),
            b: at(i, len),
            c: 0,
            d: at(i, ss),
        });
        let poly_offsets = offsets(&|i| GemmOffsets {
            a: at(i, ss),
            b: at(i, ss),
            c: at(i, ss),
            d: at(i, ss),
        });
        let update_offsets = offsets(&|i| {
            let (pa, pb) = if tall {
                (at(i, len), at(i, ss))
            } else {
                (at(i, ss), at(i, len))
            };
            let d = if last { s.output.1[i] } else { at(i, len) };
            GemmOffsets {
                a: pa,
                b: pb,
                c: at(i, len),
                d,
            }
        });
        // G = X·Xᵀ (wide) or Xᵀ·X (tall), on the short side.
        let gram = MatmulSpec {
            trans_a: tall,
            trans_b: !tall,
            ..product(
                (short, short, s.rows.max(s.cols)),
                (1.0, 0.0),
                (cur, cur, None),
                &x.gram,
                &gram_offsets,
            )
        };
        // B = c·G·G + b·G, through the symmetric kernel: G is symmetric (the Gram kernel
        // mirrors it bit for bit), so G·G = G·Gᵀ and B is symmetric too — one triangle of
        // tiles computed and mirrored, the same products in the same order as a full GEMM.
        let poly = MatmulSpec {
            trans_a: false,
            trans_b: true,
            ..product(
                (short, short, short),
                (c, b),
                (&x.gram, &x.gram, Some(&x.gram)),
                &x.poly,
                &poly_offsets,
            )
        };
        // X' = B·X + a·X (wide) or X·B + a·X (tall)
        let (ua, ub, uk) = if tall {
            (cur, &x.poly, s.cols)
        } else {
            (&x.poly, cur, s.rows)
        };
        let update = product(
            (s.rows, s.cols, uk),
            (1.0, a),
            (ua, ub, Some(cur)),
            next,
            &update_offsets,
        );
        Ok([
            Matmul::gram_with(engine, &gram, inner)?,
            Matmul::gram_with(engine, &poly, inner)?,
            Matmul::gemm_with(engine, &update, out_storage)?,
        ])
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

    /// Useful FLOPs per run, both symmetric products counted at the half they compute: per
    /// step (short side m, long side n) m²n for the Gram, m³ for the polynomial (2m³ when it
    /// was a full GEMM) and 2m²n for the update.
    pub fn flops(&self) -> f64 {
        self.steps
            .iter()
            .map(|[g, p, u]| g.flops() / 2.0 + p.flops() / 2.0 + u.flops())
            .sum()
    }
}
