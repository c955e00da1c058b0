//! The interface every reference optimizer implements, so that one oracle ([`super::multi`])
//! runs any of them — and any mix of them, as a hybrid does — over many tensors with the step
//! guard, without a list of optimizers anywhere.
//!
//! A config type implements [`OptimizerConfig`] (validation and the base learning rate; what
//! the GPU stepper needs too) and [`PerTensor`] (its state, its step on one tensor, its state
//! fields by PyTorch name). [`Tensor`] pairs a config with one tensor's state and is a
//! [`TensorRule`], the object-safe face the oracle holds.

use crate::RefError;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// The hyperparameters of one parameter group (the reference implementation's argument
/// names and defaults).
pub trait OptimizerConfig:
    Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Rejects what the reference implementation's constructor rejects.
    fn validate(&self) -> Result<(), RefError>;
    /// The base learning rate (a schedule multiplies it).
    fn lr(&self) -> f64;
}

/// `impl OptimizerConfig` from the type's inherent `validate` and its `lr` field.
macro_rules! optimizer_config {
    ($t:ty) => {
        impl $crate::optim::OptimizerConfig for $t {
            fn validate(&self) -> Result<(), $crate::RefError> {
                <$t>::validate(self)
            }

            fn lr(&self) -> f64 {
                self.lr
            }
        }
    };
}
pub(crate) use optimizer_config;

/// `impl OptimizerConfig` and `impl PerTensor` for a config whose optimizer takes no
/// Hessian-vector product and keeps no Hessian: its fresh state from (config, shape, slot), its
/// step from (config, lr, shape, p, g, state), its fields from the state.
macro_rules! per_tensor {
    (
        $config:ty, $state:ty,
        new: |$ncfg:ident, $nshape:ident, $nslot:ident| $new:expr,
        step: |$cfg:ident, $lr:ident, $shape:ident, $p:ident, $g:ident, $st:ident| $step:expr,
        fields: |$fst:ident| $fields:expr $(,)?
    ) => {
        $crate::optim::optimizer_config!($config);

        impl $crate::optim::PerTensor for $config {
            type State = $state;

            #[allow(unused_variables)]
            fn new_state(&self, $nshape: &[usize], $nslot: usize) -> $state {
                let $ncfg = self;
                $new
            }

            #[allow(unused_variables)]
            fn step(
                &self,
                $lr: f64,
                $shape: &[usize],
                $p: &mut [f32],
                $g: &[f32],
                _hvp: Option<&[f32]>,
                $st: &mut $state,
            ) -> Result<(), $crate::RefError> {
                let $cfg = self;
                $step
            }

            #[allow(unused_variables)]
            fn fields($fst: &$state) -> Vec<(&'static str, &[f32])> {
                $fields
            }
        }
    };
}
pub(crate) use per_tensor;

/// A config whose optimizer updates each tensor on its own (everything but M-FAC, whose
/// window spans all of its tensors).
pub trait PerTensor: OptimizerConfig {
    type State: Debug + Clone + Send;

    /// Fresh state for a tensor of `shape` at layout slot `slot` (FRUGAL keys its column
    /// choice on the slot).
    fn new_state(&self, shape: &[usize], slot: usize) -> Self::State;

    /// Fresh state for a tensor that shares its config with `peers` ((slot, shape) of every
    /// tensor of its group, itself included): FRUGAL's blocks variant draws whole tensors
    /// from that pool. Everything else ignores the peers.
    fn new_state_among(
        &self,
        shape: &[usize],
        slot: usize,
        _peers: &[(usize, &[usize])],
    ) -> Self::State {
        self.new_state(shape, slot)
    }

    /// One step with learning rate `lr` (schedule applied); `hvp` is the step's
    /// Hessian-vector product for the optimizers that take one (AdaHessian).
    fn step(
        &self,
        lr: f64,
        shape: &[usize],
        p: &mut [f32],
        g: &[f32],
        hvp: Option<&[f32]>,
        st: &mut Self::State,
    ) -> Result<(), RefError>;

    /// State tensors by PyTorch field name (what checkpoints store).
    fn fields(st: &Self::State) -> Vec<(&'static str, &[f32])>;

    /// Sophia's Hessian EMA from an estimate; `Ok(false)` for optimizers without one.
    fn update_hessian(
        &self,
        _estimate: &[f32],
        _probe: Option<&[f32]>,
        _st: &mut Self::State,
    ) -> Result<bool, RefError> {
        Ok(false)
    }
}

/// One tensor's optimizer, whatever its kind.
pub trait TensorRule: Debug + Send {
    fn lr(&self) -> f64;
    fn step(
        &mut self,
        lr: f64,
        p: &mut [f32],
        g: &[f32],
        hvp: Option<&[f32]>,
    ) -> Result<(), RefError>;
    fn fields(&self) -> Vec<(&'static str, &[f32])>;
    /// True when the tensor took the estimate (Sophia).
    fn update_hessian(&mut self, estimate: &[f32], probe: Option<&[f32]>)
        -> Result<bool, RefError>;
}

/// A config and one tensor's state.
#[derive(Debug, Clone)]
pub struct Tensor<C: PerTensor> {
    pub config: C,
    pub shape: Vec<usize>,
    pub state: C::State,
}

impl<C: PerTensor> Tensor<C> {
    /// A validated config with fresh state for a tensor of `shape` at layout slot `slot`.
    pub fn new(config: C, shape: &[usize], slot: usize) -> Result<Self, RefError> {
        config.validate()?;
        Ok(Tensor {
            state: config.new_state(shape, slot),
            config,
            shape: shape.to_vec(),
        })
    }

    /// [`Tensor::new`], boxed as a [`TensorRule`].
    pub fn boxed(config: C, shape: &[usize], slot: usize) -> Result<Box<dyn TensorRule>, RefError> {
        Ok(Box::new(Self::new(config, shape, slot)?))
    }

    /// [`Tensor::boxed`] for a tensor of a group (see [`PerTensor::new_state_among`]).
    pub fn boxed_among(
        config: C,
        shape: &[usize],
        slot: usize,
        peers: &[(usize, &[usize])],
    ) -> Result<Box<dyn TensorRule>, RefError> {
        config.validate()?;
        Ok(Box::new(Tensor {
            state: config.new_state_among(shape, slot, peers),
            config,
            shape: shape.to_vec(),
        }))
    }
}

impl<C: PerTensor> TensorRule for Tensor<C> {
    fn lr(&self) -> f64 {
        self.config.lr()
    }

    fn step(
        &mut self,
        lr: f64,
        p: &mut [f32],
        g: &[f32],
        hvp: Option<&[f32]>,
    ) -> Result<(), RefError> {
        self.config
            .step(lr, &self.shape, p, g, hvp, &mut self.state)
    }

    fn fields(&self) -> Vec<(&'static str, &[f32])> {
        C::fields(&self.state)
    }

    fn update_hessian(
        &mut self,
        estimate: &[f32],
        probe: Option<&[f32]>,
    ) -> Result<bool, RefError> {
        self.config.update_hessian(estimate, probe, &mut self.state)
    }
}
