// Muon, part 1 of 3 (then Newton–Schulz on the update arena, then muon_apply.wgsl): the EMA
// momentum `buf.lerp_(g, 1 − β)` and the Nesterov blend `g.lerp_(buf, β)` (torch.lerp's two
// branches), written to the update arena that Newton–Schulz orthogonalises in place. ROOT
// (SUM_FORM) accumulates `buf = β·buf + g` and blends `g + β·buf` instead.
// Reference twin: wgopt_reference::optim::muon.

override NESTEROV: bool = true;
override SUM_FORM: bool = false;

// Rust twin: wgopt_optim::muon::MuonMomentumSegment.
struct MuonMomentumSegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    beta: f32,
    one_minus_beta: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<MuonMomentumSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> momentum_buffer: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> update: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let clip = stats.clip_coef;
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let g = grad[i] * clip;
            if (SUM_FORM) {
                let m = seg.beta * momentum_buffer[i] + g;
                momentum_buffer[i] = m;
                if (NESTEROV) {
                    update[i] = g + seg.beta * m;
                } else {
                    update[i] = m;
                }
                continue;
            }
            let m = torch_lerp(momentum_buffer[i], g, seg.one_minus_beta);
            momentum_buffer[i] = m;
            if (NESTEROV) {
                update[i] = torch_lerp(g, m, seg.beta);
            } else {
                update[i] = m;
            }
        }
    }
}
