//! The GPU compressor of Deep Gradient Compression (`shaders/dgc/dgc_common.wgsl`,
//! `dgc_compensate.wgsl`, `dgc_count.wgsl`, `dgc_scan.wgsl`, `dgc_select.wgsl`) against its
//! reference twin (`wgopt_reference::dgc`), over several steps (the memory accumulates), on awkward sizes
//! (1 element, fewer than a tile, several tiles with a ragged end), over one and several
//! chunks, for every switch. No MPI: one worker's compressor.

use wgopt_reference::dgc::DgcConfig;
use wgopt_reference::dgc::{kth_largest_abs, selected, DgcWorker};
use wgopt_scheduler::{Engine, EngineOptions};
use wgopt_solvers::dgc::GpuDgc;

const SIZES: [usize; 6] = [1, 7, 1000, 4099, 2145, 8193];

/// Gradient `step` of tensor `t`: values in [−1, 1) from a hash.
fn grad(step: u64, t: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|e| {
            let mut z = (step << 40) ^ ((t as u64) << 28) ^ e as u64;
            z = (z ^ (z >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// |a − b| ≤ 1e-6·(1 + |b|), every value finite. The correction is the same f32 expression on
/// both sides; a compiler may contract m·u + g into one fma, which differs by at most one
/// rounding (≤ 6e-8 relative) per step; over 5 steps of accumulation that stays below 1e-6.
fn close(what: &str, gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    for (i, (a, b)) in gpu.iter().zip(cpu).enumerate() {
        assert!(a.is_finite() && b.is_finite(), "{what}[{i}]: {a} vs {b}");
        assert!(
            (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
            "{what}[{i}]: gpu {a} vs reference {b}"
        );
    }
}

fn run(engine: &Engine, cfg: DgcConfig, ratio: f64, steps: u64) {
    let mut gpu = GpuDgc::new(engine, &SIZES, cfg, ratio).unwrap();
    let mut cpu = DgcWorker::new(&SIZES);
    let clip: Vec<f32> = (0..SIZES.len()).map(|t| 0.3 + 0.1 * t as f32).collect();
    for step in 0..steps {
        let g: Vec<Vec<f32>> = SIZES
            .iter()
            .enumerate()
            .map(|(t, &n)| grad(step, t, n))
            .collect();
        let refs: Vec<&[f32]> = g.iter().map(Vec::as_slice).collect();
        let ours = gpu.compress(engine, &refs, &clip).unwrap();
        let want = cpu.compress(&cfg, ratio, &refs, &clip).unwrap();
        for (t, (a, b)) in ours.iter().zip(&want).enumerate() {
            assert_eq!(
                a.indices, b.indices,
                "{cfg:?} ratio {ratio} step {step} tensor {t}: indices"
            );
            close(
                &format!("step {step} tensor {t} values"),
                &a.values,
                &b.values,
            );
            assert_eq!(a.indices.len(), selected(SIZES[t], ratio));
        }
    }
    let (u, v) = gpu.read_memory(engine).unwrap();
    for t in 0..SIZES.len() {
        close(&format!("u of tensor {t}"), &u[t], &cpu.u[t]);
        close(&format!("v of tensor {t}"), &v[t], &cpu.v[t]);
    }
}

#[test]
fn compressor_matches_the_twin_for_every_switch() {
    let engine = Engine::new().unwrap();
    let base = DgcConfig::default();
    run(&engine, base, 0.01, 5);
    run(
        &engine,
        DgcConfig {
            nesterov: true,
            momentum_masking: false,
            ..base
        },
        0.3,
        5,
    );
    run(
        &engine,
        DgcConfig {
            local_clipping: true,
            momentum: 0.5,
            ..base
        },
        0.05,
        5,
    );
    run(&engine, base, 1.0, 3);
    run(&engine, base, base.ratio_at(0), 4);
}

#[test]
fn compressor_matches_the_twin_over_several_chunks() {
    // 12 KiB chunks: the 4099- and 8193-element tensors get chunks of their own.
    let engine = Engine::with_options(EngineOptions {
        max_chunk_bytes: Some(9000 * 4),
        ..EngineOptions::default()
    })
    .unwrap();
    run(
        &engine,
        DgcConfig {
            nesterov: true,
            ..DgcConfig::default()
        },
        0.02,
        4,
    );
}

/// The selection is the exact top-k: k coordinates, each at least as large in magnitude as
/// every coordinate left behind, and the smallest sent one is the sorted k-th largest.
#[test]
fn selection_is_the_exact_top_k() {
    let engine = Engine::new().unwrap();
    let cfg = DgcConfig {
        momentum: 0.0,
        ..DgcConfig::default()
    };
    for ratio in [0.001, 0.01, 0.37] {
        let mut gpu = GpuDgc::new(&engine, &SIZES, cfg, ratio).unwrap();
        let g: Vec<Vec<f32>> = SIZES
            .iter()
            .enumerate()
            .map(|(t, &n)| grad(9, t, n))
            .collect();
        let refs: Vec<&[f32]> = g.iter().map(Vec::as_slice).collect();
        let sent = gpu.compress(&engine, &refs, &[]).unwrap();
        for (t, s) in sent.iter().enumerate() {
            let k = selected(SIZES[t], ratio);
            assert_eq!(s.indices.len(), k);
            let smallest = s.values.iter().fold(f32::INFINITY, |m, x| m.min(x.abs()));
            assert_eq!(
                smallest,
                kth_largest_abs(&g[t], k),
                "tensor {t} ratio {ratio}"
            );
            for (i, &x) in g[t].iter().enumerate() {
                if !s.indices.contains(&(i as u32)) {
                    assert!(
                        x.abs() <= smallest,
                        "tensor {t}: {x} left behind, {smallest} sent"
                    );
                }
            }
        }
    }
}

#[test]
fn bad_sizes_and_ratios_are_typed_errors() {
    let engine = Engine::new().unwrap();
    let cfg = DgcConfig::default();
    assert!(GpuDgc::new(&engine, &[3, 0], cfg, 0.1).is_err());
    assert!(GpuDgc::new(&engine, &[3], cfg, 0.0).is_err());
    assert!(GpuDgc::new(&engine, &[3], cfg, 1.5).is_err());
    let mut gpu = GpuDgc::new(&engine, &[3, 4], cfg, 0.5).unwrap();
    assert!(gpu.compress(&engine, &[&[1.0; 3], &[1.0; 5]], &[]).is_err());
    assert!(gpu.set_ratio(&engine, f64::NAN).is_err());
}
