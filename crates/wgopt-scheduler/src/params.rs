//! `ParamSet`: named, shaped parameters and their gradients on the GPU, in two arenas of one
//! [`Layout`]. Host data comes in as f32, f16 or bf16 slices; an application's own gradient
//! buffers come in by a GPU copy recorded into the next step, or are written in place through
//! [`ParamSet::grad_binding`] (the zero-copy path).

use crate::arena::Arena;
use crate::layout::{Layout, ParamSpec, Slot};
use crate::{Engine, Error, Result};

/// Host element types accepted for upload; converted to f32 on the host.
pub trait HostFloat: Copy {
    fn to_f32(self) -> f32;
}

impl HostFloat for f32 {
    fn to_f32(self) -> f32 {
        self
    }
}

impl HostFloat for half::f16 {
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
}

impl HostFloat for half::bf16 {
    fn to_f32(self) -> f32 {
        self.to_f32()
    }
}

/// A GPU copy from an application buffer into the gradient arena, recorded into the next step.
#[derive(Debug, Clone)]
pub struct PendingCopy {
    pub src: wgpu::Buffer,
    pub src_offset: u64,
    pub dst: wgpu::Buffer,
    pub dst_offset: u64,
    pub size: u64,
}

/// Which way a recorded copy goes.
#[derive(Debug, Clone, Copy)]
enum Direction {
    IntoArena,
    OutOfArena,
}

/// Where one tensor lives on the GPU: bind `buffer` at `offset` with `size` bytes.
#[derive(Debug, Clone, Copy)]
pub struct TensorBinding<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

/// Parameters and gradients of a model, on the GPU.
#[derive(Debug)]
pub struct ParamSet {
    id: u64,
    engine: Engine,
    layout: Layout,
    params: Arena,
    grads: Arena,
    scratch: Vec<f32>,
    pub(crate) pending: Vec<PendingCopy>,
    /// Copies out of the parameter arena, encoded after the step's dispatches.
    pub(crate) pending_after: Vec<PendingCopy>,
    /// Per slot: the gradient was written (or copied, or bound for in-place writes) since the
    /// last step. Checked by [`ParamSet::take_fresh_grads`] when `check_fresh` is on.
    fresh: Vec<bool>,
    check_fresh: bool,
}

impl ParamSet {
    /// Lays out and allocates parameters (zeros) and gradients (zeros). Shapes whose sizes
    /// overflow, pass [`crate::layout::MAX_LAYOUT_ELEMENTS`] or the engine's
    /// [`Engine::max_arena_bytes`] are refused before anything is allocated.
    pub fn new(engine: &Engine, specs: &[ParamSpec]) -> Result<ParamSet> {
        let layout = Layout::new(specs, engine.chunk_bytes())?;
        let bytes = layout.chunk_lens.iter().map(|&n| n as u64 * 4).sum::<u64>();
        if bytes > engine.max_arena_bytes() {
            return Err(Error::OverLimit {
                what: format!("the parameter arena of {} parameters", layout.slots.len()),
                size: bytes,
                limit: engine.max_arena_bytes(),
                unit: "bytes",
            });
        }
        let params = Arena::new(engine, &layout, "params");
        let grads = Arena::new(engine, &layout, "grads");
        engine.check_device()?;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(ParamSet {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            engine: engine.clone(),
            pending: Vec::with_capacity(layout.slots.len()),
            pending_after: Vec::with_capacity(layout.slots.len()),
            // A new set's zero gradients count as written for its first step.
            fresh: vec![true; layout.slots.len()],
            check_fresh: cfg!(debug_assertions),
            layout,
            params,
            grads,
            scratch: Vec::new(),
        })
    }

    /// Turns the stale-gradient check on or off (on by default in debug builds): when on,
    /// an optimizer's `step` refuses with [`Error::StaleGradient`] if any gradient was not
    /// written, copied in, or bound through [`ParamSet::grad_binding`] since the last step,
    /// so a forgotten write is not silently applied again.
    pub fn set_stale_grad_check(&mut self, on: bool) {
        self.check_fresh = on;
    }

    /// Marks every gradient as rewritten (for an application that updates the gradient arena
    /// by its own means, e.g. a kernel bound through [`ParamSet::grad_arena`]).
    pub fn mark_grads_written(&mut self) {
        self.fresh.iter_mut().for_each(|f| *f = true);
    }

    /// Called by an optimizer's step: with the check on, every gradient must have been
    /// written since the last call; then every mark is cleared. Nothing is changed on error.
    pub fn take_fresh_grads(&mut self) -> Result<()> {
        if self.check_fresh {
            let stale: Vec<&str> = (self.fresh.iter().zip(&self.layout.slots))
                .filter(|(f, _)| !**f)
                .map(|(_, s)| s.name.as_str())
                .collect();
            if !stale.is_empty() {
                return Err(Error::StaleGradient {
                    names: stale.join(", "),
                });
            }
        }
        self.fresh.iter_mut().for_each(|f| *f = false);
        Ok(())
    }

    fn mark(&mut self, name: &str) -> Result<()> {
        let i = self.layout.index_of(name)?;
        self.fresh[i] = true;
        Ok(())
    }

    /// Unique identity of this set (optimizers check they are stepped with their own set).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn param_arena(&self) -> &Arena {
        &self.params
    }

    pub fn grad_arena(&self) -> &Arena {
        &self.grads
    }

    fn convert<T: HostFloat>(&mut self, data: &[T]) -> Vec<f32> {
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        v.extend(data.iter().map(|x| x.to_f32()));
        v
    }

    fn check_shape(slot: &Slot, shape: &[usize]) -> Result<()> {
        if slot.shape != shape {
            return Err(Error::ShapeMismatch {
                name: slot.name.clone(),
                expected: format!("{:?}", slot.shape),
                got: format!("{shape:?}"),
            });
        }
        Ok(())
    }

    /// Sets a parameter's values.
    pub fn write_param<T: HostFloat>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let v = self.convert(data);
        let slot = self.layout.slot(name)?;
        let r = self.params.write(&self.engine, slot, &v);
        self.scratch = v;
        r
    }

    /// Sets a gradient; its length must equal the parameter's element count.
    pub fn write_grad<T: HostFloat>(&mut self, name: &str, data: &[T]) -> Result<()> {
        let v = self.convert(data);
        let slot = self.layout.slot(name)?;
        let r = self.grads.write(&self.engine, slot, &v);
        self.scratch = v;
        r?;
        self.mark(name)
    }

    /// Sets a gradient, checking its shape as well as its length.
    pub fn write_grad_shaped<T: HostFloat>(
        &mut self,
        name: &str,
        shape: &[usize],
        data: &[T],
    ) -> Result<()> {
        Self::check_shape(self.layout.slot(name)?, shape)?;
        self.write_grad(name, data)
    }

    /// Sets every gradient, in the order the specs were given to [`ParamSet::new`] (not the
    /// grouped layout order). Every length is checked before anything is written.
    pub fn write_grads<T: HostFloat>(&mut self, grads: &[&[T]]) -> Result<()> {
        if grads.len() != self.layout.slots.len() {
            return Err(Error::ShapeMismatch {
                name: "<all gradients>".into(),
                expected: format!("{} tensors", self.layout.slots.len()),
                got: format!("{} tensors", grads.len()),
            });
        }
        let order = self.layout.declared_order();
        for (g, &i) in grads.iter().zip(order) {
            let slot = &self.layout.slots[i];
            if g.len() != slot.len {
                return Err(Error::ShapeMismatch {
                    name: slot.name.clone(),
                    expected: format!("{:?} ({} elements)", slot.shape, slot.len),
                    got: format!("{} elements", g.len()),
                });
            }
        }
        for (k, g) in grads.iter().enumerate() {
            let i = self.layout.declared_order()[k];
            let v = self.convert(g);
            let r = self.grads.write(&self.engine, &self.layout.slots[i], &v);
            self.scratch = v;
            r?;
            self.fresh[i] = true;
        }
        Ok(())
    }

    /// Sets every gradient in layout order (`layout().slots`: grouped), for code that works
    /// slot by slot as the optimizers and the reference twins do.
    pub fn write_grads_by_slot<T: HostFloat>(&mut self, grads: &[&[T]]) -> Result<()> {
        if grads.len() != self.layout.slots.len() {
            return self.write_grads(grads); // the count error
        }
        let order = self.layout.declared_order();
        let declared: Vec<&[T]> = order.iter().map(|&i| grads[i]).collect();
        self.write_grads(&declared)
    }

    /// Sets gradients by name; each must match its parameter's shape exactly.
    pub fn write_grads_named<T: HostFloat>(
        &mut self,
        grads: &[(&str, &[usize], &[T])],
    ) -> Result<()> {
        for (name, shape, data) in grads {
            Self::check_shape(self.layout.slot(name)?, shape)?;
            let len = self.layout.slot(name)?.len;
            if data.len() != len {
                return Err(Error::ShapeMismatch {
                    name: name.to_string(),
                    expected: format!("{shape:?} ({len} elements)"),
                    got: format!("{} elements", data.len()),
                });
            }
        }
        for (name, _, data) in grads {
            self.write_grad(name, data)?;
        }
        Ok(())
    }

    /// Records a GPU copy of `numel × 4` bytes from an application buffer (on this engine's
    /// device, with COPY_SRC usage) into a gradient; it runs at the start of the next step.
    pub fn copy_grad_from(
        &mut self,
        name: &str,
        src: &wgpu::Buffer,
        src_offset: u64,
    ) -> Result<()> {
        let (slot, chunks) = (self.layout.slot(name)?, &self.grads.chunks);
        let copies = Self::piece_copies(slot, src, src_offset, chunks, Direction::IntoArena)?;
        self.pending.extend(copies);
        self.mark(name)
    }

    /// Records a GPU copy from an application buffer into a parameter, run at the start of the
    /// next step (an application that owns the parameters' values, e.g. burn, hands them in).
    pub fn copy_param_from(
        &mut self,
        name: &str,
        src: &wgpu::Buffer,
        src_offset: u64,
    ) -> Result<()> {
        let (slot, chunks) = (self.layout.slot(name)?, &self.params.chunks);
        let copies = Self::piece_copies(slot, src, src_offset, chunks, Direction::IntoArena)?;
        self.pending.extend(copies);
        Ok(())
    }

    /// Records a GPU copy of a parameter into an application buffer (COPY_DST usage), run at
    /// the end of the next step, after its update, in the same submit.
    pub fn copy_param_to(&mut self, name: &str, dst: &wgpu::Buffer, dst_offset: u64) -> Result<()> {
        let (slot, chunks) = (self.layout.slot(name)?, &self.params.chunks);
        let copies = Self::piece_copies(slot, dst, dst_offset, chunks, Direction::OutOfArena)?;
        self.pending_after.extend(copies);
        Ok(())
    }

    /// One copy per piece of `slot` between `app` (at `app_offset`) and the arena `chunks`.
    fn piece_copies<'a>(
        slot: &'a Slot,
        app: &'a wgpu::Buffer,
        app_offset: u64,
        chunks: &'a [wgpu::Buffer],
        direction: Direction,
    ) -> Result<impl Iterator<Item = PendingCopy> + 'a> {
        let size = slot.len as u64 * 4;
        let fits = app_offset
            .checked_add(size)
            .is_some_and(|end| end <= app.size());
        if !fits || !app_offset.is_multiple_of(4) {
            return Err(Error::ShapeMismatch {
                name: slot.name.clone(),
                expected: format!("{size} bytes from a 4-aligned offset {app_offset}"),
                got: format!("a buffer of {} bytes", app.size()),
            });
        }
        Ok(slot.pieces.iter().map(move |p| {
            let (app_at, arena_at) = (app_offset + p.start as u64 * 4, p.offset as u64 * 4);
            let arena = chunks[p.chunk].clone();
            let (src, src_offset, dst, dst_offset) = match direction {
                Direction::IntoArena => (app.clone(), app_at, arena, arena_at),
                Direction::OutOfArena => (arena, arena_at, app.clone(), app_at),
            };
            PendingCopy {
                src,
                src_offset,
                dst,
                dst_offset,
                size: p.len as u64 * 4,
            }
        }))
    }

    /// Where a gradient lives, for an application kernel that writes it in place (fast path:
    /// no copy at all). Write only `numel` floats; the padding after them must stay zero.
    /// Taking the binding counts as writing the gradient for the stale-gradient check (take
    /// it each step, or call [`ParamSet::mark_grads_written`]).
    pub fn grad_binding(&mut self, name: &str) -> Result<TensorBinding<'_>> {
        self.mark(name)?;
        let slot = self.whole(name)?;
        Ok(TensorBinding {
            buffer: &self.grads.chunks[slot.chunk],
            offset: slot.offset as u64 * 4,
            size: slot.len as u64 * 4,
        })
    }

    /// Where a parameter lives (e.g. to bind it in the application's forward pass).
    pub fn param_binding(&self, name: &str) -> Result<TensorBinding<'_>> {
        let slot = self.whole(name)?;
        Ok(TensorBinding {
            buffer: &self.params.chunks[slot.chunk],
            offset: slot.offset as u64 * 4,
            size: slot.len as u64 * 4,
        })
    }

    /// The slot of a parameter that lives in one chunk (bindings need that).
    fn whole(&self, name: &str) -> Result<&Slot> {
        let slot = self.layout.slot(name)?;
        if slot.is_split() {
            return Err(Error::OverLimit {
                what: format!(
                    "parameter {name:?} (split over {} arena chunks; no single binding)",
                    slot.pieces.len()
                ),
                size: slot.len as u64 * 4,
                limit: self.engine.chunk_bytes(),
                unit: "bytes",
            });
        }
        Ok(slot)
    }

    /// Downloads one parameter.
    pub fn read_param(&self, name: &str) -> Result<Vec<f32>> {
        self.params.read(&self.engine, self.layout.slot(name)?)
    }

    /// Downloads every parameter, in the order the specs were declared (as `write_grads`).
    pub fn read_params(&self) -> Result<Vec<Vec<f32>>> {
        let all = self.params.read_all(&self.engine, &self.layout)?;
        Ok(self.declared(all))
    }

    /// Downloads every gradient, in the order the specs were declared.
    pub fn read_grads(&self) -> Result<Vec<Vec<f32>>> {
        let all = self.grads.read_all(&self.engine, &self.layout)?;
        Ok(self.declared(all))
    }

    /// Downloads every parameter in layout order (`layout().slots`).
    pub fn read_params_by_slot(&self) -> Result<Vec<Vec<f32>>> {
        self.params.read_all(&self.engine, &self.layout)
    }

    /// Downloads every gradient in layout order (`layout().slots`).
    pub fn read_grads_by_slot(&self) -> Result<Vec<Vec<f32>>> {
        self.grads.read_all(&self.engine, &self.layout)
    }

    /// Reorders per-slot data (layout order) into declaration order.
    fn declared(&self, mut by_slot: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
        self.layout
            .declared_order()
            .iter()
            .map(|&i| std::mem::take(&mut by_slot[i]))
            .collect()
    }

    /// Takes the recorded copies: into the arenas (run before the step's dispatches) and out
    /// of them (run after). The recorder encodes them.
    pub fn drain_pending(&mut self, before: &mut Vec<PendingCopy>, after: &mut Vec<PendingCopy>) {
        before.append(&mut self.pending);
        after.append(&mut self.pending_after);
    }

    /// Drops the copies recorded since the last step (a caller that gave up on the step).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
        self.pending_after.clear();
    }
}
