// Muon, part 3 of 3: p ← p·(1 − lr·wd) − lr·(scale·O), O the orthogonalised update. One
// segment per parameter, since the scale depends on its shape. Reference twin:
// wgopt_reference::optim::muon.

// Rust twin: wgopt_optim::muon::MuonApplySegment.
struct MuonApplySegment {
    start: u32,
    end: u32,
    step: u32,
    _pad: u32,
    scale: f32,
    decay: f32,
    neg_lr: f32,
    _pad1: f32,
}

@group(0) @binding(0) var<storage, read> segments: array<MuonApplySegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> param: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> update: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let u = update[i] * seg.scale;
            param[i] = param[i] * seg.decay + seg.neg_lr * u;
        }
    }
}
