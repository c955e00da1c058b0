//! `S·A` on the GPU without materialising S: Gaussian entries generated inside a tiled product
//! (`sketch/sketch_gaussian.wgsl`), CountSketch by bucket lists (`sketch/sketch_count.wgsl`),
//! SRHT by signs, log₂ m' butterfly passes and a gather (`sketch/srht_*.wgsl`). The Philox
//! bits, hashes and sampled rows are the reference's (`wgopt_reference::sketch`).

use super::{
    bad, check_size, storage_buffer, uniform_buffer, SketchParams, SKETCH_COUNT, SKETCH_GAUSSIAN,
    SRHT_BUTTERFLY, SRHT_GATHER, SRHT_SIGN,
};
use wgopt_reference::random;
use wgopt_reference::sketch::{Sketch, SketchKind};
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

/// Workgroup grid for (columns in groups of 64) × `rows` (capped at 65535; kernels stride).
fn grid(cols: usize, rows: usize) -> [u32; 3] {
    [(cols as u32).div_ceil(64), (rows as u32).clamp(1, 65535), 1]
}

/// What every sketch kind records from: the engine, the recorder, A (m × n) and the output
/// (s × n), the uniform's base values, and the buffers to keep alive until the submit.
struct Target<'a> {
    engine: &'a Engine,
    rec: &'a mut StepRecorder,
    a: &'a wgpu::Buffer,
    out: &'a wgpu::Buffer,
    params: SketchParams,
    keep: Vec<wgpu::Buffer>,
}

/// Records `S·A` for `A` (m × n, row-major f32) already on the GPU; returns the output buffer
/// (s × n) and keeps the temporary buffers alive in the returned list until the submit.
pub fn record_sketch(
    engine: &Engine,
    rec: &mut StepRecorder,
    sketch: &Sketch,
    a: &wgpu::Buffer,
    n: usize,
) -> Result<(wgpu::Buffer, Vec<wgpu::Buffer>)> {
    let (s, m) = (sketch.rows, sketch.input);
    check_size(engine, "sketch output", s * n)?;
    let padded = m.next_power_of_two();
    let params = SketchParams {
        rows: s as u32,
        input: m as u32,
        cols: n as u32,
        key: random::key(sketch.seed),
        padded: padded as u32,
        scale: 1.0 / (s as f32).sqrt(),
        ..Default::default()
    };
    let out = engine.create_buffer(
        "sketch out",
        (s * n * 4).max(16) as u64,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
    );
    let mut t = Target {
        engine,
        rec,
        a,
        out: &out,
        params,
        keep: Vec::new(),
    };
    match sketch.kind {
        SketchKind::Gaussian => gaussian(&mut t)?,
        SketchKind::CountSketch => count_sketch(&mut t, sketch),
        SketchKind::Srht => srht(&mut t, sketch)?,
    }
    let keep = t.keep;
    Ok((out, keep))
}

fn gaussian(t: &mut Target<'_>) -> Result<()> {
    let (s, n) = (t.params.rows, t.params.cols);
    let p = uniform_buffer(t.engine, "sketch params", &t.params);
    // 64×64 output tiles (shaders/sketch/sketch_gaussian.wgsl).
    let wg = [n.div_ceil(64), s.div_ceil(64), 1];
    if wg[1] > 65535 {
        return Err(bad(format!(
            "Gaussian sketch of {s} rows exceeds the dispatch grid"
        )));
    }
    t.rec.push(
        t.engine
            .dispatch(&SKETCH_GAUSSIAN, &[], &[&p, t.a, t.out], wg),
    );
    t.keep.push(p);
    Ok(())
}

fn count_sketch(t: &mut Target<'_>, sketch: &Sketch) {
    let (s, m, n) = (sketch.rows, sketch.input, t.params.cols as usize);
    // Bucket lists from the reference's hash (row | sign bit).
    let mut counts = vec![0u32; s + 1];
    let hashed: Vec<(usize, f64)> = (0..m).map(|r| sketch.count_bucket(r)).collect();
    for &(bkt, _) in &hashed {
        counts[bkt + 1] += 1;
    }
    for i in 0..s {
        counts[i + 1] += counts[i];
    }
    let mut fill = counts.clone();
    let mut rows = vec![0u32; m];
    for (r, &(bkt, sign)) in hashed.iter().enumerate() {
        rows[fill[bkt] as usize] = r as u32 | if sign < 0.0 { 0x8000_0000 } else { 0 };
        fill[bkt] += 1;
    }
    let e = t.engine;
    let p = uniform_buffer(e, "sketch params", &t.params);
    let starts = storage_buffer(e, "countsketch starts", bytemuck::cast_slice(&counts));
    let list = storage_buffer(e, "countsketch rows", bytemuck::cast_slice(&rows));
    t.rec.push(e.dispatch(
        &SKETCH_COUNT,
        &[],
        &[&p, t.a, &starts, &list, t.out],
        grid(n, s),
    ));
    t.keep.extend([p, starts, list]);
}

fn srht(t: &mut Target<'_>, sketch: &Sketch) -> Result<()> {
    let e = t.engine;
    let (s, n, padded) = (
        sketch.rows,
        t.params.cols as usize,
        t.params.padded as usize,
    );
    check_size(e, "SRHT work buffer", padded * n)?;
    let x = e.create_buffer(
        "srht mixed",
        (padded * n * 4) as u64,
        wgpu::BufferUsages::STORAGE,
    );
    let p = uniform_buffer(e, "sketch params", &t.params);
    t.rec
        .push(e.dispatch(&SRHT_SIGN, &[], &[&p, t.a, &x], grid(n, padded)));
    let mut h = 1;
    while h < padded {
        let pass = SketchParams {
            stride: h as u32,
            ..t.params
        };
        let ph = uniform_buffer(e, "srht pass", &pass);
        t.rec
            .push(e.dispatch(&SRHT_BUTTERFLY, &[], &[&ph, &x], grid(n, padded / 2)));
        t.keep.push(ph);
        h *= 2;
    }
    let rows = storage_buffer(e, "srht rows", bytemuck::cast_slice(&sketch.srht_rows()));
    t.rec
        .push(e.dispatch(&SRHT_GATHER, &[], &[&p, &x, &rows, t.out], grid(n, s)));
    t.keep.extend([p, x, rows]);
    Ok(())
}

/// `S·A` for a host matrix (uploads, one submit, reads back): the convenience and test path.
pub fn apply_sketch(engine: &Engine, sketch: &Sketch, a: &[f32], n: usize) -> Result<Vec<f32>> {
    if n == 0 || a.len() != sketch.input * n {
        return Err(Error::ShapeMismatch {
            name: "sketched matrix".into(),
            expected: format!("{} × {n} values", sketch.input),
            got: format!("{}", a.len()),
        });
    }
    check_size(engine, "sketched matrix", a.len())?;
    let abuf = storage_buffer(engine, "sketch input", bytemuck::cast_slice(a));
    let mut rec = StepRecorder::new();
    let (out, _keep) = record_sketch(engine, &mut rec, sketch, &abuf, n)?;
    rec.submit(engine)?;
    read_range(engine, &out, 0, (sketch.rows * n * 4) as u64)
}
