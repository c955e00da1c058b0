// One workgroup's share of a two-stage reduction: sum of squares and a non-finite flag.
// Rust twin: wgopt_scheduler::guard::Partial.
struct Partial {
    sumsq: f32,
    non_finite: u32,
    // Σ|g| of the tile (the ℓ1 norm the refinement of Adam-like schedules records).
    abs_sum: f32,
    _pad: u32,
}
