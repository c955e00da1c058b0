//! The checked-in 128×128 and 64×128 tile-core kernels are exactly what their generator
//! (`wgopt_solvers::linalg::tile_128`) writes, so nobody edits one without the other.
//! `WGOPT_REGENERATE=1 cargo test -p wgopt-solvers --test generated_shaders` rewrites them.

use std::path::PathBuf;
use wgopt_solvers::linalg::tile_128::{generate, Product, Shape};

fn shader_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shaders")
        .join(relative)
}

#[test]
fn checked_in_128_core_matches_its_generator() {
    let regenerate = std::env::var("WGOPT_REGENERATE").is_ok_and(|v| v == "1");
    for (product, shape) in every_kernel() {
        let path = shader_path(product.path(shape));
        let want = generate(product, shape);
        if regenerate {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap();
        assert!(
            have == want,
            "{} differs from tile_128::generate({product:?}, {shape:?}); regenerate with \
             WGOPT_REGENERATE=1 cargo test -p wgopt-solvers --test generated_shaders",
            path.display()
        );
    }
}

#[test]
fn generated_core_keeps_its_accumulators_in_named_registers() {
    for (product, shape) in every_kernel() {
        let text = generate(product, shape);
        // rows/16 block rows × 2 column halves of vec4 accumulators, each a named local, and
        // the 16-deep slice unrolled: 16 × (rows/16 · 2) vec4 multiply-adds in straight-line
        // code.
        let block_rows = shape.rows() / 16;
        for r in 0..block_rows {
            for h in 0..2 {
                assert!(text.contains(&format!("var acc{r}{h} = vec4<f32>();")));
            }
        }
        assert!(!text.contains(&format!("var acc{block_rows}0")));
        let products = (16 * block_rows * 2) as usize;
        assert_eq!(
            text.matches(" += a").count(),
            products,
            "{product:?} {shape:?}"
        );
        assert!(!text.contains("array<vec4<f32>, 16>"));
    }
}

fn every_kernel() -> Vec<(Product, Shape)> {
    Shape::ALL
        .into_iter()
        .flat_map(|shape| [(Product::Gemm, shape), (Product::Gram, shape)])
        .collect()
}
