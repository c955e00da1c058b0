// MKOR: copies each layer's gradient into its packed [∇W | ∇b] block (d_out × a_dim, the bias
// as the last column) for the two GEMMs. Workgroup w handles element block w of a layer
// tensor (common/element_block.wgsl).

@group(0) @binding(0) var<storage, read> blocks: array<ElementBlock>;
@group(0) @binding(1) var<storage, read> params: array<MkorParam>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> packed: array<f32>;

@compute @workgroup_size(MKOR_WG)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let b = wid.x + wid.y * nwg.x;
    if (b >= arrayLength(&blocks)) {
        return;
    }
    let blk = blocks[b];
    let q = params[blk.param];
    for (var i = blk.start + lid; i < blk.end; i += MKOR_WG) {
        packed[mkor_packed_index(q, blk.first_elem + i - blk.start)] = grad[i];
    }
}
