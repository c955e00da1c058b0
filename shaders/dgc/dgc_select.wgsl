// DGC selection, pass 3: the first k coordinates (in index order) with |v| ≥ threshold go to
// the message — values (as bits) and indices within the tensor, at the tensor's offsets — and are
// masked: v ← 0, and u ← 0 when MASKING (momentum-factor masking). Each invocation owns
// DGC_PER_THREAD contiguous elements of the tile; a workgroup scan of their counts gives
// each one its first position, after the tile's (from dgc_scan).

override MASKING: bool = true;

@group(0) @binding(0) var<storage, read> tiles: array<DgcTile>;
@group(0) @binding(1) var<storage, read> tensors: array<DgcTensor>;
@group(0) @binding(2) var<storage, read> thresholds: array<f32>;
@group(0) @binding(3) var<storage, read> tile_offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read_write> u: array<f32>;
// Values' bits in [0, sent), indices in [sent, 2·sent): one buffer, one readback.
@group(0) @binding(6) var<storage, read_write> message: array<u32>;

var<workgroup> scan: array<u32, DGC_WG>;

@compute @workgroup_size(DGC_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = wid.x + wid.y * nwg.x;
    if (t >= arrayLength(&tiles)) {
        return;
    }
    let tile = tiles[t];
    let tensor = tensors[tile.tensor];
    let threshold = thresholds[tensor.global];
    let lo = min(tile.start + lid * DGC_PER_THREAD, tile.end);
    let hi = min(lo + DGC_PER_THREAD, tile.end);
    var mine = 0u;
    for (var i = lo; i < hi; i += 1u) {
        if (abs(v[i]) >= threshold) {
            mine += 1u;
        }
    }
    // Inclusive Hillis–Steele scan of the invocations' counts.
    scan[lid] = mine;
    workgroupBarrier();
    for (var d = 1u; d < DGC_WG; d *= 2u) {
        var add = 0u;
        if (lid >= d) {
            add = scan[lid - d];
        }
        workgroupBarrier();
        scan[lid] += add;
        workgroupBarrier();
    }
    var pos = tile_offsets[t] + scan[lid] - mine;
    for (var i = lo; i < hi; i += 1u) {
        let x = v[i];
        if (abs(x) >= threshold) {
            if (pos < tensor.k) {
                message[tensor.out_offset + pos] = bitcast<u32>(x);
                message[tensor.sent + tensor.out_offset + pos] = i - tensor.offset;
                v[i] = 0.0;
                if (MASKING) {
                    u[i] = 0.0;
                }
            }
            pos += 1u;
        }
    }
}
