//! The Sinkhorn–Newton–Sparse kernels (`shaders/ot/sns_*.wgsl`) and their uniform; the
//! Sinkhorn kernels and CG's are shared ([`crate::ot::kernels`], [`crate::pcg`]).

use crate::ot::kernels::{SINKHORN_COMMON, SINKHORN_COST};
use crate::ot::OtProblemGpu;
use crate::pcg::PCG_COMMON;
use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W, Uniform as U};
use wgopt_scheduler::kernel::{Kernel, StructLayout, Wgsl, WgslStruct};
use wgopt_scheduler::wgsl;

/// `SnsParams`, the scalar slots past CG's and the CSR/CSC layout.
pub static SNS_COMMON: Wgsl = wgsl!("ot/sns_common.wgsl");
/// The log-mass bins of the binned safe rule.
pub static SNS_BIN: Wgsl = wgsl!("ot/sns_bin.wgsl");

const PARAMS: &[StructLayout] = &[SnsParams::LAYOUT];
const PARAMS_PROBLEM: &[StructLayout] = &[SnsParams::LAYOUT, OtProblemGpu::LAYOUT];
const PROBLEM: &[StructLayout] = &[OtProblemGpu::LAYOUT];

macro_rules! sns_kernel {
    ($name:ident, $file:literal, [$($inc:ident),*], [$($b:ident),*], $twins:expr, $doc:literal) => {
        #[doc = $doc]
        pub static $name: Kernel = Kernel::new(wgsl!($file), &[$(&$inc),*], &[$($b),*]).twins($twins);
    };
}

sns_kernel!(
    SNS_MARGINALS,
    "ot/sns_marginals.wgsl",
    [SINKHORN_COMMON, SINKHORN_COST, PCG_COMMON, SNS_COMMON],
    [R, R, R, W],
    PROBLEM,
    "`ot/sns_marginals.wgsl`, a slot's row or column sums: problems, cost, pot, marg."
);
sns_kernel!(
    SNS_SUMMARY,
    "ot/sns_summary.wgsl",
    [SINKHORN_COMMON, PCG_COMMON, SNS_COMMON],
    [R, R, R, R, W],
    PROBLEM,
    "`ot/sns_summary.wgsl`, a slot's error and dual: problems, logw, pot, marg, scalars."
);
sns_kernel!(
    SNS_THRESHOLD,
    "ot/sns_threshold.wgsl",
    [
        SINKHORN_COMMON,
        SINKHORN_COST,
        PCG_COMMON,
        SNS_COMMON,
        SNS_BIN
    ],
    [U, R, R, R, R, R, W],
    PARAMS_PROBLEM,
    "`ot/sns_threshold.wgsl`, each row's cut: params, problems, cost, pot, marg, scalars, pattern."
);
sns_kernel!(SNS_PATTERN, "ot/sns_pattern.wgsl", [SINKHORN_COMMON, SINKHORN_COST, PCG_COMMON, SNS_COMMON, SNS_BIN], [U, R, R, R, R, W, W, W], PARAMS_PROBLEM,
    "`ot/sns_pattern.wgsl`, count or fill CSR/CSC: params, problems, cost, pot, marg, pattern, idx, val.");
sns_kernel!(
    SNS_SCAN,
    "ot/sns_scan.wgsl",
    [PCG_COMMON, SNS_COMMON],
    [U, W, W],
    PARAMS,
    "`ot/sns_scan.wgsl`, the offsets: params, pattern, scalars."
);
sns_kernel!(SNS_SETUP, "ot/sns_setup.wgsl", [SINKHORN_COMMON, PCG_COMMON, SNS_COMMON], [U, R, R, R, R, W, W], PARAMS_PROBLEM,
    "`ot/sns_setup.wgsl`, the Newton system and CG's start: params, problems, logw, marg, scalars, vecs, partial.");
sns_kernel!(
    SNS_SPMV,
    "ot/sns_spmv.wgsl",
    [PCG_COMMON, SNS_COMMON],
    [U, R, R, R, R, W, W],
    PARAMS,
    "`ot/sns_spmv.wgsl`, CG's product: params, pattern, idx, val, scalars, vecs, partial."
);
sns_kernel!(
    SNS_TRIAL,
    "ot/sns_trial.wgsl",
    [SINKHORN_COMMON, PCG_COMMON, SNS_COMMON],
    [U, R, R, W, W],
    PARAMS_PROBLEM,
    "`ot/sns_trial.wgsl`, a line-search trial: params, problems, vecs, pot, partial."
);
sns_kernel!(
    SNS_ACCEPT,
    "ot/sns_accept.wgsl",
    [SINKHORN_COMMON, PCG_COMMON, SNS_COMMON],
    [R, W, W, W],
    PROBLEM,
    "`ot/sns_accept.wgsl`, the trial becomes current: problems, pot, marg, scalars."
);

/// Every SNS kernel (the Sinkhorn and CG ones are shared).
pub const KERNELS: &[&Kernel] = &[
    &SNS_MARGINALS,
    &SNS_SUMMARY,
    &SNS_THRESHOLD,
    &SNS_PATTERN,
    &SNS_SCAN,
    &SNS_SETUP,
    &SNS_SPMV,
    &SNS_TRIAL,
    &SNS_ACCEPT,
];

/// The kernels' uniform. WGSL twin: `SnsParams` in shaders/ot/sns_common.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct SnsParams {
    pub n: u32,
    pub m: u32,
    pub cap: u32,
    pub cap_total: u32,
    pub parts: u32,
    pub _pad0: u32,
    pub nu: f32,
    pub alpha: f32,
    pub _pad1: u32,
    pub _pad2: u32,
    pub _pad3: u32,
    pub _pad4: u32,
}
