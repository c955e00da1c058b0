// NaN and ±Inf have an all-ones exponent. Testing the bits (not `x != x`) keeps the check
// from being folded away by compilers that assume finite math.
fn any_non_finite4(v: vec4<f32>) -> bool {
    let exponent = bitcast<vec4<u32>>(v) & vec4<u32>(0x7f800000u);
    return any(exponent == vec4<u32>(0x7f800000u));
}
