// DGC selection, pass 1: per tile, how many coordinates have |v| ≥ the tensor's threshold
// (the exact k-th largest |v|, from the radix select).

@group(0) @binding(0) var<storage, read> tiles: array<DgcTile>;
@group(0) @binding(1) var<storage, read> tensors: array<DgcTensor>;
@group(0) @binding(2) var<storage, read> thresholds: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> counts: array<u32>;

var<workgroup> total: atomic<u32>;

@compute @workgroup_size(DGC_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.x + wid.y * nwg.x;
    // Uniform exit: every invocation of the workgroup takes the same branch.
    if (t >= arrayLength(&tiles)) {
        return;
    }
    if (lid == 0u) {
        atomicStore(&total, 0u);
    }
    workgroupBarrier();
    let tile = tiles[t];
    let threshold = thresholds[tensors[tile.tensor].global];
    var n = 0u;
    for (var i = tile.start + lid; i < tile.end; i += DGC_WG) {
        if (abs(v[i]) >= threshold) {
            n += 1u;
        }
    }
    atomicAdd(&total, n);
    workgroupBarrier();
    if (lid == 0u) {
        counts[t] = atomicLoad(&total);
    }
}
