//! Helpers of the structured optimizers (AdamP/SGDP, FRUGAL): per-parameter scalar tables, and
//! element blocks — workgroup w of an update kernel handles block w (at most
//! [`ELEMENT_BLOCK`] elements of one parameter piece), so no invocation walks the segments of
//! other parameters.

use bytemuck::{Pod, Zeroable};
use wgopt_scheduler::kernel::WgslStruct;
use wgopt_scheduler::{Engine, Layout};

/// Elements per block (one workgroup of 256 invocations, four elements each).
pub const ELEMENT_BLOCK: usize = 1024;

/// One block of an update pass. WGSL twin: `ElementBlock` in shaders/common/element_block.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct ElementBlock {
    pub start: u32,
    pub end: u32,
    pub first_elem: u32,
    pub param: u32,
}

/// Per-parameter scalars rewritten each step (AdamP's decisions and steps, FRUGAL's column
/// counts and steps): one `T` per parameter of the program, in slot order, and its GPU copy.
#[derive(Debug)]
pub(crate) struct ParamTable<T: Pod> {
    host: Vec<T>,
    /// Layout group of each entry.
    groups: Vec<usize>,
    buffer: wgpu::Buffer,
}

impl<T: Pod> ParamTable<T> {
    pub fn new(engine: &Engine, label: &str, host: Vec<T>, groups: Vec<usize>) -> Self {
        let bytes = (host.len().max(1) * std::mem::size_of::<T>()) as u64;
        let buffer = engine.create_buffer(
            label,
            bytes,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        );
        ParamTable {
            host,
            groups,
            buffer,
        }
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    pub fn len(&self) -> usize {
        self.host.len()
    }

    /// Updates every entry (`update(entry, its group)`) and queues the upload (allocates
    /// nothing).
    pub fn write(&mut self, engine: &Engine, update: impl Fn(&mut T, usize)) {
        for (entry, &g) in self.host.iter_mut().zip(&self.groups) {
            update(entry, g);
        }
        if !self.host.is_empty() {
            engine.write_buffer(&self.buffer, 0, bytemuck::cast_slice(&self.host));
        }
    }
}

/// Per chunk, the [`ELEMENT_BLOCK`]-element blocks of every piece of `slots[k]` (`param` = k).
pub(crate) fn element_blocks(layout: &Layout, slots: &[usize]) -> Vec<Vec<ElementBlock>> {
    let mut per_chunk = vec![Vec::new(); layout.chunk_lens.len()];
    for (k, &i) in slots.iter().enumerate() {
        for piece in &layout.slots[i].pieces {
            for b in (0..piece.len).step_by(ELEMENT_BLOCK) {
                per_chunk[piece.chunk].push(ElementBlock {
                    start: (piece.offset + b) as u32,
                    end: (piece.offset + (b + ELEMENT_BLOCK).min(piece.len)) as u32,
                    first_elem: (piece.start + b) as u32,
                    param: k as u32,
                });
            }
        }
    }
    per_chunk
}
