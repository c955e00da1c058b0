//! The Sinkhorn kernels (`shaders/ot/sinkhorn_*.wgsl`), shared by [`super::plan`] and the
//! Sinkhorn warm-up of [`super::sns`].

use super::problem::OtProblemGpu;
use wgopt_scheduler::kernel::Access::{ReadOnly as R, ReadWrite as W};
use wgopt_scheduler::kernel::{Kernel, Wgsl, WgslStruct};
use wgopt_scheduler::wgsl;

/// `OtProblem` (one problem of the batch) and the log-sum-exp helpers.
pub static SINKHORN_COMMON: Wgsl = wgsl!("ot/sinkhorn_common.wgsl");
/// Dense or point-cloud costs, chosen by the `COST` override.
pub static SINKHORN_COST: Wgsl = wgsl!("ot/sinkhorn_cost.wgsl");

const PROBLEM: &[wgopt_scheduler::kernel::StructLayout] = &[OtProblemGpu::LAYOUT];

/// `ot/sinkhorn_update.wgsl`, one half-iteration: problems, cost, logw, pot.
pub static SINKHORN_UPDATE: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_update.wgsl"),
    &[&SINKHORN_COMMON, &SINKHORN_COST],
    &[R, R, R, W],
)
.twins(PROBLEM);

/// `ot/sinkhorn_columns.wgsl`, the check's column sums: problems, cost, logw, pot, columns.
pub static SINKHORN_COLUMNS: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_columns.wgsl"),
    &[&SINKHORN_COMMON, &SINKHORN_COST],
    &[R, R, R, R, W],
)
.twins(PROBLEM);

/// `ot/sinkhorn_summary.wgsl`: problems, logw, pot, columns, summary.
pub static SINKHORN_SUMMARY: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_summary.wgsl"),
    &[&SINKHORN_COMMON],
    &[R, R, R, R, W],
)
.twins(PROBLEM);

/// `ot/sinkhorn_apply.wgsl`, P·v or Pᵀ·u: problems, cost, pot, input, output.
pub static SINKHORN_APPLY: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_apply.wgsl"),
    &[&SINKHORN_COMMON, &SINKHORN_COST],
    &[R, R, R, R, W],
)
.twins(PROBLEM);

/// `ot/sinkhorn_plan.wgsl`, the dense plan: problems, cost, pot, plan_offsets, plan.
pub static SINKHORN_PLAN: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_plan.wgsl"),
    &[&SINKHORN_COMMON, &SINKHORN_COST],
    &[R, R, R, R, W],
)
.twins(PROBLEM);

/// Every Sinkhorn kernel.
pub const KERNELS: &[&Kernel] = &[
    &SINKHORN_UPDATE,
    &SINKHORN_COLUMNS,
    &SINKHORN_SUMMARY,
    &SINKHORN_APPLY,
    &SINKHORN_PLAN,
];
