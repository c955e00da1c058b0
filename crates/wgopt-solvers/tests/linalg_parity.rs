//! GPU vs reference for the linear-algebra kernels: gemm.wgsl and gram.wgsl (64×64 core,
//! tile_core.wgsl), gemm_128.wgsl and gram_128.wgsl (generated 128×128 core) and
//! gemm_64x128.wgsl and gram_64x128.wgsl (generated 64×128 core; both on
//! tile_128_common.wgsl), all on product_common.wgsl, on awkward shapes (1×1, 1×n,
//! 17×33, tall, wide, non-multiples of both tiles, more than 8 tile rows so the 128 core's
//! swizzle has a partial group, batch > 1 at uneven offsets), every transpose combination, with
//! and without the C term, at every autotune candidate (each candidate picks its core);
//! frobenius_normalize.wgsl.
//!
//! Tolerance: |gpu − ref| ≤ 1e-5·(K + 1) + 1e-5·|ref| with entries in [−1, 1]: the GPU
//! accumulates K products in f32 (error ≲ K·ε·max|a·b|, ε = 6e-8), the reference in f64.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgopt_reference::linalg;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::tuning::candidates_for;
use wgopt_scheduler::{Engine, StepRecorder};
use wgopt_solvers::linalg::{GemmOffsets, Matmul, MatmulSpec};
use wgopt_solvers::newton_schulz::{Normalize, NormalizeOffsets};

fn engine() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}

fn random(r: &mut ChaCha8Rng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| r.random_range(-1.0f32..1.0) as f64)
}

fn f32s(a: &Array2<f64>) -> Vec<f32> {
    a.iter().map(|&x| x as f32).collect()
}

/// Packs matrices at uneven offsets (a gap of 7 floats before each) into one buffer.
fn pack(engine: &Engine, mats: &[Array2<f64>]) -> (wgpu::Buffer, Vec<u32>) {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for m in mats {
        data.extend(std::iter::repeat_n(9.0f32, 7));
        offsets.push(data.len() as u32);
        data.extend(f32s(m));
    }
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let buf = engine.create_buffer("test matrices", data.len() as u64 * 4, usage);
    engine
        .queue()
        .write_buffer(&buf, 0, bytemuck::cast_slice(&data));
    (buf, offsets)
}

fn assert_matrix_close(what: &str, gpu: &[f32], want: &Array2<f64>, k: usize) {
    for (i, (g, w)) in gpu.iter().zip(want.iter()).enumerate() {
        let tol = 1e-5 * (k as f64 + 1.0) + 1e-5 * w.abs();
        assert!(((*g as f64) - w).abs() <= tol, "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn gemm_every_transpose_awkward_shapes_batched() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(1);
    // Every k-slice depth the autotune may pick.
    for tuning in candidates_for(&engine) {
        engine.set_tuning(tuning).unwrap();
        let shapes = [
            (1, 1, 1),
            (1, 7, 3),
            (17, 33, 5),
            (65, 3, 70),
            (3, 129, 64),
            (130, 66, 17),
            (131, 257, 33),
            (1100, 130, 3),
        ];
        for &(m, n, k) in &shapes {
            for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
                for use_c in [false, true] {
                    let batch = 2;
                    let a: Vec<_> = (0..batch)
                        .map(|_| {
                            if trans_a {
                                random(&mut r, k, m)
                            } else {
                                random(&mut r, m, k)
                            }
                        })
                        .collect();
                    let b: Vec<_> = (0..batch)
                        .map(|_| {
                            if trans_b {
                                random(&mut r, n, k)
                            } else {
                                random(&mut r, k, n)
                            }
                        })
                        .collect();
                    let c: Vec<_> = (0..batch).map(|_| random(&mut r, m, n)).collect();
                    let (ab, ao) = pack(&engine, &a);
                    let (bb, bo) = pack(&engine, &b);
                    let (cb, co) = pack(&engine, &c);
                    let (db, dof) = pack(&engine, &c); // same shape; overwritten
                    let offsets: Vec<GemmOffsets> = (0..batch)
                        .map(|i| GemmOffsets {
                            a: ao[i],
                            b: bo[i],
                            c: co[i],
                            d: dof[i],
                        })
                        .collect();
                    let (alpha, beta) = (0.75f32, -1.5f32);
                    let mm = Matmul::gemm(
                        &engine,
                        &MatmulSpec {
                            m: m as u32,
                            n: n as u32,
                            k: k as u32,
                            trans_a,
                            trans_b,
                            alpha,
                            beta,
                            a: &ab,
                            b: &bb,
                            c: use_c.then_some(&cb),
                            d: &db,
                            offsets: &offsets,
                        },
                    )
                    .unwrap();
                    let mut rec = StepRecorder::new();
                    mm.record(&mut rec);
                    rec.submit(&engine).unwrap();
                    for i in 0..batch {
                        let got = read_range(&engine, &db, dof[i] as u64 * 4, (m * n) as u64 * 4)
                            .unwrap();
                        let want = linalg::gemm(
                            alpha as f64,
                            a[i].view(),
                            trans_a,
                            b[i].view(),
                            trans_b,
                            beta as f64,
                            use_c.then(|| c[i].view()),
                        );
                        assert_matrix_close(
                        &format!("gemm {tuning:?} {m}×{n}×{k} ta={trans_a} tb={trans_b} c={use_c} #{i}"),
                        &got,
                        &want,
                        k,
                    );
                    }
                }
            }
        }
    }
}

#[test]
fn gram_wide_and_tall_batched() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(2);
    let shapes = [
        (1, 1),
        (1, 9),
        (9, 1),
        (17, 33),
        (33, 17),
        (70, 130),
        (130, 70),
        (270, 140),
    ];
    for (tuning, &(rows, cols)) in candidates_for(&engine)
        .into_iter()
        .flat_map(|t| shapes.iter().map(move |s| (t, s)))
    {
        engine.set_tuning(tuning).unwrap();
        let tall = rows > cols;
        let x: Vec<_> = (0..3).map(|_| random(&mut r, rows, cols)).collect();
        let (xb, xo) = pack(&engine, &x);
        let s = rows.min(cols);
        let outs: Vec<_> = (0..3).map(|_| Array2::<f64>::zeros((s, s))).collect();
        let (db, dof) = pack(&engine, &outs);
        let offsets: Vec<GemmOffsets> = (0..3)
            .map(|i| GemmOffsets {
                a: xo[i],
                b: xo[i],
                c: 0,
                d: dof[i],
            })
            .collect();
        let g = Matmul::gram(
            &engine,
            &MatmulSpec {
                m: s as u32,
                n: s as u32,
                k: rows.max(cols) as u32,
                trans_a: tall,
                trans_b: !tall,
                alpha: 1.0,
                beta: 0.0,
                a: &xb,
                b: &xb,
                c: None,
                d: &db,
                offsets: &offsets,
            },
        )
        .unwrap();
        let mut rec = StepRecorder::new();
        g.record(&mut rec);
        rec.submit(&engine).unwrap();
        for i in 0..3 {
            let got = read_range(&engine, &db, dof[i] as u64 * 4, (s * s) as u64 * 4).unwrap();
            let want = if tall {
                linalg::gram(x[i].t())
            } else {
                linalg::gram(x[i].view())
            };
            assert_matrix_close(
                &format!("gram {rows}×{cols} #{i} at {tuning:?}"),
                &got,
                &want,
                rows.max(cols),
            );
        }
    }
}

/// Normalises `mats` (equal lengths) from one buffer into another and checks every entry
/// against the f64 reference `x / (factor·‖x‖_F + 1e-7)`.
fn check_normalize(engine: &Engine, mats: &[Array2<f64>], factor: f32) {
    let len = mats[0].len();
    let (src, so) = pack(engine, mats);
    let (dst, dof) = pack(engine, mats);
    let offsets: Vec<NormalizeOffsets> = (0..mats.len())
        .map(|i| NormalizeOffsets {
            src: so[i],
            dst: dof[i],
        })
        .collect();
    let n = Normalize::new(engine, len as u32, factor, &src, &dst, &offsets).unwrap();
    let mut rec = StepRecorder::new();
    n.record(&mut rec);
    rec.submit(engine).unwrap();
    for (i, x) in mats.iter().enumerate() {
        let got = read_range(engine, &dst, dof[i] as u64 * 4, len as u64 * 4).unwrap();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let want = x / (factor as f64 * norm + 1e-7);
        // The f32 sum of `len` squares runs as ≤ 256 sequential terms per thread and two
        // 256-wide trees (≈ 300·ε relative worst case, ε = 6e-8), then one division: 2e-5
        // relative leaves margin; an entry left unwritten (0) or non-finite fails.
        for (j, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            assert!(
                ((*g as f64) - w).abs() <= 2e-5 * w.abs() + 1e-9,
                "{len} floats, matrix {i}, entry {j}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn frobenius_normalize_batched() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(3);
    // One workgroup per matrix (437 floats), then lengths that cut into several chunks with a
    // ragged last one (4097·5 and 1000·1001 floats).
    for (rows, cols, batch) in [(19, 23, 4), (4097, 5, 3), (1000, 1001, 2)] {
        let x: Vec<_> = (0..batch).map(|_| random(&mut r, rows, cols)).collect();
        check_normalize(&engine, &x, 1.01);
    }
}

/// Newton–Schulz's first pass at 3000² and 4096²: with one workgroup per matrix lavapipe left
/// every entry from 7,774,208 (of 9M) and from 774,400 (of 16.8M) unwritten.
#[test]
fn frobenius_normalize_large_matrices() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(4);
    for n in [3000, 4096] {
        check_normalize(&engine, &[random(&mut r, n, n)], 1.0);
    }
}

/// A grid of 32×32 tiles of the 128 core (64×64 of the 64 core), as Newton–Schulz at 4096²
/// launches: GEMM and Gram with a short k at every candidate.
#[test]
fn large_grids_match_the_reference() {
    let engine = engine();
    let mut r = ChaCha8Rng::seed_from_u64(9);
    let (n, k) = (4096, 8);
    let a = random(&mut r, n, k);
    let (ab, ao) = pack(&engine, std::slice::from_ref(&a));
    let d0 = Array2::<f64>::zeros((n, n));
    let (db, dof) = pack(&engine, std::slice::from_ref(&d0));
    let want = linalg::gemm(1.0, a.view(), false, a.view(), true, 0.0, None);
    for tuning in candidates_for(&engine) {
        engine.set_tuning(tuning).unwrap();
        for gram in [false, true] {
            let spec = MatmulSpec {
                m: n as u32,
                n: n as u32,
                k: k as u32,
                trans_a: false,
                trans_b: true,
                alpha: 1.0,
                beta: 0.0,
                a: &ab,
                b: &ab,
                c: None,
                d: &db,
                offsets: &[GemmOffsets {
                    a: ao[0],
                    b: ao[0],
                    c: 0,
                    d: dof[0],
                }],
            };
            let product = if gram {
                Matmul::gram(&engine, &spec)
            } else {
                Matmul::gemm(&engine, &spec)
            }
            .unwrap();
            let mut rec = StepRecorder::new();
            product.record(&mut rec);
            rec.submit(&engine).unwrap();
            let got = read_range(&engine, &db, dof[0] as u64 * 4, (n * n) as u64 * 4).unwrap();
            assert_matrix_close(&format!("gram {gram} at {tuning:?}"), &got, &want, k);
        }
    }
}
