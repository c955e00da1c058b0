// DGC selection, pass 2: per tensor, the exclusive prefix sum of its tiles' counts, in place:
// each tile's first position in the tensor's selection. One invocation per tensor walks its
// tiles in order (a tensor has at most a few ten thousand tiles).

@group(0) @binding(0) var<storage, read> tensors: array<DgcTensor>;
@group(0) @binding(1) var<storage, read_write> counts: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= arrayLength(&tensors)) {
        return;
    }
    let tensor = tensors[gid.x];
    var running = 0u;
    for (var j = 0u; j < tensor.tile_count; j += 1u) {
        let at = tensor.first_tile + j;
        let c = counts[at];
        counts[at] = running;
        running += c;
    }
}
