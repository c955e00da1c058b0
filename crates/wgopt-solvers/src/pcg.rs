//! Preconditioned conjugate gradient on the GPU, shared by every CG in wgopt: the Jacobi-PCG of
//! Sinkhorn–Newton–Sparse ([`crate::ot::sns`]) and Nyström PCG ([`crate::nystrom`]). Kernels:
//! `shaders/linalg/pcg_{common,scalars,update,direction}.wgsl`; reference twins:
//! `wgopt_reference::sketch::nystrom::pcg` and the CG of `wgopt_reference::ot::sns`.
//!
//! CG's state (x, r, z, p, Ap and its scalars) lives in GPU buffers that its kernels read, so
//! the host only records iterations and reads [`slot::COUNT`] floats when it wants to know
//! whether CG is done. A problem brings the product `ap = A·p` (a kernel that also writes the
//! partial sums p·ap) and, unless the preconditioner is Jacobi (fused into the update), a
//! preconditioner pass (writing z and the partial sums r·z). An iteration is: product → α →
//! update → [preconditioner →] residual test and β → direction.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::recorder::Dispatch;
use wgopt_scheduler::{wgsl, Engine, Error, Result};

/// `PcgParams`, the scalar slots and vector sections.
pub static PCG_COMMON: Wgsl = wgsl!("linalg/pcg_common.wgsl");

/// `linalg/pcg_scalars.wgsl`: params, partial, scalars.
pub static PCG_SCALARS: Kernel =
    Kernel::new(wgsl!("linalg/pcg_scalars.wgsl"), &[&PCG_COMMON], &[U, R, W])
        .twins(&[PcgParams::LAYOUT]);

/// `linalg/pcg_update.wgsl`: params, scalars, vecs, partial.
pub static PCG_UPDATE: Kernel = Kernel::new(
    wgsl!("linalg/pcg_update.wgsl"),
    &[&PCG_COMMON],
    &[U, R, W, W],
)
.twins(&[PcgParams::LAYOUT]);

/// `linalg/pcg_direction.wgsl`: params, scalars, vecs.
pub static PCG_DIRECTION: Kernel = Kernel::new(
    wgsl!("linalg/pcg_direction.wgsl"),
    &[&PCG_COMMON],
    &[U, R, W],
)
.twins(&[PcgParams::LAYOUT]);

/// Every shared CG kernel.
pub const KERNELS: &[&Kernel] = &[&PCG_SCALARS, &PCG_UPDATE, &PCG_DIRECTION];

/// Uniform of the shared kernels. WGSL twin: `PcgParams` in shaders/linalg/pcg_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct PcgParams {
    pub len: u32,
    pub parts: u32,
    pub product_parts: u32,
    pub cg_max: u32,
    pub tol2: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Scalar slots (twin: the PCG_* scalar constants of pcg_common.wgsl).
pub mod slot {
    pub const RZ: usize = 0;
    pub const PAP: usize = 1;
    pub const ALPHA: usize = 2;
    pub const BETA: usize = 3;
    pub const RR: usize = 4;
    pub const BB: usize = 5;
    pub const DONE: usize = 6;
    pub const ITS: usize = 7;
    pub const NOT_SPD: usize = 8;
    /// CG's slots; a problem's own scalars may follow.
    pub const COUNT: usize = 16;
}

/// Vector sections (twin: PCG_X … PCG_DIAG): x, r, z, p, Ap, and Jacobi's diagonal.
pub mod section {
    pub const X: usize = 0;
    pub const R: usize = 1;
    pub const Z: usize = 2;
    pub const P: usize = 3;
    pub const AP: usize = 4;
    pub const DIAG: usize = 5;
}

/// What a scalars pass computes (the `MODE` of pcg_scalars.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarsPass {
    /// After the product: α, or stop when pᵀAp ≤ 0.
    Alpha = 0,
    /// After the update: the residual test.
    Test = 1,
    /// After the start's preconditioning: rz, ‖b‖², β = 0.
    Start = 2,
    /// After a later preconditioning: β.
    Beta = 3,
    /// After a Jacobi update (which preconditions too): β, then the residual test.
    BetaTest = 4,
}

/// CG's GPU state and its shared passes; the problem records its own product and
/// preconditioner between them.
#[derive(Debug)]
pub struct Pcg {
    engine: Engine,
    params: PcgParams,
    params_buf: wgpu::Buffer,
    /// `sections` vectors of `len`, at section·len.
    pub vecs: wgpu::Buffer,
    /// CG's scalars, then the problem's own (`scalar_slots` in all).
    pub scalars: wgpu::Buffer,
    /// Partial sums (vec2) of the pass before a scalars pass.
    pub partial: wgpu::Buffer,
    scalar_slots: usize,
    jacobi: bool,
}

impl Pcg {
    /// CG over `len` unknowns whose product writes `product_parts` partial sums, with
    /// `sections` vectors (at least x … Ap, and the diagonal with `jacobi`) and `scalar_slots`
    /// scalars (at least [`slot::COUNT`]).
    pub fn new(
        engine: &Engine,
        len: usize,
        product_parts: usize,
        (sections, scalar_slots): (usize, usize),
        jacobi: bool,
    ) -> Result<Pcg> {
        let parts = len.div_ceil(256);
        let bytes = (sections * len * 4) as u64;
        if bytes > engine.chunk_bytes() || len > u32::MAX as usize / sections {
            return Err(Error::OverLimit {
                what: format!("CG vectors ({sections} × {len})"),
                size: bytes,
                limit: engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        let params = PcgParams {
            len: len as u32,
            parts: parts as u32,
            product_parts: product_parts as u32,
            cg_max: 1,
            ..PcgParams::default()
        };
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let slots = scalar_slots.max(slot::COUNT);
        Ok(Pcg {
            params_buf: engine.upload(
                "cg params",
                bytemuck::bytes_of(&params),
                wgpu::BufferUsages::UNIFORM,
            ),
            vecs: engine.create_buffer("cg vectors", bytes, usage),
            scalars: engine.create_buffer("cg scalars", (slots * 4) as u64, usage),
            partial: engine.create_buffer(
                "cg partial sums",
                (parts.max(product_parts) * 8) as u64,
                usage,
            ),
            engine: engine.clone(),
            params,
            scalar_slots: slots,
            jacobi,
        })
    }

    /// The iteration cap and the relative residual to stop at (queued).
    pub fn set_limits(&mut self, cg_max: usize, tol: f64) {
        self.params.cg_max = cg_max.clamp(1, u32::MAX as usize) as u32;
        self.params.tol2 = (tol * tol) as f32;
        self.engine
            .queue()
            .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
    }

    /// Workgroups of the length-`len` passes (256 unknowns each).
    pub fn lanes(&self) -> [u32; 3] {
        [self.params.parts.max(1), 1, 1]
    }

    /// A scalars pass.
    pub fn scalars_pass(&self, pass: ScalarsPass) -> Dispatch {
        self.engine.dispatch(
            &PCG_SCALARS,
            &[("MODE", pass as u32 as f64)],
            &[&self.params_buf, &self.partial, &self.scalars],
            [1, 1, 1],
        )
    }

    /// Sums the partial sums' first components into scalar `slot` (a problem's own reduction).
    pub fn sum_into(&self, slot: usize) -> Dispatch {
        self.engine.dispatch(
            &PCG_SCALARS,
            &[("MODE", 5.0), ("SUM_SLOT", slot as f64)],
            &[&self.params_buf, &self.partial, &self.scalars],
            [1, 1, 1],
        )
    }

    /// x += αp, r −= αAp (and z = r/diag with Jacobi).
    pub fn update(&self) -> Dispatch {
        self.engine.dispatch(
            &PCG_UPDATE,
            &[("JACOBI", self.jacobi as u8 as f64)],
            &[&self.params_buf, &self.scalars, &self.vecs, &self.partial],
            self.lanes(),
        )
    }

    /// p = z + βp.
    pub fn direction(&self) -> Dispatch {
        self.engine.dispatch(
            &PCG_DIRECTION,
            &[],
            &[&self.params_buf, &self.scalars, &self.vecs],
            self.lanes(),
        )
    }

    /// The shared passes of one iteration around the problem's `product` and, without
    /// Jacobi, its `precondition` pass.
    pub fn iteration(&self, product: Dispatch, precondition: Vec<Dispatch>) -> Vec<Dispatch> {
        let mut v = vec![
            product,
            self.scalars_pass(ScalarsPass::Alpha),
            self.update(),
        ];
        if self.jacobi {
            v.push(self.scalars_pass(ScalarsPass::BetaTest));
        } else {
            v.push(self.scalars_pass(ScalarsPass::Test));
            v.extend(precondition);
            v.push(self.scalars_pass(ScalarsPass::Beta));
        }
        v.push(self.direction());
        v
    }

    /// Every scalar, CG's and the problem's (waits).
    pub fn read_scalars(&self) -> Result<Vec<f32>> {
        read_range(&self.engine, &self.scalars, 0, self.scalar_slots as u64 * 4)
    }
}
