//! Walking a burn module: its float parameters in module order, named by their module paths
//! (`blocks.0.attn.qkv.weight`, as burn's own optimizer and records name them), with the checks
//! that must pass before the module is consumed.

use crate::device::SharedDevice;
use crate::error::{Error, Result};
use crate::tensor::checked;
use burn::module::{ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use std::collections::HashMap;

/// One float parameter of a module.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub id: ParamId,
    pub path: String,
    pub shape: Vec<usize>,
    /// Whether `grads` holds its gradient this step.
    pub has_grad: bool,
}

/// Collects every float parameter, checking each one that has a gradient (and its gradient):
/// wgpu runtime, the shared device, f32, contiguous. The first failure is kept.
pub(crate) struct Collect<'a> {
    stack: PathStack,
    pub found: Vec<Found>,
    pub error: Option<Error>,
    grads: &'a GradientsParams,
    shared: &'a SharedDevice,
}

impl<'a> Collect<'a> {
    pub fn new(grads: &'a GradientsParams, shared: &'a SharedDevice, capacity: usize) -> Self {
        Collect {
            stack: PathStack::default(),
            found: Vec::with_capacity(capacity),
            error: None,
            grads,
            shared,
        }
    }

    /// The parameters found, or the first failure.
    pub fn finish(self) -> Result<Vec<Found>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.found),
        }
    }

    fn check<const D: usize>(
        &self,
        param: &Param<Tensor<D>>,
        grad: Tensor<D>,
        path: &str,
    ) -> Result<()> {
        checked(grad, self.shared, path, "gradient")?;
        checked(param.val(), self.shared, path, "parameter")?;
        Ok(())
    }
}

/// The names entered so far while walking a module; joined, a parameter's burn path.
#[derive(Debug, Default)]
pub(crate) struct PathStack(Vec<String>);

impl PathStack {
    pub fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }

    pub fn exit(&mut self) {
        self.0.pop();
    }

    /// `blocks.0.attn.qkv.weight` for the parameter being visited.
    pub fn path(&self) -> String {
        self.0.join(".")
    }
}

impl ModuleVisitor for Collect<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.stack.enter(name);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.stack.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.stack.path();
        let grad = self.grads.get::<D>(param.id);
        let has_grad = grad.is_some();
        if let (Some(g), None) = (grad, &self.error) {
            if let Err(e) = self.check(param, g, &path) {
                self.error = Some(e);
            }
        }
        self.found.push(Found {
            id: param.id,
            shape: param.lazy_shape().to_vec(),
            path,
            has_grad,
        });
    }
}

/// How the module's parameters differ from those an optimizer was built for (`bound`, in
/// order, with `index` from path to position); `Ok` when they are the same set with the same
/// shapes and every one has a gradient.
pub(crate) fn compare(
    bound: &[Found],
    index: &HashMap<String, usize>,
    now: &[Found],
) -> Result<()> {
    let mut seen = vec![None; bound.len()];
    let mut added = Vec::new();
    for f in now {
        match index.get(&f.path) {
            Some(&i) => seen[i] = Some(f),
            None if f.has_grad => added.push(f.path.clone()),
            None => {}
        }
    }
    let (mut removed, mut reshaped, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for (b, f) in bound.iter().zip(&seen) {
        match f {
            None => removed.push(b.path.clone()),
            Some(f) if f.shape != b.shape => reshaped.push(b.path.clone()),
            Some(f) if !f.has_grad => missing.push(b.path.clone()),
            Some(_) => {}
        }
    }
    if !(added.is_empty() && removed.is_empty() && reshaped.is_empty()) {
        return Err(Error::ParametersChanged {
            added,
            removed,
            reshaped,
        });
    }
    if !missing.is_empty() {
        return Err(Error::MissingGradient { names: missing });
    }
    Ok(())
}

/// The parameters that have gradients, with distinct paths (what an optimizer is built for).
pub(crate) fn trainable(found: Vec<Found>) -> Result<Vec<Found>> {
    let list: Vec<Found> = found.into_iter().filter(|f| f.has_grad).collect();
    if list.is_empty() {
        return Err(Error::NoGradients);
    }
    for (i, f) in list.iter().enumerate() {
        if list[..i].iter().any(|g| g.path == f.path) {
            return Err(Error::DuplicatePath(f.path.clone()));
        }
    }
    Ok(list)
}
