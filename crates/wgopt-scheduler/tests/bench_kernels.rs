//! The calibration kernels (bench/copy.wgsl, bench/fma.wgsl) compute what they claim, so the
//! ratios bench-gpu reports are against real work.

use wgopt_scheduler::arena::read_buffers;
use wgopt_scheduler::bench::{CopyBench, FmaBench};
use wgopt_scheduler::{Engine, EngineOptions, StepRecorder};

#[test]
fn copy_kernel_copies_awkward_sizes() {
    // Capped at 2 workgroups so the grid-stride loop runs many times.
    let engine = Engine::with_options(EngineOptions {
        max_workgroups: Some(2),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    for n in [1usize, 3, 4 * 1000 + 1, 70_001] {
        let c = CopyBench::new(&engine, n).unwrap();
        let src: Vec<f32> = (0..c.src.size() / 4)
            .map(|i| i as f32 * 0.5 - 3.0)
            .collect();
        engine
            .queue()
            .write_buffer(&c.src, 0, bytemuck::cast_slice(&src));
        let mut rec = StepRecorder::new();
        c.record(&mut rec);
        rec.submit(&engine).unwrap();
        assert_eq!(read_buffers(&engine, &[c.dst]).unwrap()[0], src, "n = {n}");
    }
}

#[test]
fn fma_kernel_matches_cpu_chain() {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    let iters = 50;
    let f = FmaBench::new(&engine, 3, iters);
    let mut rec = StepRecorder::new();
    f.record(&mut rec);
    rec.submit(&engine).unwrap();
    let out = read_buffers(&engine, std::slice::from_ref(&f.out))
        .unwrap()
        .remove(0);
    for gid in [0usize, 1, 255, 256, 767] {
        let seed = gid as f32 * 1e-7;
        let starts = [seed, seed + 0.1, seed + 0.2, seed + 0.3];
        let mut lanes = [0f32; 4];
        for (lane, s) in starts.iter().enumerate() {
            let mut sum = 0.0;
            for off in [0.0f32, 0.5, 0.25, 0.75, 0.125, 0.375, 0.625, 0.875] {
                let mut x = s + off;
                // Four FMAs per iteration (the kernel's unrolled body).
                for _ in 0..4 * iters {
                    x = x.mul_add(0.9999, 1e-4);
                }
                sum += x;
            }
            lanes[lane] = sum;
        }
        // rtol 1e-5: WGSL lets fma() be evaluated unfused, and the eight chains are summed in
        // an order the compiler may change.
        for l in 0..4 {
            let got = out[gid * 4 + l];
            assert!(
                (got - lanes[l]).abs() <= 1e-5 * lanes[l].abs(),
                "gid {gid} lane {l}: {got} vs {}",
                lanes[l]
            );
        }
    }
}

#[test]
fn oversized_copy_is_a_typed_error() {
    let engine = Engine::with_options(EngineOptions {
        max_chunk_bytes: Some(4096),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        CopyBench::new(&engine, 2048),
        Err(wgopt_scheduler::Error::OverLimit { .. })
    ));
}
