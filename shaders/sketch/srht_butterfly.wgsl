// SRHT, step 2: one radix-2 pass of the unnormalised fast Walsh–Hadamard transform over the
// rows of X, half-width h = params.stride (passes h = 1, 2, …, m'/2, one dispatch each): rows
// r and r + h become (u + v, u − v). Rows are contiguous, so a workgroup's 64 columns read
// coalesced.

@group(0) @binding(0) var<uniform> params: SketchParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = wid.x * 64u + lid.x;
    if (j >= params.cols) {
        return;
    }
    let h = params.stride;
    for (var q = wid.y; q < params.padded / 2u; q += nwg.y) {
        let r = (q / h) * 2u * h + q % h;
        let u = x[r * params.cols + j];
        let v = x[(r + h) * params.cols + j];
        x[r * params.cols + j] = u + v;
        x[(r + h) * params.cols + j] = u - v;
    }
}
