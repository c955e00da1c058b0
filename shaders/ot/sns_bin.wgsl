// The log-mass bin of a plan entry, for the SNS kernels that read `pot` (composed after
// sns_common.wgsl).

// The bin of entry (i, j) of slot q, given ln r_i. One function for every pass, so the row and
// column passes agree on which entries are kept.
fn entry_bin(q: OtProblem, i: u32, j: u32, c: f32, inv_eps: f32, ln_r: f32) -> u32 {
    let l = (pot[q.f_off + i] + pot[q.g_off + j] - c) * inv_eps - ln_r;
    let b = floor(-l / SNS_BIN_WIDTH);
    if (!(b > 0.0)) {
        return 0u;
    }
    return u32(min(b, f32(SNS_BINS - 1u)));
}
