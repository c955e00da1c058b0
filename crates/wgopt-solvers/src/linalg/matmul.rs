//! Batched GEMM and symmetric Gram with per-batch offsets, over f32 or f16 storage with f32
//! accumulation, on the SIMT core the engine's autotune chooses — the 64×64 core
//! (`shaders/linalg/gemm.wgsl`, `gram.wgsl` on `tile_core.wgsl`) or a generated 128×128 or
//! 64×128 core (`gemm_128.wgsl`, `gemm_64x128.wgsl`, … from [`super::tile_128`]) — or, for
//! f16 inputs where the engine enabled them, on tensor cores (`gemm_coop.wgsl`). All include
//! `product_common.wgsl` (bindings, loads, epilogue). Created once; recording allocates
//! nothing on the GPU. Reference twins: `wgopt_reference::linalg::{gemm, gram}`.

use super::tile_128::{Shape, TILE as TILE_128};
use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Precision, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::{Dispatch, StepRecorder};
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// Bindings, loads and epilogue of every product kernel.
pub static PRODUCT_COMMON: Wgsl = wgsl!("linalg/product_common.wgsl");
/// The 64×64 tile core (k-slices and staging chosen by the autotune).
pub static TILE_CORE: Wgsl = wgsl!("linalg/tile_core.wgsl");
/// Helpers of the generated 128×128 and 64×128 cores.
pub static TILE_128_COMMON: Wgsl = wgsl!("linalg/tile_128_common.wgsl");

const PRODUCT_BINDINGS: &[wgopt_scheduler::kernel::Access] = &[U, R, R, R, R, W];
const PRODUCT_TWINS: &[wgopt_scheduler::kernel::StructLayout] =
    &[GemmParams::LAYOUT, GemmOffsets::LAYOUT];
const CORE_64: &[&Wgsl] = &[&PRODUCT_COMMON, &TILE_CORE];
const CORE_128: &[&Wgsl] = &[&PRODUCT_COMMON, &TILE_128_COMMON];
const CORE_COOP: &[&Wgsl] = &[&PRODUCT_COMMON];

macro_rules! product_kernel {
    ($name:ident, $file:literal, $core:ident, $input:ident, $output:ident, $doc:literal) => {
        #[doc = $doc]
        pub static $name: Kernel = Kernel::new(wgsl!($file), $core, PRODUCT_BINDINGS)
            .twins(PRODUCT_TWINS)
            .storage(Precision::$input, Precision::$output)
            // Every core stores each entry of its shared tiles that it reads (zeros past the
            // matrix edges) before the barrier that precedes the reads.
            .writes_shared_first();
    };
}

product_kernel!(
    GEMM,
    "linalg/gemm.wgsl",
    CORE_64,
    F32,
    F32,
    "`linalg/gemm.wgsl` over f32: params, offsets, a, b, c, d."
);
product_kernel!(
    GEMM_F16,
    "linalg/gemm.wgsl",
    CORE_64,
    F16,
    F16,
    "`linalg/gemm.wgsl` over f16 storage (f32 accumulation)."
);
product_kernel!(
    GEMM_F16_TO_F32,
    "linalg/gemm.wgsl",
    CORE_64,
    F16,
    F32,
    "`linalg/gemm.wgsl` reading f16, writing f32 (the last Newton–Schulz step)."
);
product_kernel!(
    GRAM,
    "linalg/gram.wgsl",
    CORE_64,
    F32,
    F32,
    "`linalg/gram.wgsl` over f32."
);
product_kernel!(
    GRAM_F16,
    "linalg/gram.wgsl",
    CORE_64,
    F16,
    F16,
    "`linalg/gram.wgsl` over f16 storage."
);
product_kernel!(
    GEMM_128,
    "linalg/gemm_128.wgsl",
    CORE_128,
    F32,
    F32,
    "`linalg/gemm_128.wgsl` (generated 128×128 core) over f32."
);
product_kernel!(
    GEMM_128_F16,
    "linalg/gemm_128.wgsl",
    CORE_128,
    F16,
    F16,
    "`linalg/gemm_128.wgsl` over f16 storage (f32 accumulation)."
);
product_kernel!(
    GEMM_128_F16_TO_F32,
    "linalg/gemm_128.wgsl",
    CORE_128,
    F16,
    F32,
    "`linalg/gemm_128.wgsl` reading f16, writing f32."
);
product_kernel!(
    GRAM_128,
    "linalg/gram_128.wgsl",
    CORE_128,
    F32,
    F32,
    "`linalg/gram_128.wgsl` (generated 128×128 core) over f32."
);
product_kernel!(
    GRAM_128_F16,
    "linalg/gram_128.wgsl",
    CORE_128,
    F16,
    F16,
    "`linalg/gram_128.wgsl` over f16 storage."
);

product_kernel!(
    GEMM_64X128,
    "linalg/gemm_64x128.wgsl",
    CORE_128,
    F32,
    F32,
    "`linalg/gemm_64x128.wgsl` (generated 64×128 core) over f32."
);
product_kernel!(
    GEMM_64X128_F16,
    "linalg/gemm_64x128.wgsl",
    CORE_128,
    F16,
    F16,
    "`linalg/gemm_64x128.wgsl` over f16 storage (f32 accumulation)."
);
product_kernel!(
    GEMM_64X128_F16_TO_F32,
    "linalg/gemm_64x128.wgsl",
    CORE_128,
    F16,
    F32,
    "`linalg/gemm_64x128.wgsl` reading f16, writing f32."
);
product_kernel!(
    GRAM_64X128,
    "linalg/gram_64x128.wgsl",
    CORE_128,
    F32,
    F32,
    "`linalg/gram_64x128.wgsl` (generated 64×128 core) over f32."
);
product_kernel!(
    GRAM_64X128_F16,
    "linalg/gram_64x128.wgsl",
    CORE_128,
    F16,
    F16,
    "`linalg/gram_64x128.wgsl` over f16 storage."
);

product_kernel!(
    GEMM_COOP_F16,
    "linalg/gemm_coop.wgsl",
    CORE_COOP,
    F16,
    F16,
    "`linalg/gemm_coop.wgsl` (tensor cores) over f16 storage, f32 accumulation."
);
product_kernel!(
    GEMM_COOP_F16_TO_F32,
    "linalg/gemm_coop.wgsl",
    CORE_COOP,
    F16,
    F32,
    "`linalg/gemm_coop.wgsl` reading f16, writing f32."
);

/// Every kernel of this module.
pub const KERNELS: &[&Kernel] = &[
    &GEMM,
    &GEMM_F16,
    &GEMM_F16_TO_F32,
    &GRAM,
    &GRAM_F16,
    &GEMM_128,
    &GEMM_128_F16,
    &GEMM_128_F16_TO_F32,
    &GRAM_128,
    &GRAM_128_F16,
    &GEMM_64X128,
    &GEMM_64X128_F16,
    &GEMM_64X128_F16_TO_F32,
    &GRAM_64X128,
    &GRAM_64X128_F16,
    &GEMM_COOP_F16,
    &GEMM_COOP_F16_TO_F32,
];

/// Output tile edge of the 64×64 core (gemm.wgsl / gram.wgsl); the generated cores' are
/// [`super::tile_128::Shape::rows`] × [`super::tile_128::TILE`]. [`Matmul`] takes the core
/// from the engine's tuning.
pub const GEMM_TILE: u32 = 64;

/// Uniform of the matrix-product kernels. WGSL twin in linalg/tile_core.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable, WgslStruct)]
pub struct GemmOffsets {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub d: u32,
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

pub(crate) fn check_fits(what: &str, buffer: &wgpu::Buffer, offset: u32, len: u64) -> Result<()> {
    check_fits_as(what, buffer, offset, len, Precision::F32)
}

pub(crate) fn check_fits_as(
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

pub(crate) fn bytes_per(p: Precision) -> u64 {
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

    fn gemm_kernel(self, core: Core) -> Result<&'static Kernel> {
        use Precision::{F16, F32};
        match (self.input, self.output, core) {
            (F32, F32, Core::Tile64) => Ok(&GEMM),
            (F16, F16, Core::Tile64) => Ok(&GEMM_F16),
            (F16, F32, Core::Tile64) => Ok(&GEMM_F16_TO_F32),
            (F32, F32, Core::Tile128) => Ok(&GEMM_128),
            (F16, F16, Core::Tile128) => Ok(&GEMM_128_F16),
            (F16, F32, Core::Tile128) => Ok(&GEMM_128_F16_TO_F32),
            (F32, F32, Core::Tile64x128) => Ok(&GEMM_64X128),
            (F16, F16, Core::Tile64x128) => Ok(&GEMM_64X128_F16),
            (F16, F32, Core::Tile64x128) => Ok(&GEMM_64X128_F16_TO_F32),
            (F16, F16, Core::Cooperative) => Ok(&GEMM_COOP_F16),
            (F16, F32, Core::Cooperative) => Ok(&GEMM_COOP_F16_TO_F32),
            _ => Err(Error::InvalidHyperparameter(format!(
                "no GEMM kernel reads {:?} and writes {:?}",
                self.input, self.output
            ))),
        }
    }

    /// The tensor-core kernel computes the whole square (no triangle saving).
    fn gram_kernel(self, core: Core) -> Result<&'static Kernel> {
        use Precision::{F16, F32};
        match (self.input, self.output, core) {
            (F32, F32, Core::Tile64) => Ok(&GRAM),
            (F16, F16, Core::Tile64) => Ok(&GRAM_F16),
            (F32, F32, Core::Tile128) => Ok(&GRAM_128),
            (F16, F16, Core::Tile128) => Ok(&GRAM_128_F16),
            (F32, F32, Core::Tile64x128) => Ok(&GRAM_64X128),
            (F16, F16, Core::Tile64x128) => Ok(&GRAM_64X128_F16),
            (F16, F16, Core::Cooperative) => Ok(&GEMM_COOP_F16),
            _ => Err(Error::InvalidHyperparameter(format!(
                "no Gram kernel reads {:?} and writes {:?}",
                self.input, self.output
            ))),
        }
    }
}

/// Which core runs a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// The 64×64 SIMT core (tile_core.wgsl).
    Tile64,
    /// The generated 128×128 SIMT core (gemm_128.wgsl).
    Tile128,
    /// The generated 64×128 SIMT core (gemm_64x128.wgsl).
    Tile64x128,
    /// Tensor cores through cooperative matrices (gemm_coop.wgsl; f16 storage only).
    Cooperative,
}

impl Core {
    /// The core `engine` runs products over `storage` on: tensor cores for f16 inputs where
    /// the engine enabled them, else the autotune's SIMT core.
    pub fn for_storage(engine: &Engine, storage: Storage) -> Core {
        if storage.input == Precision::F16 && engine.cooperative_f16() {
            Core::Cooperative
        } else {
            let tuning = engine.tuning();
            match (tuning.gemm_tile, tuning.gemm_tile_rows) {
                (TILE_128, Some(rows)) if rows == Shape::Wide.rows() => Core::Tile64x128,
                (TILE_128, _) => Core::Tile128,
                _ => Core::Tile64,
            }
        }
    }

    /// Output tile (rows, columns): one workgroup's block of D.
    pub fn tile(self) -> (u32, u32) {
        match self {
            Core::Tile64 => (GEMM_TILE, GEMM_TILE),
            Core::Tile128 => (Shape::Square.rows(), TILE_128),
            Core::Tile64x128 => (Shape::Wide.rows(), TILE_128),
            Core::Cooperative => (COOP_TILE, COOP_TILE),
        }
    }
}

/// Output tile edge of gemm_coop.wgsl.
const COOP_TILE: u32 = 32;

pub(crate) fn require_kernel(engine: &Engine, kernel: &Kernel) -> Result<()> {
    if kernel.needs_f16() {
        engine.require_features(wgpu::Features::SHADER_F16)?;
    }
    if kernel.needs_cooperative_matrix() {
        engine.require_features(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)?;
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
        Self::gemm_with(engine, spec, Storage::F32)
    }

    /// [`Matmul::gemm`] over other storage types (f16 needs SHADER_F16).
    pub fn gemm_with(engine: &Engine, spec: &MatmulSpec<'_>, storage: Storage) -> Result<Matmul> {
        let core = Core::for_storage(engine, storage);
        Self::build(engine, storage.gemm_kernel(core)?, core, spec)
    }

    /// [`Matmul::gram`] over other storage types (f16 needs SHADER_F16).
    pub fn gram_with(engine: &Engine, spec: &MatmulSpec<'_>, storage: Storage) -> Result<Matmul> {
        Self::check_gram(spec)?;
        let core = Core::for_storage(engine, storage);
        Self::build(engine, storage.gram_kernel(core)?, core, spec)
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
        Self::gram_with(engine, spec, Storage::F32)
    }

    fn build(engine: &Engine, kernel: &Kernel, core: Core, s: &MatmulSpec<'_>) -> Result<Matmul> {
        let batch = s.offsets.len() as u32;
        let limit = engine.limits().max_compute_workgroups_per_dimension;
        let (tile_rows, tile_cols) = core.tile();
        let (tx, ty) = (s.n.div_ceil(tile_cols), s.m.div_ceil(tile_rows));
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
                unit: "workgroups",
            });
        }
        require_kernel(engine, kernel)?;
        let (input, output) = kernel.storage.unwrap_or((Precision::F32, Precision::F32));
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
        let transposes = [
            ("TRANS_A", s.trans_a as u8 as f64),
            ("TRANS_B", s.trans_b as u8 as f64),
        ];
        let pipeline = if core != Core::Tile64 {
            // The other cores' slice depth and staging are fixed.
            engine.pipeline(kernel, &transposes)
        } else {
            let tuning = engine.tuning();
            let staging = [
                ("TILE_K", tuning.gemm_tile_k as f64),
                ("SHARED_TILES", tuning.gemm_shared_tiles as u8 as f64),
            ];
            engine.pipeline(kernel, &[transposes.as_slice(), &staging].concat())
        };
        let spec = GemmParams {
            m: s.m,
            n: s.n,
            k: s.k,
            use_c: s.c.is_some() as u32,
            alpha: s.alpha,
            beta: s.beta,
            ..Default::default()
        };
        let params = engine.upload(
            "gemm params",
            bytemuck::bytes_of(&spec),
            wgpu::BufferUsages::UNIFORM,
        );
        let offsets = engine.upload(
            "gemm offsets",
            bytemuck::cast_slice(s.offsets),
            wgpu::BufferUsages::STORAGE,
        );
        // Without C, bind A in its place (read-only; never read).
        let c = s.c.unwrap_or(s.a);
        Ok(Matmul {
            dispatch: pipeline.bind(
                engine,
                &[&params, &offsets, s.a, s.b, c, s.d],
                [tx, ty, batch],
            ),
            params,
            spec,
        })
    }

    /// Changes alpha and beta (e.g. per-step coefficients); compiles nothing.
    pub fn set_scalars(&mut self, engine: &Engine, alpha: f32, beta: f32) {
        self.spec.alpha = alpha;
        self.spec.beta = beta;
        engine.write_buffer(&self.params, 0, bytemuck::bytes_of(&self.spec));
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
