// Per-step bookkeeping shared by the step guard and every update kernel.
// Written once per step by reduce/guard_finalize.wgsl; update kernels read it and turn into
// no-ops when `found_inf` is set, so a non-finite gradient never needs a host readback.
// Rust twin: wgopt_scheduler::guard::StepStats.
struct StepStats {
    grad_norm: f32,
    clip_coef: f32,
    found_inf: u32,
    applied_steps: u32,
    skipped_steps: u32,
    // Global ℓ1 norm Σ|g| of the gradients (0 when the guard is off), from the same pass.
    grad_norm_l1: f32,
    _pad1: u32,
    _pad2: u32,
}
