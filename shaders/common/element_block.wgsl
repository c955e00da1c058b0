// One block of at most 1024 elements of one parameter piece (wgopt_optim::blocks::ELEMENT_BLOCK).
// Workgroup w of a structured update (AdamP/SGDP, FRUGAL) updates block w, so no invocation
// walks other parameters' ranges. Rust twin: wgopt_optim::blocks::ElementBlock.
struct ElementBlock {
    // Element range within the arena chunk.
    start: u32,
    end: u32,
    // Element of the parameter at `start` (nonzero for a later block or a split piece).
    first_elem: u32,
    // Index into the optimizer's per-parameter table.
    param: u32,
}
