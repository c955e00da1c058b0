// Calibration: the device's f32 FMA throughput. Four independent vec4 chains per invocation
// keep the pipelines full; the multiplier and addend come from a uniform so nothing folds.
// FLOPs = invocations × iterations × 4 chains × 4 lanes × 2.

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
    var a = vec4<f32>(seed, seed + 0.1, seed + 0.2, seed + 0.3);
    var b = a + 0.5;
    var c = a + 0.25;
    var d = a + 0.75;
    let m = vec4<f32>(params.mul);
    let s = vec4<f32>(params.add);
    for (var i = 0u; i < params.iterations; i += 1u) {
        a = fma(a, m, s);
        b = fma(b, m, s);
        c = fma(c, m, s);
        d = fma(d, m, s);
    }
    if (gid.x < arrayLength(&out)) {
        out[gid.x] = a + b + c + d;
    }
}
