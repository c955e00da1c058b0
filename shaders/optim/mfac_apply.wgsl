// M-FAC 4/4: u = g/λ − Σ_k w_k·G[k] (the second pass over the window), optional momentum
// v ← μ·v + (1 − μ)·u, and p −= lr·u. Traffic: 4·(m + 3) bytes per element (+8 with momentum).

override MOMENTUM: bool = false;

@group(0) @binding(0) var<storage, read> segments: array<MfacSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<uniform> params: MfacParams;
@group(0) @binding(3) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> window: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> small: array<f32>;
@group(0) @binding(6) var<storage, read_write> momentum: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let m = params.m;
    let ww = 3u * m * m + 2u * m;
    let newest = mfac_row(params);
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let col = i - params.lo4;
            var u = window[newest * params.width4 + col] * params.inv_damp;
            for (var r = 0u; r < m; r += 1u) {
                u -= small[ww + r] * window[r * params.width4 + col];
            }
            if (MOMENTUM) {
                u = momentum[i] * seg.momentum + seg.one_minus_momentum * u;
                momentum[i] = u;
            }
            param[i] = param[i] + seg.neg_lr * u;
        }
    }
}
