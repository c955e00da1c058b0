//! Optimizers by name: the recipes the [table](crate::table) is made of, and the lookups the
//! CLI, the examples, the toy GPT, the tests and bench-gpu share.
//!
//! Hyperparameters are `key=value` text with the reference implementation's argument names
//! (the config structs' fields); betas are `beta1`, `beta2` (and `beta3` for Adan). Values are
//! parsed as JSON scalars, so `lr=3e-4`, `amsgrad=true` and `estimator=gnb` all work, and every
//! config gains its keys without code here: a config is its serde form with the given keys
//! replaced. A hybrid's second part takes its own keys (`adamw.lr=…` on the command line).

use crate::adahessian::AdaHessian;
use crate::program::Program;
use crate::routing::Router;
use crate::sophia::Sophia;
use crate::{Optimizer, Stepper};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::marker::PhantomData;
use wgopt_reference::optim::{
    MultiOptimizer, OptimizerConfig as _, PerTensor, ReferenceOptimizer, Tensor,
};
use wgopt_scheduler::{Error, GuardConfig, Kernel, Layout, ParamSet, Result};

/// `default` with the `key=value` pairs applied. `opt` names the optimizer in errors.
pub fn config_from<C: Serialize + DeserializeOwned>(
    opt: &str,
    default: C,
    hparams: &[(&str, &str)],
) -> Result<C> {
    let mut value = serde_json::to_value(default)
        .map_err(|e| Error::Internal(format!("{opt}: config to JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| Error::Internal(format!("{opt}: config is not a JSON object")))?;
    let mut known: Vec<String> = obj
        .iter()
        .flat_map(|(k, v)| match (k.as_str(), v) {
            ("betas", Value::Array(a)) => (1..=a.len()).map(|i| format!("beta{i}")).collect(),
            _ => vec![k.clone()],
        })
        .collect();
    known.sort();
    for &(key, text) in hparams {
        // "nan", "inf" parse as f64 but are not JSON: name them rather than report a string.
        if let Ok(v) = text.trim().parse::<f64>() {
            if !v.is_finite() {
                return Err(Error::InvalidHyperparameter(format!(
                    "{opt}.{key} must be a finite number, got {text}"
                )));
            }
        }
        let parsed: Value =
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()));
        let slot = match key
            .strip_prefix("beta")
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) if i >= 1 => obj
                .get_mut("betas")
                .and_then(|b| b.as_array_mut())
                .and_then(|a| a.get_mut(i - 1)),
            _ => obj.get_mut(key),
        };
        match slot {
            Some(s) => *s = parsed,
            None => {
                return Err(Error::UnknownName {
                    kind: "hyperparameter",
                    name: format!("{opt}.{key}"),
                    known: known.join(", "),
                })
            }
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::InvalidHyperparameter(format!("{opt}: {e} (in {hparams:?})")))
}

/// An optimizer and the extra calls its family needs in a training loop.
pub enum Driver {
    /// `step` alone.
    Plain(Box<dyn Optimizer>),
    /// Sophia: after `step`, when `hessian_due`, an estimate through `update_hessian`.
    Sophia(Box<Sophia>),
    /// AdaHessian: Hutchinson probes and a Hessian-vector product before every `step`.
    AdaHessian(Box<AdaHessian>),
    /// MKOR: every layer's statistics through `write_statistics` before a step for which
    /// `statistics_due`.
    Mkor(Box<crate::Mkor>),
}

impl Driver {
    pub fn optimizer(&mut self) -> &mut dyn Optimizer {
        match self {
            Driver::Plain(o) => o.as_mut(),
            Driver::Sophia(o) => o.as_mut(),
            Driver::AdaHessian(o) => o.as_mut(),
            Driver::Mkor(o) => o.as_mut(),
        }
    }

    /// The optimizer, for callers that drive only `step` (its extra calls are theirs to make).
    pub fn into_optimizer(self) -> Box<dyn Optimizer> {
        match self {
            Driver::Plain(o) => o,
            Driver::Sophia(o) => o,
            Driver::AdaHessian(o) => o,
            Driver::Mkor(o) => o,
        }
    }
}

/// What to build: hyperparameters for the (first) program, for a hybrid's second part, the
/// groups whose weight decay is 0 (single optimizers), the guard and the probes' seed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub hparams: &'a [(&'a str, &'a str)],
    pub partner: &'a [(&'a str, &'a str)],
    pub no_decay: &'a [&'a str],
    pub guard: GuardConfig,
    pub seed: u64,
}

/// `key=value` pairs.
pub type KeyValues<'a> = Vec<(&'a str, &'a str)>;

/// Splits `key=value` pairs into a program's and its hybrid partner's (`adamw.` prefix).
pub fn split_partner(kv: &[(String, String)]) -> (KeyValues<'_>, KeyValues<'_>) {
    let (mut main, mut partner) = (Vec::new(), Vec::new());
    for (k, v) in kv {
        match k.strip_prefix("adamw.") {
            Some(rest) => partner.push((rest, v.as_str())),
            None => main.push((k.as_str(), v.as_str())),
        }
    }
    (main, partner)
}

/// How the table builds one optimizer: the GPU optimizer, its CPU oracle, its kernels.
pub trait Recipe: Sync {
    /// The GPU optimizer over every parameter of `params`.
    fn build(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver>;
    /// The CPU oracle over the tensors of `layout`, in layout order (slot i is tensor i).
    fn reference(&self, layout: &Layout, req: &Request<'_>) -> Result<Box<dyn ReferenceOptimizer>>;
    /// Every kernel the optimizer may launch.
    fn kernels(&self) -> Vec<&'static Kernel>;
    /// The group labels a hybrid's router assigns (`None` for a single optimizer).
    fn labels(&self) -> Option<(&'static str, &'static str)>;
    /// Minimal f32 traffic per parameter of one step with the request's hyperparameters,
    /// for the fused elementwise optimizers (`None` for the rest).
    fn bytes_per_element(&self, _req: &Request<'_>) -> Result<Option<usize>> {
        Ok(None)
    }
    /// The learning rate of the (first) program with the request's keys: what a training loop
    /// that passes its own learning rate (burn's) scales every group's by.
    fn lr(&self, req: &Request<'_>) -> Result<f64>;
}

/// One program over every group, each with `default` plus the request's keys.
pub struct Single<P: Program> {
    default: fn() -> P::Config,
    _program: PhantomData<fn() -> P>,
}

impl<P: Program> Single<P> {
    pub const fn new(default: fn() -> P::Config) -> Self {
        Single {
            default,
            _program: PhantomData,
        }
    }

    /// Every group of `layout`, in order, with its config.
    pub(crate) fn groups(
        &self,
        layout: &Layout,
        req: &Request<'_>,
    ) -> Result<Vec<(String, P::Config)>> {
        let name = P::name(&[&(self.default)()]);
        if !req.partner.is_empty() {
            return Err(Error::InvalidHyperparameter(format!(
                "{name} has no AdamW part: drop the adamw.* keys"
            )));
        }
        let cfg = config_from(name, (self.default)(), req.hparams)?;
        layout
            .groups
            .iter()
            .map(|g| {
                let c = if req.no_decay.contains(&g.as_str()) {
                    config_from(name, cfg.clone(), &[("weight_decay", "0")])?
                } else {
                    cfg.clone()
                };
                Ok((g.clone(), c))
            })
            .collect()
    }
}

impl<P: Program> Single<P> {
    /// The GPU optimizer over every group.
    pub(crate) fn driver(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver> {
        let groups = self.groups(params.layout(), req)?;
        Ok(P::driver(Stepper::with_seed(
            params, &groups, req.guard, req.seed,
        )?))
    }
}

impl<P: Program> Recipe for Single<P>
where
    P::Config: PerTensor,
{
    fn build(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver> {
        self.driver(params, req)
    }

    fn reference(&self, layout: &Layout, req: &Request<'_>) -> Result<Box<dyn ReferenceOptimizer>> {
        let groups = self.groups(layout, req)?;
        let mut tensors = Vec::with_capacity(layout.slots.len());
        for (i, s) in layout.slots.iter().enumerate() {
            let cfg = &groups[s.group].1;
            let peers: Vec<(usize, &[usize])> = layout
                .slots
                .iter()
                .enumerate()
                .filter(|(_, t)| t.group == s.group)
                .map(|(j, t)| (j, &t.shape[..]))
                .collect();
            tensors.push(Tensor::boxed_among(cfg.clone(), &s.shape, i, &peers)?);
        }
        Ok(Box::new(MultiOptimizer::new(tensors)))
    }

    fn kernels(&self) -> Vec<&'static Kernel> {
        P::kernels()
    }

    fn labels(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    fn bytes_per_element(&self, req: &Request<'_>) -> Result<Option<usize>> {
        let cfg = config_from(P::PART, (self.default)(), req.hparams)?;
        Ok(P::bytes_per_element(&cfg))
    }

    fn lr(&self, req: &Request<'_>) -> Result<f64> {
        Ok(config_from(P::PART, (self.default)(), req.hparams)?.lr())
    }
}

/// `[(label, config)]` when the parameter set has group `label`, else nothing (a hybrid's part
/// may have no parameters).
pub(crate) fn present<C>(params: &ParamSet, label: &str, config: C) -> Vec<(String, C)> {
    if params.layout().groups.iter().any(|g| g == label) {
        vec![(label.to_string(), config)]
    } else {
        Vec::new()
    }
}

/// A hybrid: `A` on the groups labelled `labels.0`, `B` on `labels.1`, one guard.
pub struct Pair<A: Program, B: Program> {
    first: fn() -> A::Config,
    second: fn() -> B::Config,
    labels: (&'static str, &'static str),
    /// The second part takes the first part's lr unless it is given its own (ROOT's recipe).
    share_lr: bool,
    _programs: PhantomData<fn() -> (A, B)>,
}

impl<A: Program, B: Program> Pair<A, B> {
    pub const fn new(
        first: fn() -> A::Config,
        second: fn() -> B::Config,
        labels: (&'static str, &'static str),
        share_lr: bool,
    ) -> Self {
        Pair {
            first,
            second,
            labels,
            share_lr,
            _programs: PhantomData,
        }
    }

    /// The two configs with the request's keys.
    fn configs(&self, req: &Request<'_>) -> Result<(A::Config, B::Config)> {
        let a = config_from(A::PART, (self.first)(), req.hparams)?;
        let lr = a.lr().to_string();
        let mut partner = req.partner.to_vec();
        if self.share_lr && !partner.iter().any(|(k, _)| *k == "lr") {
            partner.push(("lr", &lr));
        }
        let b = config_from(self.labels.1, (self.second)(), &partner)?;
        Ok((a, b))
    }
}

impl<A: Program, B: Program> Recipe for Pair<A, B>
where
    A::Config: PerTensor,
    B::Config: PerTensor,
{
    fn build(&self, params: &ParamSet, req: &Request<'_>) -> Result<Driver> {
        let (a, b) = self.configs(req)?;
        let first = present(params, self.labels.0, a);
        let second = present(params, self.labels.1, b);
        let s = Stepper::<A, B>::pair(params, &first, &second, req.guard)?;
        Ok(Driver::Plain(Box::new(s)))
    }

    fn reference(&self, layout: &Layout, req: &Request<'_>) -> Result<Box<dyn ReferenceOptimizer>> {
        let (a, b) = self.configs(req)?;
        let mut tensors = Vec::with_capacity(layout.slots.len());
        for (i, s) in layout.slots.iter().enumerate() {
            let label = layout.groups[s.group].as_str();
            tensors.push(if label == self.labels.0 {
                Tensor::boxed(a.clone(), &s.shape, i)?
            } else if label == self.labels.1 {
                Tensor::boxed(b.clone(), &s.shape, i)?
            } else {
                return Err(Error::UnknownGroup {
                    optimizer: format!("{}+{}", self.labels.0, self.labels.1),
                    group: label.into(),
                    known: format!("{}, {}", self.labels.0, self.labels.1),
                });
            });
        }
        Ok(Box::new(MultiOptimizer::new(tensors)))
    }

    fn kernels(&self) -> Vec<&'static Kernel> {
        let mut k = A::kernels();
        k.extend(B::kernels());
        k
    }

    fn labels(&self) -> Option<(&'static str, &'static str)> {
        Some(self.labels)
    }

    fn lr(&self, req: &Request<'_>) -> Result<f64> {
        Ok(self.configs(req)?.0.lr())
    }
}

/// One row of the table of optimizers.
pub struct Entry {
    pub name: &'static str,
    /// One line for listings and the README.
    pub about: &'static str,
    /// How a model's parameters are grouped for it: a hybrid's split, else decay / no_decay.
    pub router: fn() -> Router,
    /// The toy GPT's hyperparameters at the AdamW baseline learning rate and a batch's
    /// tokens.
    pub recommended: fn(f64, usize) -> Vec<(String, String)>,
    /// Where the recommended values come from.
    pub source: &'static str,
    pub recipe: &'static dyn Recipe,
}

impl Entry {
    /// Whether this is a hybrid of two programs.
    pub fn is_hybrid(&self) -> bool {
        self.recipe.labels().is_some()
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// The table's row called `name`.
pub fn find(name: &str) -> Result<&'static Entry> {
    crate::table::OPTIMIZERS
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::UnknownName {
            kind: "optimizer",
            name: name.into(),
            known: names().join(", "),
        })
}

/// Every name in the table, in its order.
pub fn names() -> Vec<&'static str> {
    crate::table::OPTIMIZERS.iter().map(|e| e.name).collect()
}

/// Builds optimizer `name` over every group of `params` (each group `hparams` over the
/// defaults, groups in `no_decay_groups` with weight_decay 0), for callers that drive only
/// `step`.
pub fn create(
    name: &str,
    params: &ParamSet,
    hparams: &[(&str, &str)],
    no_decay_groups: &[&str],
    guard: GuardConfig,
) -> Result<Box<dyn Optimizer>> {
    let req = Request {
        hparams,
        no_decay: no_decay_groups,
        guard,
        ..Request::default()
    };
    Ok(find(name)?.recipe.build(params, &req)?.into_optimizer())
}
