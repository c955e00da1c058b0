// AdaHessian's spatial averaging: replaces |Hz| by its mean over consecutive blocks (the
// kernel window kh·kw of a conv weight, or a configured block size), in place in the
// Hessian-vector-product arena, one invocation per block. Runs after the step guard and before
// adahessian.wgsl; parameters without blocks are not listed. Reference twin:
// wgopt_reference::optim::adahessian::hessian_diag (f32 sums in element order).

// Rust twin: wgopt_optim::adahessian::BlockSegment.
struct BlockSegment {
    // Element range of one parameter within the chunk.
    start: u32,
    end: u32,
    block: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> segments: array<BlockSegment>;
@group(0) @binding(1) var<storage, read> stats: StepStats;
@group(0) @binding(2) var<storage, read_write> hvp: array<f32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (stats.found_inf != 0u) {
        return;
    }
    let stride = grid_stride(nwg);
    for (var k = 0u; k < arrayLength(&segments); k += 1u) {
        let seg = segments[k];
        let blocks = (seg.end - seg.start + seg.block - 1u) / seg.block;
        for (var b = gid.x; b < blocks; b += stride) {
            let lo = seg.start + b * seg.block;
            let hi = min(lo + seg.block, seg.end);
            var s = 0.0;
            for (var i = lo; i < hi; i += 1u) {
                s += abs(hvp[i]);
            }
            let mean = s / f32(hi - lo);
            for (var i = lo; i < hi; i += 1u) {
                hvp[i] = mean;
            }
        }
    }
}
