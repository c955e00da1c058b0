// M-FAC 1/4: this step's gradient (clipped, plus L2 decay wd·p) into its ring row of the window.

@group(0) @binding(0) var<storage, read> segments: array<MfacSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<uniform> params: MfacParams;
@group(0) @binding(3) var<storage, read> param: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> window: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let clip = stats.clip_coef;
    let row = mfac_row(params) * params.width4;
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            window[row + i - params.lo4] = grad[i] * clip + seg.weight_decay * param[i];
        }
    }
}
