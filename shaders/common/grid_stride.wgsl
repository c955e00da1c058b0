// Elementwise kernels run WORKGROUP_SIZE invocations per workgroup over vec4s and grid-stride:
// invocation `gid` handles gid, gid + stride, … so any size fits in a capped dispatch.
const WORKGROUP_SIZE: u32 = 256u;

fn grid_stride(num_workgroups: vec3<u32>) -> u32 {
    return num_workgroups.x * WORKGROUP_SIZE;
}

// The first index ≥ `start` that invocation `base` (its index in the first stride) visits.
// Segment loops start here so each invocation walks only its own elements of a segment.
fn first_index(base: u32, stride: u32, start: u32) -> u32 {
    if (base >= start) {
        return base;
    }
    return base + (start - base + stride - 1u) / stride * stride;
}
