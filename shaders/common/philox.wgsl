// Philox4x32-10, counter-based: philox4x32_10(counter, key) is a pure function, so any thread
// can draw any element without a sequence. Twin: wgopt_reference::random (same constants,
// same round order, same conversions); the Random123 known answers are tested on both.
// WGSL has no 64-bit multiply: the high word comes from 16-bit halves.

fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round += 1u) {
        if (round > 0u) {
            k += vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = philox_mulhilo(0xD2511F53u, c.x);
        let p1 = philox_mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// ((w >> 9) + 0.5)·2⁻²³: exact, inside (0, 1).
fn philox_uniform(w: vec4<u32>) -> vec4<f32> {
    return (vec4<f32>(w >> vec4<u32>(9u)) + 0.5) * (1.0 / 8388608.0);
}

fn philox_rademacher(w: vec4<u32>) -> vec4<f32> {
    return select(vec4<f32>(1.0), vec4<f32>(-1.0), (w & vec4<u32>(0x80000000u)) != vec4<u32>(0u));
}

// Box–Muller over word pairs (x, y) and (z, w); the angle on [−π, π).
fn philox_gaussian(w: vec4<u32>) -> vec4<f32> {
    let u = philox_uniform(w);
    let r = sqrt(-2.0 * log(u.xz));
    let theta = 6.2831855 * u.yw - 3.1415927;
    return vec4<f32>(r.x * cos(theta.x), r.x * sin(theta.x), r.y * cos(theta.y), r.y * sin(theta.y));
}

// DIST: 0 uniform, 1 Rademacher, 2 Gaussian (wgopt_reference::random::Distribution::code).
fn philox_values(w: vec4<u32>, dist: u32) -> vec4<f32> {
    if (dist == 1u) {
        return philox_rademacher(w);
    }
    if (dist == 2u) {
        return philox_gaussian(w);
    }
    return philox_uniform(w);
}
