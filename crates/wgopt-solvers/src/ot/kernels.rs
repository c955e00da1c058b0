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

/// Potential entries one workgroup of sinkhorn_update.wgsl updates (its `UPDATE_ROWS`).
pub const UPDATE_ROWS: usize = 4;

/// `groups` workgroups of the OT kernels that take one workgroup per entry (`x + y·nwg.x`):
/// x up to the per-dimension limit (65535, the WebGPU default), the rest in y, z the problem.
pub fn entry_grid(groups: usize, batch: u32) -> [u32; 3] {
    let groups = groups as u32;
    let x = groups.clamp(1, 65535);
    [x, groups.div_ceil(x), batch]
}

/// Workgroups of sinkhorn_update.wgsl for `outputs` entries (`UPDATE_ROWS` per workgroup).
pub fn update_grid(outputs: usize, batch: u32) -> [u32; 3] {
    entry_grid(outputs.div_ceil(UPDATE_ROWS), batch)
}

/// `ot/sinkhorn_update.wgsl`, one half-iteration: problems, cost, logw, pot. It writes all of
/// its workgroup memory (every row's partial of every invocation) before the merge reads it.
pub static SINKHORN_UPDATE: Kernel = Kernel::new(
    wgsl!("ot/sinkhorn_update.wgsl"),
    &[&SINKHORN_COMMON, &SINKHORN_COST],
    &[R, R, R, W],
)
.twins(PROBLEM)
.writes_shared_first();

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rust twin of the shader's row count, so the grid covers every entry exactly once.
    #[test]
    fn update_rows_twin_matches_the_shader() {
        let line = format!("const UPDATE_ROWS: u32 = {UPDATE_ROWS}u;");
        assert!(SINKHORN_UPDATE.file.text.contains(&line), "{line}");
        for outputs in [1, 3, 4, 5, 4096, 65535 * 4 + 1] {
            let [x, y, _] = update_grid(outputs, 1);
            let (x, y, need) = (x as usize, y as usize, outputs.div_ceil(UPDATE_ROWS));
            assert!(
                x <= 65535 && x * y >= need && x * (y - 1) < need,
                "{outputs}"
            );
        }
    }
}
