//! The GEMM autotune: times a square GEMM with every tile-core candidate the device can run
//! (`wgopt_scheduler::tuning::candidates_for`), keeps the fastest for the engine and writes it to
//! the adapter's cache file, which engines opened later load.

use super::matmul::{GemmOffsets, Matmul, MatmulSpec};
use std::time::Instant;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::tuning::{cache_file, candidates_for, TuneReport, Tuning};
use wgopt_scheduler::{Engine, Result, StepRecorder};

/// Best-of-`repeats` host wall time of one `m` (after a warm-up run).
fn time_product(engine: &Engine, m: &Matmul, d: &wgpu::Buffer, repeats: usize) -> Result<f64> {
    let mut best = f64::INFINITY;
    for r in 0..=repeats.max(1) {
        let mut rec = StepRecorder::new();
        m.record(&mut rec);
        let t = Instant::now();
        rec.submit(engine)?;
        // A one-float readback waits for the GPU on every backend.
        read_range(engine, d, 0, 4)?;
        if r > 0 {
            best = best.min(t.elapsed().as_secs_f64());
        }
    }
    Ok(best)
}

/// Times a `size`³ GEMM with every candidate (best of `repeats` after a warm-up), keeps the
/// fastest for this engine and writes it to the adapter's cache file (best effort: a read-only
/// cache directory only loses the caching).
pub fn autotune(engine: &Engine, size: u32, repeats: usize) -> Result<TuneReport> {
    let n = size.max(1);
    let len = n as u64 * n as u64;
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let a = engine.create_buffer("autotune a", len * 4, usage);
    let d = engine.create_buffer("autotune d", len * 4, usage);
    let data: Vec<f32> = (0..len).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect();
    engine
        .queue()
        .write_buffer(&a, 0, bytemuck::cast_slice(&data));
    let offsets = [GemmOffsets::default()];
    let previous = engine.tuning();
    let mut timings = Vec::new();
    for candidate in candidates_for(engine) {
        engine.set_tuning(candidate)?;
        let spec = MatmulSpec {
            m: n,
            n,
            k: n,
            trans_a: false,
            trans_b: false,
            alpha: 1.0,
            beta: 0.0,
            a: &a,
            b: &a,
            c: None,
            d: &d,
            offsets: &offsets,
        };
        let m = Matmul::gemm(engine, &spec)?;
        timings.push((candidate, time_product(engine, &m, &d, repeats)?));
    }
    engine.set_tuning(previous)?;
    let chosen = timings
        .iter()
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map_or_else(Tuning::default, |t| t.0);
    engine.set_tuning(chosen)?;
    let cache_file = cache_file(engine.adapter()).filter(|path| {
        let text = serde_json::to_string_pretty(&chosen).unwrap_or_default();
        path.parent()
            .is_some_and(|dir| std::fs::create_dir_all(dir).is_ok())
            && std::fs::write(path, text).is_ok()
    });
    Ok(TuneReport {
        size: n,
        timings,
        chosen,
        cache_file,
    })
}
