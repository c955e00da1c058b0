// Shared by quantile_histogram.wgsl and quantile_select.wgsl: an exact radix select of the two
// order statistics torch.quantile blends, per matrix, for ROOT's |U| threshold. The bits of a
// non-negative f32 order like its value, so four passes over 8-bit digits, most significant
// first, each a histogram of the values that still match the bits fixed so far, pin both
// order statistics down exactly; no sort, no host round trip.
// Reference twin: wgopt_reference::linalg::quantile.

// Which digit this pipeline handles: 0 (bits 31..24) to 3 (bits 7..0).
override PASS: u32 = 0u;

const RADIX_BINS: u32 = 256u;
// Per matrix: 256 bins for the lower order statistic, 256 for the upper one while its fixed
// bits differ from the lower's.
const HISTOGRAM_STRIDE: u32 = 512u;

// Static per matrix. Rust twin: wgopt_scheduler::quantile::QuantileMatrix.
struct QuantileMatrix {
    rank_lo: u32,
    rank_hi: u32,
    weight: f32,
    add: f32,
}

// The bits fixed so far and the ranks left among the values sharing them.
// Rust twin: wgopt_scheduler::quantile::QuantileState.
struct QuantileState {
    prefix_lo: u32,
    prefix_hi: u32,
    rank_lo: u32,
    rank_hi: u32,
}

// Bits already fixed before this pass (none in pass 0; shifts stay below 32).
fn prefix_mask() -> u32 {
    return ~(0xFFFFFFFFu >> (8u * PASS));
}

fn digit_shift() -> u32 {
    return 24u - 8u * PASS;
}
