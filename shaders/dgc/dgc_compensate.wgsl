// DGC momentum correction (dgc/memory.py, DGCSGDMemory.compensate with accumulate=True): each
// coordinate of g clamped to ±clip[tensor] (local clipping; +inf when off), then
// u ← m·u + g; v ← v + u, or with Nesterov u ← (u + g)·m; v ← v + u + g.

override MOMENTUM: f32;
override NESTEROV: bool = false;

@group(0) @binding(0) var<storage, read> tiles: array<DgcTile>;
@group(0) @binding(1) var<storage, read> tensors: array<DgcTensor>;
@group(0) @binding(2) var<storage, read> clip: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

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
    let c = clip[tensors[tile.tensor].global];
    for (var i = tile.start + lid; i < tile.end; i += DGC_WG) {
        let g = clamp(grad[i], -c, c);
        if (NESTEROV) {
            let m = (u[i] + g) * MOMENTUM;
            u[i] = m;
            v[i] = v[i] + m + g;
        } else {
            let m = MOMENTUM * u[i] + g;
            u[i] = m;
            v[i] = v[i] + m;
        }
    }
}
