// Shared by the sketch kernels. Rust twin: wgopt_solvers::sketch::SketchParams.
// Philox streams (wgopt_reference::sketch): Gaussian entries, CountSketch hashes, SRHT signs
// and rows, block choices of the sketch-and-project solvers.

const SKETCH_STREAM: u32 = 0x5E7C0001u;
const SRHT_STREAM: u32 = 0x5E7C0003u;

struct SketchParams {
    // s: rows of S·A.
    rows: u32,
    // m: rows of A.
    input: u32,
    // n: columns of A.
    cols: u32,
    // SRHT butterfly: the pass's half-width h.
    stride: u32,
    key: vec2<u32>,
    // m' = 2^⌈log₂ m⌉ (SRHT).
    padded: u32,
    // Gaussian: the Philox draw of S (step k of sketch-and-project).
    draw: u32,
    // 1/√s (Gaussian, SRHT).
    scale: f32,
    // Gaussian sketch-and-project: δ = ridge_rel · tr(G)/q.
    ridge_rel: f32,
    _pad2: f32,
    _pad3: f32,
}
