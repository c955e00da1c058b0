// Elementwise kernels run WORKGROUP_SIZE invocations per workgroup over vec4s and grid-stride:
// invocation `gid` handles gid, gid + stride, … so any size fits in a capped dispatch.
const WORKGROUP_SIZE: u32 = 256u;

fn grid_stride(num_workgroups: vec3<u32>) -> u32 {
    return num_workgroups.x * WORKGROUP_SIZE;
}
