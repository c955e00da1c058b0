//! Arenas: one flat f32 buffer per layout chunk. Parameters, gradients and every optimizer
//! state tensor are arenas of the same [`Layout`], so one elementwise dispatch per chunk
//! updates every parameter at once (PyTorch's multi-tensor apply, without the tensor lists).

use crate::layout::{Layout, Slot};
use crate::{Engine, Error, Result};

/// Buffer usages of every arena chunk: bound as storage, filled by writes and copies, read back.
pub const ARENA_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_DST)
    .union(wgpu::BufferUsages::COPY_SRC);

/// A set of zero-initialised chunk buffers laid out like a [`Layout`].
#[derive(Debug)]
pub struct Arena {
    pub chunks: Vec<wgpu::Buffer>,
}

impl Arena {
    /// Allocates zeroed chunks (wgpu zero-initialises new buffers).
    pub fn new(engine: &Engine, layout: &Layout, label: &str) -> Arena {
        let chunks = layout
            .chunk_lens
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                engine.create_buffer(&format!("{label}[{i}]"), n as u64 * 4, ARENA_USAGE)
            })
            .collect();
        Arena { chunks }
    }

    /// Queues a write of one slot's data (executed before the next submit).
    pub fn write(&self, engine: &Engine, slot: &Slot, data: &[f32]) -> Result<()> {
        if data.len() != slot.len {
            return Err(Error::ShapeMismatch {
                name: slot.name.clone(),
                expected: format!("{:?} ({} elements)", slot.shape, slot.len),
                got: format!("{} elements", data.len()),
            });
        }
        for p in &slot.pieces {
            engine.write_buffer(
                &self.chunks[p.chunk],
                p.offset as u64 * 4,
                bytemuck::cast_slice(&data[p.start..p.start + p.len]),
            );
        }
        Ok(())
    }

    /// Reads every slot back (one staging copy per chunk, one wait each).
    pub fn read_all(&self, engine: &Engine, layout: &Layout) -> Result<Vec<Vec<f32>>> {
        let chunks = read_buffers(engine, &self.chunks)?;
        Ok(layout
            .slots
            .iter()
            .map(|s| {
                let mut v = Vec::with_capacity(s.len);
                for p in &s.pieces {
                    v.extend_from_slice(&chunks[p.chunk][p.offset..p.offset + p.len]);
                }
                v
            })
            .collect())
    }

    /// Reads one slot back.
    pub fn read(&self, engine: &Engine, slot: &Slot) -> Result<Vec<f32>> {
        let mut v = Vec::with_capacity(slot.len);
        for p in &slot.pieces {
            let bytes = p.len.div_ceil(4) as u64 * 16;
            let mut piece = read_range(engine, &self.chunks[p.chunk], p.offset as u64 * 4, bytes)?;
            piece.truncate(p.len);
            v.extend(piece);
        }
        Ok(v)
    }
}

/// Copies whole buffers to the host (f32 contents).
pub fn read_buffers(engine: &Engine, buffers: &[wgpu::Buffer]) -> Result<Vec<Vec<f32>>> {
    buffers
        .iter()
        .map(|b| read_range(engine, b, 0, b.size()))
        .collect()
}

/// Copies `size` bytes at `offset` of a buffer to the host. This is the only way data leaves
/// the GPU, and only when the caller asks.
pub fn read_range(
    engine: &Engine,
    buffer: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<Vec<f32>> {
    let bytes = read_bytes(engine, buffer, offset, size)?;
    Ok(bytemuck::pod_collect_to_vec(&bytes))
}

/// Raw bytes of a buffer range.
pub fn read_bytes(
    engine: &Engine,
    buffer: &wgpu::Buffer,
    offset: u64,
    size: u64,
) -> Result<Vec<u8>> {
    if size == 0 {
        return Ok(Vec::new());
    }
    let staging = engine.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("wgopt readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = engine
        .device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("wgopt readback"),
        });
    enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
    engine.queue().submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    engine.wait()?;
    rx.recv().map_err(|e| Error::Readback(e.to_string()))??;
    let data = staging.slice(..).get_mapped_range()?.to_vec();
    staging.unmap();
    engine.count_readback(size);
    Ok(data)
}
