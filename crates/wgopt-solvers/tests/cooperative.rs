//! The tensor-core path (linalg/gemm_coop.wgsl) and its fallback. An engine that asks for
//! cooperative matrices uses them exactly when the adapter qualifies
//! (`wgopt_scheduler::cooperative::support`); either way f16 products must match the
//! reference. On lavapipe (no cooperative matrices) this runs the SIMT f16 kernels — the
//! fallback; on a GPU with 16×16×16 f16 → f32 cooperative matrices it runs gemm_coop.wgsl.
//!
//! Tolerance: the inputs are f16 values (the reference multiplies the same f16-rounded
//! numbers in f64), products are exact in f32 and accumulate over K terms in f32, so
//! |gpu − ref| ≤ 1e-5·(K + 1) + 1e-5·|ref| as for the f32 GEMM (D is stored in f32 here).

use half::f16;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::linalg;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::kernel::Precision;
use wgopt_scheduler::{Engine, EngineOptions, StepRecorder};
use wgopt_solvers::linalg::{Core, GemmOffsets, Matmul, MatmulSpec, Storage};

fn engine_asking_for_tensor_cores() -> Engine {
    Engine::with_options(EngineOptions {
        cooperative_matrix: Some(true),
        ..EngineOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A matrix of f16 values in [−1, 1], as f64.
fn random_f16(r: &mut ChaCha8Rng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| {
        f16::from_f32(r.random_range(-1.0f32..1.0)).to_f64()
    })
}

fn upload_f16(engine: &Engine, m: &Array2<f64>, gap: usize) -> wgpu::Buffer {
    let mut data = vec![f16::from_f32(7.0); gap];
    data.extend(m.iter().map(|&x| f16::from_f64(x)));
    data.resize(data.len().next_multiple_of(2), f16::ZERO);
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let buf = engine.create_buffer("f16 matrix", data.len() as u64 * 2, usage);
    engine
        .queue()
        .write_buffer(&buf, 0, bytemuck::cast_slice(&data));
    buf
}

#[test]
fn tensor_cores_are_used_exactly_where_the_adapter_qualifies() {
    let engine = engine_asking_for_tensor_cores();
    let (_, adapter, _, _) = engine.wgpu_setup().expect("engine made its own device");
    let qualifies = wgopt_scheduler::cooperative::support(&adapter);
    println!(
        "cooperative matrices on {}: {qualifies:?}",
        engine.adapter()
    );
    assert_eq!(engine.cooperative_f16(), qualifies.is_ok());
    let f32_core = Core::for_storage(&engine, Storage::F32);
    assert_ne!(
        f32_core,
        Core::Cooperative,
        "f32 products never use tensor cores"
    );
    // Without the request, never.
    let plain = Engine::with_options(EngineOptions {
        cooperative_matrix: Some(false),
        ..EngineOptions::default()
    })
    .unwrap();
    assert!(!plain.cooperative_f16());
}

#[test]
fn f16_products_match_the_reference_on_whichever_core_runs_them() {
    let engine = engine_asking_for_tensor_cores();
    if !engine.features().contains(wgpu::Features::SHADER_F16) {
        println!("no SHADER_F16 on {}: nothing to run", engine.adapter());
        return;
    }
    let half_in = Storage {
        input: Precision::F16,
        output: Precision::F32,
    };
    println!("f16 products on {:?}", Core::for_storage(&engine, half_in));
    let mut r = ChaCha8Rng::seed_from_u64(5);
    for &(m, n, k) in &[(1, 1, 1), (17, 33, 5), (40, 16, 48), (33, 70, 17)] {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = if trans_a {
                random_f16(&mut r, k, m)
            } else {
                random_f16(&mut r, m, k)
            };
            let b = if trans_b {
                random_f16(&mut r, n, k)
            } else {
                random_f16(&mut r, k, n)
            };
            let c = random_f16(&mut r, m, n);
            // Odd gaps: every matrix starts at an offset no vector load could assume.
            let (ab, bb, cb) = (
                upload_f16(&engine, &a, 3),
                upload_f16(&engine, &b, 5),
                upload_f16(&engine, &c, 1),
            );
            let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
            let db = engine.create_buffer("d", (m * n) as u64 * 4, usage);
            let (alpha, beta) = (0.75f32, -1.5f32);
            let spec = MatmulSpec {
                m: m as u32,
                n: n as u32,
                k: k as u32,
                trans_a,
                trans_b,
                alpha,
                beta,
                a: &ab,
                b: &bb,
                c: Some(&cb),
                d: &db,
                offsets: &[GemmOffsets {
                    a: 3,
                    b: 5,
                    c: 1,
                    d: 0,
                }],
            };
            let product = Matmul::gemm_with(&engine, &spec, half_in).unwrap();
            let mut rec = StepRecorder::new();
            product.record(&mut rec);
            rec.submit(&engine).unwrap();
            let got = read_range(&engine, &db, 0, (m * n) as u64 * 4).unwrap();
            let want = linalg::gemm(
                alpha as f64,
                a.view(),
                trans_a,
                b.view(),
                trans_b,
                beta as f64,
                Some(c.view()),
            );
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                let tol = 1e-5 * (k as f64 + 1.0) + 1e-5 * w.abs();
                assert!(
                    g.is_finite() && ((*g as f64) - w).abs() <= tol,
                    "{m}×{n}×{k} ({trans_a}, {trans_b}) [{i}]: {g} vs {w}"
                );
            }
        }
    }
}

/// WGSL wants `enable` directives before any declaration: the composed source hoists the
/// kernel's own `enable wgpu_cooperative_matrix;` above the precision prelude and the includes
/// (naga parses and validates it in the facade's tests/shaders.rs).
#[test]
fn the_tensor_core_kernel_source_starts_with_its_directives() {
    let source = wgopt_solvers::linalg::matmul::GEMM_COOP_F16.source();
    assert!(
        source.starts_with("enable f16;\nenable wgpu_cooperative_matrix;\nalias StoreIn = f16;"),
        "{}",
        &source[..120]
    );
    assert_eq!(source.matches("enable ").count(), 2);
    assert!(wgopt_solvers::linalg::matmul::GEMM_COOP_F16.needs_cooperative_matrix());
    assert!(!wgopt_solvers::linalg::matmul::GEMM_F16.needs_cooperative_matrix());
}
