// Fills a state arena with random probes, one segment per parameter: element e of slot s in
// draw d takes word e % 4 of philox4x32_10((e / 4, s, d, stream), seed). The same values as
// wgopt_reference::random::fill for that StreamId (bit for bit for uniform and Rademacher).
// Hutchinson's estimators (SophiaH, AdaHessian) draw their probes here.

override DIST: u32 = 1u;

// Rust twin: wgopt_scheduler::random::ProbeSegment.
struct ProbeSegment {
    start: u32,
    end: u32,
    // The block (element / 4) of the parameter at vec4 `start` (nonzero for a split piece).
    first_block: u32,
    slot: u32,
    key: vec2<u32>,
    draw: u32,
    stream: u32,
    // One past the parameter's last element: the padding lanes after it are written as zero.
    elem_end: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> segments: array<ProbeSegment>;
@group(0) @binding(1) var<storage, read_write> probes: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let stride = grid_stride(nwg);
    let base = segments[0].start + gid.x;
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        for (var i = first_index(base, stride, seg.start); i < seg.end; i += stride) {
            let block = seg.first_block + (i - seg.start);
            let counter = vec4<u32>(block, seg.slot, seg.draw, seg.stream);
            let v = philox_values(philox4x32_10(counter, seg.key), DIST);
            let lanes = vec4<u32>(4u * block) + vec4<u32>(0u, 1u, 2u, 3u);
            probes[i] = select(vec4<f32>(0.0), v, lanes < vec4<u32>(seg.elem_end));
        }
    }
}
