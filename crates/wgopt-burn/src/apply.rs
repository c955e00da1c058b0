//! The consuming pass of a step: each trained parameter's gradient is recorded as a GPU copy
//! into wgopt's gradient arena, the parameter is copied in when burn holds a value wgopt did not
//! write, and the updated value is recorded as a copy back into burn's buffer after the update.
//! Everything is recorded into wgopt's next submit; nothing crosses the host.

use crate::device::SharedDevice;
use crate::error::{Error, Result};
use crate::tensor::{checked, data_bytes, memory_id, range_of, GpuRange, MemoryKey};
use crate::walk::PathStack;
use burn::module::{ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{GradientCheckpointingStrategy, Tensor};
use burn_wgpu::{CubeBackend, CubeTensor};
use std::collections::HashMap;
use wgopt_scheduler::ParamSet;

/// GPU bytes a step moved between burn's buffers and wgopt's arenas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Gradients into the gradient arena.
    pub grads_in: u64,
    /// Parameters into the parameter arena (only when burn's value is not the one wgopt wrote:
    /// the first step, after loading a record, or after the application changed a parameter).
    pub params_in: u64,
    /// Updated parameters back into burn's buffers.
    pub params_out: u64,
    /// Parameters burn still shared elsewhere (a clone of the module), copied by burn into a
    /// fresh buffer before being written.
    pub params_forked: u64,
}

impl CopyReport {
    pub fn total(&self) -> u64 {
        self.grads_in + self.params_in + self.params_out + self.params_forked
    }
}

/// Records a GPU copy of `grad` (checked against `shared`) into `path`'s gradient and keeps
/// its buffer alive in `keep` until the submit; returns the bytes. Both passes use it: a step's
/// gradients and Sophia-G's sampled-label gradients.
fn record_grad_copy<const D: usize>(
    (params, shared, keep): (&mut ParamSet, &SharedDevice, &mut Vec<GpuRange>),
    path: &str,
    grad: Tensor<D>,
    what: &'static str,
) -> Result<u64> {
    let g = checked(grad, shared, path, what)?;
    let range = range_of(&g, path)?;
    params.copy_grad_from(path, range.buffer(), range.offset())?;
    keep.push(range);
    Ok(data_bytes(&g))
}

/// The autodiff state a parameter carries, put back on its updated value (as burn's own
/// optimizers do: gradients required, distributed, gradient checkpointing).
struct AutodiffState {
    require_grad: bool,
    distributed: bool,
    checkpointing: Option<GradientCheckpointingStrategy>,
}

impl AutodiffState {
    fn capture<const D: usize>(t: &Tensor<D>) -> Self {
        AutodiffState {
            require_grad: t.is_require_grad(),
            distributed: t.is_distributed(),
            checkpointing: t.gradient_checkpointing_strategy(),
        }
    }

    fn restore<const D: usize>(self, inner: Tensor<D>, id: burn::module::ParamId) -> Tensor<D> {
        let mut t = Tensor::from_inner(inner);
        if let Some(s) = self.checkpointing {
            t = t.with_gradient_checkpointing_strategy(s);
        }
        if self.require_grad {
            t = t.require_grad();
        }
        if self.distributed {
            t = t.set_distributed(id);
        }
        t
    }
}

/// The mapper of one step.
pub(crate) struct Apply<'a> {
    pub stack: PathStack,
    pub index: &'a HashMap<String, usize>,
    pub params: &'a mut ParamSet,
    pub grads: &'a mut GradientsParams,
    pub shared: &'a SharedDevice,
    /// What burn held after the last step, per parameter (layout order).
    pub current: &'a [Option<MemoryKey>],
    /// What burn will hold after this step (the optimizer's scratch, reused every step).
    pub next: &'a mut [Option<MemoryKey>],
    /// Buffers read or written by the recorded copies, alive until the submit (reused).
    pub keep: &'a mut Vec<GpuRange>,
    pub report: CopyReport,
    pub error: Option<Error>,
}

impl Apply<'_> {
    /// Records the gradient's copy into the gradient arena.
    fn record_grad<const D: usize>(&mut self, path: &str, grad: Tensor<D>) -> Result<()> {
        let to = (&mut *self.params, self.shared, &mut *self.keep);
        self.report.grads_in += record_grad_copy(to, path, grad, "gradient")?;
        Ok(())
    }

    /// Records the parameter's copies: in (when `fresh`) and back out after the update.
    fn record_param(
        &mut self,
        slot: usize,
        path: &str,
        out: &CubeTensor,
        fresh: bool,
    ) -> Result<()> {
        let range = range_of(out, path)?;
        let bytes = data_bytes(out);
        if fresh {
            self.params
                .copy_param_from(path, range.buffer(), range.offset())?;
            self.report.params_in += bytes;
        }
        self.params
            .copy_param_to(path, range.buffer(), range.offset())?;
        self.report.params_out += bytes;
        self.next[slot] = Some(memory_id(out));
        self.keep.push(range);
        Ok(())
    }

    /// Records the copies of one parameter; returns the primitive burn holds afterwards (its
    /// value unchanged until the submit, so on failure it is still the value it held before).
    fn record<const D: usize>(
        &mut self,
        slot: usize,
        path: &str,
        cube: CubeTensor,
        grad: Tensor<D>,
    ) -> (CubeTensor, Result<()>) {
        if let Err(e) = self.record_grad(path, grad) {
            return (cube, Err(e));
        }
        let fresh = self.current[slot] != Some(memory_id(&cube));
        // In place when burn holds the only reference; a module cloned elsewhere keeps its
        // value and this one gets a copy (burn's own rule for in-place kernels).
        let out = if cube.can_mut() {
            cube
        } else {
            self.report.params_forked += data_bytes(&cube);
            cube.copy()
        };
        let recorded = self.record_param(slot, path, &out, fresh);
        (out, recorded)
    }
}

impl ModuleMapper for Apply<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.stack.path();
        let Some(&slot) = self.index.get(&path) else {
            return param;
        };
        if self.error.is_some() {
            return param;
        }
        let Some(grad) = self.grads.remove::<D>(param.id) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let state = AutodiffState::capture(&tensor);
        let inner = tensor.inner();
        // Converting a clone keeps the tensor if it fails; dropping `inner` afterwards leaves the
        // primitive the sole holder, so the in-place test below sees burn's true sharing.
        let cube = match inner.clone().try_into_primitive::<CubeBackend>() {
            Ok(c) => {
                drop(inner);
                c
            }
            Err(e) => {
                self.error = Some(Error::NotWgpu {
                    name: path,
                    what: "parameter",
                    detail: format!("{e:?}"),
                });
                return Param::from_mapped_value(id, state.restore(inner, id), mapper);
            }
        };
        let (out, recorded) = self.record(slot, &path, cube, grad);
        if let Err(e) = recorded {
            self.error = Some(e);
        }
        let value = Tensor::<D>::from_primitive::<CubeBackend>(out);
        Param::from_mapped_value(id, state.restore(value, id), mapper)
    }
}

/// A read-only pass that records each trained parameter's gradient copy (Sophia-G's estimate).
pub(crate) struct GradCopies<'a> {
    pub stack: PathStack,
    pub index: &'a HashMap<String, usize>,
    pub params: &'a mut ParamSet,
    pub grads: &'a GradientsParams,
    pub shared: &'a SharedDevice,
    pub keep: &'a mut Vec<GpuRange>,
    pub error: Option<Error>,
}

impl burn::module::ModuleVisitor for GradCopies<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        if self.error.is_some() || !self.index.contains_key(&path) {
            return;
        }
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        let to = (&mut *self.params, self.shared, &mut *self.keep);
        if let Err(e) = record_grad_copy(to, &path, grad, "curvature gradient") {
            self.error = Some(e);
        }
    }
}
