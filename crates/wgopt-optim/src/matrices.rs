//! Parameters seen as batches of matrices, for the optimizers that work on whole matrices
//! (Muon's Newton–Schulz, SinkGD's normalisation): 2-D as one matrix, 3-D as a batch over the
//! leading dimension, 4-D and more as `shape[0] × prod(rest)`. Same-shape matrices of one group
//! in one arena chunk form one batch, so they share one dispatch chain.

use wgopt_reference::optim::muon::matrix_dims;
use wgopt_scheduler::{Error, Layout, Result};

/// Matrices of one shape, one group, one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatrixBatch {
    pub chunk: usize,
    pub group: usize,
    pub rows: usize,
    pub cols: usize,
    /// Offset (floats) of each matrix in the chunk.
    pub offsets: Vec<u32>,
}

/// Batches the parameters `slots`; `who` names the optimizer in errors for parameters that are
/// not matrices or do not fit one storage binding.
pub(crate) fn matrix_batches(
    layout: &Layout,
    slots: &[usize],
    who: &str,
    chunk_bytes: u64,
) -> Result<Vec<MatrixBatch>> {
    let mut batches: Vec<MatrixBatch> = Vec::new();
    for &i in slots {
        let s = &layout.slots[i];
        if s.shape.len() < 2 {
            return Err(Error::ShapeMismatch {
                name: s.name.clone(),
                expected: format!(
                    "at least 2 dimensions for {who}; use the hybrid {}+adamw, which sends \
                     1-D parameters to AdamW",
                    who.to_lowercase()
                ),
                got: format!("{:?}", s.shape),
            });
        }
        if s.is_split() {
            return Err(Error::OverLimit {
                what: format!(
                    "{who} parameter {:?} (each matrix must sit in one storage binding)",
                    s.name
                ),
                size: s.len as u64 * 4,
                limit: chunk_bytes,
                unit: "bytes",
            });
        }
        let (rows, cols) = matrix_dims(&s.shape);
        let offsets = (0..s.len / (rows * cols)).map(|b| (s.offset + b * rows * cols) as u32);
        match batches
            .iter_mut()
            .find(|b| (b.chunk, b.group, b.rows, b.cols) == (s.chunk, s.group, rows, cols))
        {
            Some(b) => b.offsets.extend(offsets),
            None => batches.push(MatrixBatch {
                chunk: s.chunk,
                group: s.group,
                rows,
                cols,
                offsets: offsets.collect(),
            }),
        }
    }
    Ok(batches)
}
