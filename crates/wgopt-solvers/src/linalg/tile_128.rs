//! Generator of the 128-column f32 SIMT tile cores, 128×128 and 64×128 ([`Shape`]):
//! `shaders/linalg/gemm_128.wgsl`, `gram_128.wgsl`, `gemm_64x128.wgsl` and `gram_64x128.wgsl`
//! are this module's output (their helpers — staging, swizzle, stores — are the hand-written
//! `tile_128_common.wgsl`), checked in so they can be read and reviewed, and compared with it
//! by `tests/generated_shaders.rs` (which rewrites them when `WGOPT_REGENERATE=1`).
//!
//! Why generated: the core's speed rests on 64 accumulators per invocation living in
//! registers and on a fully unrolled k-slice. Written as `array<vec4<f32>, 16>` indexed in
//! loops, the array may be spilled to memory and the loops left rolled, depending on the
//! driver's compiler; named `vec4` locals and straight-line code leave it no choice.
//!
//! The core: 256 invocations (16×16) per 128×128 output tile, each owning an 8×8 block split
//! into four 4×4 quarters 64 rows/columns apart (so that the 16 invocations of a row of the
//! workgroup read 16 consecutive `vec4`s of a shared tile: no bank conflicts on loads). K
//! advances in slices of 16. The shared tiles are `vec4` arrays over the output dimension
//! (m for A, n for B), 32 `vec4`s per k-row, double-buffered (32 KiB in all): while an invocation
//! multiplies slice s, its next slice's operands are already in registers (fetched before
//! the products) and are stored into the other buffer after them, so each slice costs one
//! barrier. Global loads follow the stored layout: each invocation reads runs of 4
//! consecutive stored elements (along k for a row-major A or a transposed B, along m/n
//! otherwise), consecutive invocations take consecutive runs. Workgroups are swizzled in
//! groups of 8 tile rows so that neighbouring workgroups share A's rows and B's columns in
//! L2.
//!
//! The 64×128 shape is the same core with 4×8 blocks (one A quarter instead of two): half the
//! rows per workgroup, so twice the workgroups on a mid-size product (a 768² Gram is 36
//! workgroups at 128×128, fewer than a large GPU has compute units) and half the registers.

use std::fmt::Write;

/// Output tile columns of the generated cores (and the rows of the square one).
pub const TILE: u32 = 128;

/// The generated cores' output tile: rows × 128 columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// 128×128: 8×8 accumulators per invocation.
    Square,
    /// 64×128: 4×8 accumulators per invocation.
    Wide,
}

impl Shape {
    pub const ALL: [Shape; 2] = [Shape::Square, Shape::Wide];

    /// Output tile rows.
    pub fn rows(self) -> u32 {
        match self {
            Shape::Square => TILE,
            Shape::Wide => 64,
        }
    }

    /// Accumulator rows per invocation (16 invocation rows share the tile's rows).
    fn block_rows(self) -> u32 {
        self.rows() / 16
    }

    /// `vec4`s per k-row of the shared A tile.
    fn a_vecs(self) -> u32 {
        self.rows() / 4
    }
}
/// k-slice depth.
const SLICE: u32 = 16;
/// `vec4`s per k-row of a shared tile: 32 for 128 entries, unpadded so that both operands,
/// double-buffered, take exactly 32 KiB (the common workgroup-memory limit: Metal, lavapipe).
/// `TILE`, `SLICE` and `STRIDE` are also constants of `tile_128_common.wgsl`, which must agree.
const STRIDE: u32 = TILE / 4;

/// Which product a generated kernel computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// D = alpha·op(A)·op(B) + beta·C over every tile.
    Gemm,
    /// Symmetric D = alpha·op(X)·op(X)ᵀ (+ beta·C): tiles on and above the diagonal, mirrored.
    Gram,
}

impl Product {
    /// The checked-in file this generator writes for `shape`, under `shaders/`.
    pub fn path(self, shape: Shape) -> &'static str {
        match (self, shape) {
            (Product::Gemm, Shape::Square) => "linalg/gemm_128.wgsl",
            (Product::Gram, Shape::Square) => "linalg/gram_128.wgsl",
            (Product::Gemm, Shape::Wide) => "linalg/gemm_64x128.wgsl",
            (Product::Gram, Shape::Wide) => "linalg/gram_64x128.wgsl",
        }
    }
}

/// The WGSL of `product` on the `shape` core (after `product_common.wgsl` and
/// `tile_128_common.wgsl`).
pub fn generate(product: Product, shape: Shape) -> String {
    let mut s = String::new();
    header(&mut s, product, shape);
    main_function(&mut s, product, shape);
    s
}

fn header(s: &mut String, product: Product, shape: Shape) {
    let rows = shape.rows();
    let what = match product {
        Product::Gemm => format!("Batched GEMM: D = alpha·op(A)·op(B) + beta·C, one {rows}×{TILE} tile of D per workgroup,\n// batch in z. Reference twin: wgopt_reference::linalg::gemm."),
        Product::Gram => "Batched symmetric Gram: D = alpha·op(X)·op(X)ᵀ (+ beta·C), tiles that reach the\n// diagonal or above only, their upper entries mirrored into the lower triangle. Bind X as\n// both A and B with TRANS_B = !TRANS_A. Reference twin: wgopt_reference::linalg::gram.".into(),
    };
    let block = shape.block_rows();
    let _ = write!(
        s,
        "// GENERATED by wgopt_solvers::linalg::tile_128 — do not edit; regenerate with\n\
         // WGOPT_REGENERATE=1 cargo test -p wgopt-solvers --test generated_shaders.\n\
         // {what}\n\
         // The {rows}×{TILE} SIMT core (see the generator's docs; helpers in tile_128_common.wgsl):\n\
         // 16×16 invocations, {block}×8 accumulators each in named vec4 registers, k-slices of {SLICE},\n\
         // double-buffered shared tiles with register prefetch, layout-following global\n\
         // loads, swizzled workgroups.\n\n\
         // Output tile rows; vec4s per k-row of the shared A tile, and one buffer of it.\n\
         const TILE_M: u32 = {rows}u;\n\
         const A_VECS: u32 = {}u;\n\
         const HALF_A: u32 = {}u;\n\n",
        shape.a_vecs(),
        shape.a_vecs() * SLICE,
    );
}

/// Accumulator of output row `r` (0..8, or 0..4 in the 64-row core) and column half `h` (0..2).
fn acc(r: u32, h: u32) -> String {
    format!("acc{r}{h}")
}

fn main_function(s: &mut String, product: Product, shape: Shape) {
    s.push_str(
        "@compute @workgroup_size(16, 16)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) grid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let tile = swizzled(wid, grid);
",
    );
    if product == Product::Gram {
        s.push_str(
            "    // Tiles wholly below the diagonal (first row past the last column) are written by\n    // their mirror; uniform per workgroup, so returning before the barriers is allowed.\n    if (tile.x * TILE_M >= (tile.y + 1u) * TILE) {\n        return;\n    }\n",
        );
    }
    s.push_str(
        "    let off = offsets[wid.z];
    let row0 = tile.x * TILE_M;
    let col0 = tile.y * TILE;
    let flat = lid.y * 16u + lid.x;
    let slices = (params.k + SLICE - 1u) / SLICE;
",
    );
    for r in 0..shape.block_rows() {
        for h in 0..2 {
            let _ = writeln!(s, "    var {} = vec4<f32>();", acc(r, h));
        }
    }
    first_slice(s, shape);
    for line in [
        "    for (var slice = 0u; slice < slices; slice += 1u) {",
        "        let current_a = (slice % 2u) * HALF_A;",
        "        let current_b = (slice % 2u) * HALF_B;",
        "        let more = slice + 1u < slices;",
    ] {
        let _ = writeln!(s, "{line}");
    }
    prefetch(s, shape);
    slice_products(s, shape);
    stash_prefetched(s, shape);
    s.push_str("        workgroupBarrier();\n    }\n");
    stores(s, product, shape);
    // The end of `main` (a char, not a string: brace counters that skip strings stay balanced).
    s.push('}');
    s.push('\n');
}

/// The operand runs of a slice each invocation stages: A's (one per 256 `vec4`s of its tile)
/// and B's (two).
fn runs(shape: Shape) -> (Vec<u32>, Vec<u32>) {
    let a = (0..shape.a_vecs() * SLICE / 256).collect();
    (a, vec![0, 1])
}

/// The index of an invocation's run `i`: `flat`, then 256 further per run.
fn run_index(i: u32) -> String {
    match i {
        0 => "flat".into(),
        _ => format!("flat + {}u", 256 * i),
    }
}

/// Slice 0 staged straight into buffer 0.
fn first_slice(s: &mut String, shape: Shape) {
    let (a, b) = runs(shape);
    for (op, list) in [("a", a), ("b", b)] {
        for i in list {
            let idx = run_index(i);
            let corner = if op == "a" { "row0" } else { "col0" };
            let _ = writeln!(
                s,
                "    stash_{op}(0u, {idx}, fetch_{op}(off.{op}, {corner}, 0u, {idx}));"
            );
        }
    }
    s.push_str("    workgroupBarrier();\n");
}

/// The next slice's runs fetched into registers before this slice's products.
fn prefetch(s: &mut String, shape: Shape) {
    let (a, b) = runs(shape);
    for (op, list) in [("a", &a), ("b", &b)] {
        for i in list {
            let _ = writeln!(s, "        var next_{op}{i} = vec4<f32>();");
        }
    }
    s.push_str("        if (more) {\n            let k0 = (slice + 1u) * SLICE;\n");
    for (op, list) in [("a", &a), ("b", &b)] {
        let corner = if op == "a" { "row0" } else { "col0" };
        for i in list {
            let _ = writeln!(
                s,
                "            next_{op}{i} = fetch_{op}(off.{op}, {corner}, k0, {});",
                run_index(*i)
            );
        }
    }
    s.push_str("        }\n");
}

/// The prefetched runs stored into the other buffer after the products.
fn stash_prefetched(s: &mut String, shape: Shape) {
    let (a, b) = runs(shape);
    s.push_str("        if (more) {\n");
    for (op, list, half) in [
        ("a", &a, "HALF_A - current_a"),
        ("b", &b, "HALF_B - current_b"),
    ] {
        for i in list {
            let _ = writeln!(
                s,
                "            stash_{op}({half}, {}, next_{op}{i});",
                run_index(*i)
            );
        }
    }
    s.push_str("        }\n");
}

/// The stores of the accumulators, each 4 entries of D; for the Gram only the upper
/// triangle, then the mirrors quadrant by quadrant.
fn stores(s: &mut String, product: Product, shape: Shape) {
    let store = match product {
        Product::Gemm => "store4",
        Product::Gram => "store4_upper",
    };
    for r in 0..shape.block_rows() {
        for h in 0..2 {
            let _ = writeln!(
                s,
                "    {store}(off, row0 + {} + lid.y * 4u, col0 + {} + lid.x * 4u, {});",
                (r / 4) * 64 + r % 4,
                h * 64,
                acc(r, h)
            );
        }
    }
    if product == Product::Gram {
        mirrors(s, shape);
    }
}

/// The Gram's mirrored stores through shared memory: per 64×64 quadrant, each invocation stages
/// its 4×4 block transposed in tile_a (one vec4 per column: its 4 rows), then all write the
/// quadrant's mirror coalesced (`mirror_quadrant`). The barrier before each staging keeps it
/// from overwriting what the previous quadrant (or the last k-slice) still reads.
fn mirrors(s: &mut String, shape: Shape) {
    s.push_str("    // Mirrors through shared memory (coalesced stores of the lower triangle).\n");
    for hr in 0..shape.block_rows() / 4 {
        for hc in 0..2u32 {
            s.push_str("    workgroupBarrier();\n");
            for j in 0..4u32 {
                let lane = ["x", "y", "z", "w"][j as usize];
                let rows: Vec<String> = (0..4)
                    .map(|i| format!("{}.{lane}", acc(hr * 4 + i, hc)))
                    .collect();
                let _ = writeln!(
                    s,
                    "    tile_a[mirror_slot(lid.y * 4u, lid.x * 4u + {j}u)] = vec4<f32>({});",
                    rows.join(", ")
                );
            }
            let _ = writeln!(
                s,
                "    workgroupBarrier();\n    mirror_quadrant(off, row0 + {}u, col0 + {}u, flat);",
                hr * 64,
                hc * 64
            );
        }
    }
}

/// The unrolled products of one slice: per k-row, one or two vec4s of A and two of B from the
/// current shared buffers, then the vec4 multiply-adds of the invocation's block.
fn slice_products(s: &mut String, shape: Shape) {
    let a_vecs = shape.a_vecs();
    for kk in 0..SLICE {
        for q in 0..shape.block_rows() / 4 {
            let _ = writeln!(
                s,
                "        let a{kk}{q} = tile_a[current_a + {} + lid.y];",
                kk * a_vecs + q * 16
            );
        }
        let _ = writeln!(
            s,
            "        let b{kk}0 = tile_b[current_b + {} + lid.x];\n        let b{kk}1 = tile_b[current_b + {} + lid.x];",
            kk * STRIDE,
            kk * STRIDE + 16,
        );
        for r in 0..shape.block_rows() {
            let lane = ["x", "y", "z", "w"][(r % 4) as usize];
            for h in 0..2 {
                let _ = writeln!(
                    s,
                    "        {a} += a{kk}{q}.{lane} * b{kk}{h};",
                    a = acc(r, h),
                    q = r / 4
                );
            }
        }
    }
}
