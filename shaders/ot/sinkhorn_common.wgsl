// Shared by the log-domain Sinkhorn kernels (POT `sinkhorn_log` / OTT conventions:
// P_ij = exp((f_i + g_j − C_ij)/ε)). One entry per problem of a batch. Reference twin:
// wgopt_reference::ot::sinkhorn.

// Rust twin: wgopt_solvers::ot::OtProblemGpu.
struct OtProblem {
    n: u32,
    m: u32,
    d: u32,
    live: u32,
    cost_off: u32,
    costt_off: u32,
    // log a at la_off, log b at lb_off in `logw`; f at f_off, g at g_off in `pot`.
    la_off: u32,
    lb_off: u32,
    f_off: u32,
    g_off: u32,
    eps: f32,
    p: f32,
}

// Online log-sum-exp: (max, Σ exp(v − max)).
fn lse_push(acc: vec2<f32>, v: f32) -> vec2<f32> {
    if (v <= acc.x) {
        return vec2<f32>(acc.x, acc.y + exp(v - acc.x));
    }
    return vec2<f32>(v, acc.y * exp(acc.x - v) + 1.0);
}

fn lse_merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let mx = max(a.x, b.x);
    if (mx == -3.0e38) {
        return a;
    }
    return vec2<f32>(mx, a.y * exp(a.x - mx) + b.y * exp(b.x - mx));
}
