// Stage 2 of the step guard, one workgroup: per-parameter sums of squares from the tile
// partials (Kahan-compensated, fixed order), the global norm and ℓ1 norm, the clip coefficient of
// torch.nn.utils.clip_grad_norm_ (min(1, max_norm / (norm + 1e-6))), the non-finite verdict,
// and the applied/skipped step counters. Runs every step, also with the guard off, because
// update kernels read the counters. Reference twin: wgopt_reference::guard.

const FIN_WG: u32 = 256u;

// Rust twin: wgopt_scheduler::guard::GuardParams.
struct GuardParams {
    max_norm: f32,
    clip: u32,
    skip_non_finite: u32,
    n_segments: u32,
}

@group(0) @binding(0) var<uniform> params: GuardParams;
@group(0) @binding(1) var<storage, read> partials: array<Partial>;
@group(0) @binding(2) var<storage, read> segment_ranges: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> stats: StepStats;
@group(0) @binding(4) var<storage, read_write> segment_sumsq: array<f32>;

var<workgroup> scratch_sum: array<f32, FIN_WG>;
var<workgroup> scratch_abs: array<f32, FIN_WG>;
var<workgroup> scratch_bad: array<u32, FIN_WG>;

@compute @workgroup_size(FIN_WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    var total = 0.0;
    var total_c = 0.0;
    var l1 = 0.0;
    var l1_c = 0.0;
    var bad = 0u;
    for (var s = lid; s < params.n_segments; s += FIN_WG) {
        let r = segment_ranges[s];
        var acc = 0.0;
        var c = 0.0;
        for (var j = r.x; j < r.y; j += 1u) {
            let p = partials[j];
            let y = p.sumsq - c;
            let t = acc + y;
            c = (t - acc) - y;
            acc = t;
            bad = bad | p.non_finite;
            let ya = p.abs_sum - l1_c;
            let ta = l1 + ya;
            l1_c = (ta - l1) - ya;
            l1 = ta;
        }
        segment_sumsq[s] = acc;
        let y = acc - total_c;
        let t = total + y;
        total_c = (t - total) - y;
        total = t;
    }
    scratch_sum[lid] = total;
    scratch_abs[lid] = l1;
    scratch_bad[lid] = bad;
    workgroupBarrier();
    for (var w = FIN_WG / 2u; w > 0u; w = w / 2u) {
        if (lid < w) {
            scratch_sum[lid] += scratch_sum[lid + w];
            scratch_abs[lid] += scratch_abs[lid + w];
            scratch_bad[lid] = scratch_bad[lid] | scratch_bad[lid + w];
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let norm = sqrt(scratch_sum[0]);
        let found = params.skip_non_finite != 0u && scratch_bad[0] != 0u;
        var clip = 1.0;
        if (params.clip != 0u) {
            clip = min(1.0, params.max_norm / (norm + 1e-6));
        }
        stats.grad_norm = norm;
        stats.grad_norm_l1 = scratch_abs[0];
        stats.clip_coef = clip;
        stats.found_inf = select(0u, 1u, found);
        if (found) {
            stats.skipped_steps += 1u;
        } else {
            stats.applied_steps += 1u;
        }
    }
}
