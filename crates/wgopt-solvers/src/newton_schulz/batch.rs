//! `orthogonalize`: approximate polar factors of a list of matrices on the GPU.
//!
//! Each input is viewed as a batch of matrices: 2-D as one rows×cols matrix, 3-D as a batch over
//! the leading dimension, 4-D and more (convolution filters) as `shape[0] × prod(rest)` as Muon
//! does. Matrices of the same shape share one dispatch chain. Tall and wide are both handled
//! without transposes (the Gram is always on the short side). One submit for everything.

use super::plan::{NewtonSchulzPlan, NewtonSchulzSpec};
use wgopt_reference::linalg::NsSchedule;
use wgopt_reference::linalg::Precision;
use wgopt_scheduler::arena::read_range;
use wgopt_scheduler::{Engine, Error, Result, StepRecorder};

/// How a tensor is seen as matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixView {
    pub batch: usize,
    pub rows: usize,
    pub cols: usize,
}

/// The matrix view of a shape; 0-D and 1-D tensors (and empty ones) are errors.
pub fn matrix_view(name: &str, shape: &[usize]) -> Result<MatrixView> {
    let v = match shape {
        [r, c] => MatrixView {
            batch: 1,
            rows: *r,
            cols: *c,
        },
        [b, r, c] => MatrixView {
            batch: *b,
            rows: *r,
            cols: *c,
        },
        [r, rest @ ..] if rest.len() >= 3 => MatrixView {
            batch: 1,
            rows: *r,
            cols: rest.iter().product(),
        },
        _ => {
            return Err(Error::ShapeMismatch {
                name: name.into(),
                expected:
                    "a matrix (2-D), a batch of matrices (3-D) or a convolution filter (4-D+)"
                        .into(),
                got: format!("{shape:?}"),
            })
        }
    };
    if v.batch * v.rows * v.cols == 0 {
        return Err(Error::EmptyParameter(name.into()));
    }
    Ok(v)
}

/// Approximate polar factors of every input `(shape, data)` after `steps` Newton–Schulz steps
/// of `schedule`; outputs in the inputs' shapes. Reads back (waits for the GPU).
pub fn orthogonalize(
    engine: &Engine,
    inputs: &[(&[usize], &[f32])],
    schedule: &NsSchedule,
    steps: usize,
) -> Result<Vec<Vec<f32>>> {
    orthogonalize_with(engine, inputs, schedule, steps, Precision::F32)
}

/// [`orthogonalize`] with the iterates stored in `precision` (f16 needs SHADER_F16 and is a
/// typed [`Error::MissingFeature`] without it; inputs and outputs stay f32).
pub fn orthogonalize_with(
    engine: &Engine,
    inputs: &[(&[usize], &[f32])],
    schedule: &NsSchedule,
    steps: usize,
    precision: Precision,
) -> Result<Vec<Vec<f32>>> {
    // Group matrices by shape: (rows, cols) → list of (input index, matrix index in it).
    type Members = Vec<(usize, usize)>;
    let mut groups: Vec<((usize, usize), Members)> = Vec::new();
    for (i, (shape, data)) in inputs.iter().enumerate() {
        let v = matrix_view(&format!("input {i}"), shape)?;
        if data.len() != v.batch * v.rows * v.cols {
            return Err(Error::ShapeMismatch {
                name: format!("input {i}"),
                expected: format!("{shape:?} ({} elements)", v.batch * v.rows * v.cols),
                got: format!("{} elements", data.len()),
            });
        }
        let key = (v.rows, v.cols);
        let entries = (0..v.batch).map(|b| (i, b));
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.extend(entries),
            None => groups.push((key, entries.collect())),
        }
    }
    let storage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let mut rec = StepRecorder::new();
    let mut plans = Vec::new();
    for ((rows, cols), members) in &groups {
        let len = rows * cols;
        let total = (members.len() * len) as u64 * 4;
        if total > engine.chunk_bytes() {
            return Err(Error::OverLimit {
                what: format!("{} matrices of {rows}×{cols}", members.len()),
                size: total,
                limit: engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        let input = engine.create_buffer("orthogonalize input", total, storage);
        let output = engine.create_buffer("orthogonalize output", total, storage);
        for (j, &(i, b)) in members.iter().enumerate() {
            let data = &inputs[i].1[b * len..(b + 1) * len];
            engine
                .queue()
                .write_buffer(&input, (j * len * 4) as u64, bytemuck::cast_slice(data));
        }
        let offsets: Vec<u32> = (0..members.len()).map(|j| (j * len) as u32).collect();
        let coefficients: Vec<(f32, f32, f32)> = schedule
            .coefficients(*rows, *cols, steps)
            .into_iter()
            .map(|(a, b, c)| (a as f32, b as f32, c as f32))
            .collect();
        let plan = NewtonSchulzPlan::new(
            engine,
            &NewtonSchulzSpec {
                norm_factor: schedule.norm_factor() as f32,
                precision,
                ..NewtonSchulzSpec::new(
                    *rows as u32,
                    *cols as u32,
                    &coefficients,
                    (&input, &offsets),
                    (&output, &offsets),
                )
            },
        )?;
        plan.record(&mut rec);
        plans.push((output, total));
    }
    rec.submit(engine)?;
    let mut outputs: Vec<Vec<f32>> = inputs.iter().map(|(_, d)| vec![0.0; d.len()]).collect();
    for (((rows, cols), members), (output, total)) in groups.iter().zip(&plans) {
        let data = read_range(engine, output, 0, *total)?;
        let len = rows * cols;
        for (j, &(i, b)) in members.iter().enumerate() {
            outputs[i][b * len..(b + 1) * len].copy_from_slice(&data[j * len..(j + 1) * len]);
        }
    }
    Ok(outputs)
}
