//! Kernel declarations. Each WGSL kernel is declared once, as a `static` [`Kernel`] in the
//! module of the family that launches it (`wgopt_optim::adam::KERNEL`,
//! `wgopt_solvers::ot::plan::SINKHORN_UPDATE`, …): its own file under `shaders/`, the shared
//! files composed before it, the access of each binding (group 0, numbered from 0), and the
//! Rust twins of the structs it reads. The runtime names none of the solver or optimizer
//! kernels; it compiles whatever declaration it is handed ([`Engine::pipeline`]) and caches the
//! result.
//!
//! A test (`tests/shaders.rs` at the workspace root) walks every declaration: each composed
//! source validates with naga, the declared bindings match the WGSL globals, every struct a
//! binding reads has its Rust twin listed and the twin's field names, offsets and size equal
//! naga's, and every file under `shaders/` belongs to some kernel.
//!
//! [`Engine::pipeline`]: crate::Engine::pipeline

pub use wgopt_derive::WgslStruct;
pub use wgopt_reference::linalg::Precision;

/// How a kernel accesses one binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Uniform,
    ReadOnly,
    ReadWrite,
}

/// One WGSL file under `shaders/`, embedded at compile time by [`wgsl!`](crate::wgsl).
#[derive(Debug)]
pub struct Wgsl {
    /// Path under `shaders/`, e.g. `optim/adam.wgsl`.
    pub path: &'static str,
    pub text: &'static str,
}

/// Embeds `shaders/<path>` as a [`Wgsl`] (the path is relative to the workspace's `shaders/`
/// directory, from any crate under `crates/`).
#[macro_export]
macro_rules! wgsl {
    ($path:literal) => {
        $crate::kernel::Wgsl {
            path: $path,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shaders/",
                $path
            )),
        }
    };
}

/// The memory layout of a Rust twin of a WGSL struct (see [`WgslStruct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructLayout {
    /// The WGSL struct's name.
    pub name: &'static str,
    pub size: usize,
    /// (member name, byte offset) in declaration order.
    pub fields: &'static [(&'static str, usize)],
}

/// A `#[repr(C)]` struct that mirrors a WGSL struct; `#[derive(WgslStruct)]` writes the layout.
pub trait WgslStruct {
    const LAYOUT: StructLayout;
}

/// One compute kernel (entry point `main`).
#[derive(Debug)]
pub struct Kernel {
    /// The kernel's own file.
    pub file: Wgsl,
    /// Shared declarations composed before it, in order.
    pub includes: &'static [&'static Wgsl],
    /// Access of bindings 0, 1, … of group 0.
    pub bindings: &'static [Access],
    /// Rust twins of the structs its bindings read or write.
    pub twins: &'static [StructLayout],
    /// Binding structs the host never writes or reads field by field (no twin needed).
    pub gpu_only: &'static [&'static str],
    /// Storage types `(StoreIn, StoreOut)` of the linear-algebra kernels: a two-line prelude
    /// aliases them, so one source serves f32 and f16.
    pub storage: Option<(Precision, Precision)>,
    /// Keep wgpu's runtime checks (bounds clamping, loop bounding) for this kernel even when
    /// the engine compiles unchecked. Kernels are unchecked by default: each one's indexing is
    /// proven by its parity test on awkward sizes, run in CI both unchecked and with
    /// `WGOPT_CHECKED_SHADERS=1`, and its loops are bounded by sizes from its uniforms.
    pub checked: bool,
    /// The kernel writes every workgroup-memory word before reading it, so wgpu need not zero
    /// workgroup memory at its start (the GEMM tile core).
    pub writes_shared_first: bool,
}

impl Kernel {
    pub const fn new(
        file: Wgsl,
        includes: &'static [&'static Wgsl],
        bindings: &'static [Access],
    ) -> Kernel {
        Kernel {
            file,
            includes,
            bindings,
            twins: &[],
            gpu_only: &[],
            storage: None,
            checked: false,
            writes_shared_first: false,
        }
    }

    /// Keeps wgpu's runtime checks for this kernel (see [`Kernel::checked`]).
    pub const fn checked(self) -> Kernel {
        Kernel {
            checked: true,
            ..self
        }
    }

    /// Skips the zeroing of workgroup memory (see [`Kernel::writes_shared_first`]).
    pub const fn writes_shared_first(self) -> Kernel {
        Kernel {
            writes_shared_first: true,
            ..self
        }
    }

    /// The Rust twins of the structs its bindings use.
    pub const fn twins(self, twins: &'static [StructLayout]) -> Kernel {
        Kernel { twins, ..self }
    }

    /// Binding structs that exist only on the GPU.
    pub const fn gpu_only(self, gpu_only: &'static [&'static str]) -> Kernel {
        Kernel { gpu_only, ..self }
    }

    /// Storage types of a linear-algebra kernel.
    pub const fn storage(self, input: Precision, output: Precision) -> Kernel {
        Kernel {
            storage: Some((input, output)),
            ..self
        }
    }

    /// The file path, used as the label of its pipelines and dispatches.
    pub fn label(&self) -> &'static str {
        self.file.path
    }

    /// True when the kernel stores f16 (needs SHADER_F16).
    pub fn needs_f16(&self) -> bool {
        self.storage
            .is_some_and(|(i, o)| i == Precision::F16 || o == Precision::F16)
    }

    /// The composed source: the precision prelude (linear algebra only), the includes, the file.
    /// WGSL wants every `enable` directive before the first declaration, so the parts'
    /// directives (a file's `enable wgpu_cooperative_matrix;`) are hoisted above everything.
    pub fn source(&self) -> String {
        let name = |p: Precision| match p {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        };
        let mut directives = String::new();
        if self.needs_f16() {
            directives.push_str("enable f16;\n");
        }
        let mut s = match self.storage {
            Some((i, o)) => format!(
                "alias StoreIn = {};\nalias StoreOut = {};\n",
                name(i),
                name(o)
            ),
            None => String::new(),
        };
        for part in self.includes.iter().map(|w| w.text).chain([self.file.text]) {
            for line in part.lines() {
                if line.starts_with("enable ") {
                    if !directives.lines().any(|d| d == line) {
                        directives.push_str(line);
                        directives.push('\n');
                    }
                } else {
                    s.push_str(line);
                    s.push('\n');
                }
            }
        }
        directives + &s
    }

    /// WGSL extensions the composed source enables (beyond `f16`), e.g.
    /// `wgpu_cooperative_matrix`.
    pub fn needs_cooperative_matrix(&self) -> bool {
        self.includes
            .iter()
            .map(|w| w.text)
            .chain([self.file.text])
            .any(|t| {
                t.lines()
                    .any(|l| l.trim() == "enable wgpu_cooperative_matrix;")
            })
    }

    /// Identity of the compiled module: a file compiled at one storage pair.
    pub(crate) fn key(&self) -> (&'static str, Option<(Precision, Precision)>) {
        (self.file.path, self.storage)
    }
}

/// Shared declarations composed into many kernels (`shaders/common/`).
pub mod common {
    use super::Wgsl;

    /// `StepStats`, the guard's verdict every update kernel binds.
    pub static STEP_STATS: Wgsl = crate::wgsl!("common/step_stats.wgsl");
    /// The non-finite test of the guard.
    pub static NON_FINITE: Wgsl = crate::wgsl!("common/non_finite.wgsl");
    /// Grid-stride loops of elementwise kernels (`WORKGROUP_SIZE`, `first_index`).
    pub static GRID_STRIDE: Wgsl = crate::wgsl!("common/grid_stride.wgsl");
    /// `Partial`, a reduction's per-tile result.
    pub static PARTIAL: Wgsl = crate::wgsl!("common/partial.wgsl");
    /// torch's `lerp` (weight < 0.5 from the start, else from the end).
    pub static TORCH_LERP: Wgsl = crate::wgsl!("common/torch_lerp.wgsl");
    /// Philox4x32-10 and its uniform/Rademacher/Gaussian draws.
    pub static PHILOX: Wgsl = crate::wgsl!("common/philox.wgsl");
    /// `ElementBlock`: workgroup w updates block w of one parameter.
    pub static ELEMENT_BLOCK: Wgsl = crate::wgsl!("common/element_block.wgsl");
}
