// MKOR factor step, part 4: one invocation per factor. A reset that just ran clears its flag;
// after a Sherman–Morrison update, max |F⁻¹| > 2 sets both of the layer's flags. Clears the
// factor's max for the next factor step.

@group(0) @binding(0) var<uniform> schedule: MkorSchedule;
@group(0) @binding(1) var<storage, read> factors: array<MkorFactor>;
@group(0) @binding(2) var<storage, read> stats: StepStats;
@group(0) @binding(3) var<storage, read_write> flags: array<f32>;
@group(0) @binding(4) var<storage, read_write> maxbits: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    if (k >= arrayLength(&factors) || stats.found_inf != 0u
        || !mkor_factor_step(schedule, stats.applied_steps)) {
        return;
    }
    let q = factors[k];
    if (flags[q.flag] != 0.0) {
        flags[q.flag] = 0.0;
    } else if (bitcast<f32>(maxbits[q.index]) > 2.0) {
        flags[q.flag] = 1.0;
        flags[q.other_flag] = 1.0;
    }
    maxbits[q.index] = 0u;
}
