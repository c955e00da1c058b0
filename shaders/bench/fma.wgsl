// Calibration: the device's f32 FMA throughput. Eight independent vec4 chains per invocation
// keep the pipelines full, and the loop body is unrolled four times by hand (the loop counter
// and its branch are 1 instruction per 128 FMAs instead of 1 per 16); the multiplier and addend
// come from a uniform so nothing folds. Created without runtime checks like every kernel, so no
// loop-bounding counter either.
// FLOPs = invocations × iterations × 4 (unrolled) × 8 chains × 4 lanes × 2.

// Rust twin: wgopt_scheduler::bench::FmaParams.
struct FmaParams {
    iterations: u32,
    mul: f32,
    add: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> params: FmaParams;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let seed = f32(gid.x) * 1e-7;
    var c0 = vec4<f32>(seed, seed + 0.1, seed + 0.2, seed + 0.3);
    var c1 = c0 + 0.5;
    var c2 = c0 + 0.25;
    var c3 = c0 + 0.75;
    var c4 = c0 + 0.125;
    var c5 = c0 + 0.375;
    var c6 = c0 + 0.625;
    var c7 = c0 + 0.875;
    let m = vec4<f32>(params.mul);
    let s = vec4<f32>(params.add);
    for (var i = 0u; i < params.iterations; i += 1u) {
        c0 = fma(c0, m, s); c1 = fma(c1, m, s); c2 = fma(c2, m, s); c3 = fma(c3, m, s);
        c4 = fma(c4, m, s); c5 = fma(c5, m, s); c6 = fma(c6, m, s); c7 = fma(c7, m, s);
        c0 = fma(c0, m, s); c1 = fma(c1, m, s); c2 = fma(c2, m, s); c3 = fma(c3, m, s);
        c4 = fma(c4, m, s); c5 = fma(c5, m, s); c6 = fma(c6, m, s); c7 = fma(c7, m, s);
        c0 = fma(c0, m, s); c1 = fma(c1, m, s); c2 = fma(c2, m, s); c3 = fma(c3, m, s);
        c4 = fma(c4, m, s); c5 = fma(c5, m, s); c6 = fma(c6, m, s); c7 = fma(c7, m, s);
        c0 = fma(c0, m, s); c1 = fma(c1, m, s); c2 = fma(c2, m, s); c3 = fma(c3, m, s);
        c4 = fma(c4, m, s); c5 = fma(c5, m, s); c6 = fma(c6, m, s); c7 = fma(c7, m, s);
    }
    if (gid.x < arrayLength(&out)) {
        out[gid.x] = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));
    }
}
