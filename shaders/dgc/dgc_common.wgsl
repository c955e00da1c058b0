// Deep Gradient Compression's tables, shared by its passes. Rust twins in wgopt_dist::dgc.

// Elements one workgroup handles (256 invocations × 16 contiguous elements).
const DGC_TILE: u32 = 4096u;
const DGC_WG: u32 = 256u;
const DGC_PER_THREAD: u32 = 16u;

// One tensor of a chunk: where it lies in the chunk, how many coordinates it sends and where
// they go in the message (values at out_offset, indices `sent` words later, `sent` = Σk over
// all tensors), its tiles, and its index among all tensors.
struct DgcTensor {
    offset: u32,
    len: u32,
    k: u32,
    out_offset: u32,
    first_tile: u32,
    tile_count: u32,
    global: u32,
    sent: u32,
}

// A run of at most DGC_TILE elements of one tensor (chunk-local tensor index).
struct DgcTile {
    tensor: u32,
    start: u32,
    end: u32,
    _pad: u32,
}
