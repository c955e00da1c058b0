//! [`WgoptOptimizer`]: any optimizer of wgopt's table, stepping a burn module on the GPU burn
//! runs on. Built for the module's trainable parameters at its first step (their burn paths name
//! them, group them through the optimizer's router and key its checkpoints); every step then is
//! one wgopt submit that copies the gradients in, updates, and copies the parameters back into
//! burn's buffers.

use crate::apply::{Apply, CopyReport, GradCopies};
use crate::device::SharedDevice;
use crate::error::{Error, Rejected, Result};
use crate::tensor::MemoryKey;
use crate::walk::{compare, trainable, Collect, Found, PathStack};
use burn::module::Module;
use burn::optim::GradientsParams;
use std::collections::HashMap;
use wgopt_optim::registry::{self, split_partner, Driver, Request};
use wgopt_optim::{Router, Schedule};
use wgopt_scheduler::{GuardConfig, ParamSet, StepStats};

/// What to build: an optimizer of wgopt's table by name, its hyperparameters (`key=value` with
/// the reference's names; a hybrid's AdamW part as `adamw.lr=…`), the step guard and the seed
/// of its random probes.
#[derive(Debug, Clone)]
pub struct WgoptConfig {
    pub name: String,
    pub hparams: Vec<(String, String)>,
    pub guard: GuardConfig,
    pub seed: u64,
    /// How burn paths map to groups; `None` takes the optimizer's own (decay / no-decay, or a
    /// hybrid's matrices / rest).
    pub router: Option<Router>,
}

impl WgoptConfig {
    /// Optimizer `name` with its defaults and the default guard (non-finite steps skipped).
    pub fn new(name: &str) -> WgoptConfig {
        WgoptConfig {
            name: name.into(),
            hparams: Vec::new(),
            guard: GuardConfig::default(),
            seed: 0,
            router: None,
        }
    }

    /// Groups parameters with `router` instead of the optimizer's own rules. Groups named
    /// `no_decay` get weight decay 0; a hybrid's groups must carry its two labels.
    pub fn with_router(mut self, router: Router) -> WgoptConfig {
        self.router = Some(router);
        self
    }

    /// Sets hyperparameter `key` (e.g. `("weight_decay", "0.1")`, `("adamw.lr", "3e-4")`).
    pub fn with(mut self, key: &str, value: impl ToString) -> WgoptConfig {
        self.hparams.push((key.into(), value.to_string()));
        self
    }

    pub fn with_guard(mut self, guard: GuardConfig) -> WgoptConfig {
        self.guard = guard;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> WgoptConfig {
        self.seed = seed;
        self
    }

    /// The optimizer on `shared` (built for a module at its first step).
    pub fn init(self, shared: &SharedDevice) -> Result<WgoptOptimizer> {
        let entry = registry::find(&self.name)?;
        let (main, partner) = split_partner(&self.hparams);
        let base_lr = entry.recipe.lr(&self.request(&main, &partner))?;
        if !(base_lr.is_finite() && base_lr > 0.0) {
            return Err(Error::BadLearningRate(base_lr));
        }
        Ok(WgoptOptimizer {
            shared: shared.clone(),
            config: self,
            base_lr,
            bound: None,
            pending_state: None,
            last_copies: CopyReport::default(),
        })
    }

    fn request<'a>(
        &'a self,
        main: &'a [(&'a str, &'a str)],
        partner: &'a [(&'a str, &'a str)],
    ) -> Request<'a> {
        Request {
            hparams: main,
            partner,
            no_decay: &["no_decay"],
            guard: self.guard,
            seed: self.seed,
        }
    }
}

/// The optimizer once it knows the module: wgopt's parameter set and optimizer, and which burn
/// allocation holds each parameter.
struct Bound {
    params: ParamSet,
    driver: Driver,
    order: Vec<Found>,
    index: HashMap<String, usize>,
    /// The allocation burn holds for each parameter after the last step (its value equals the
    /// arena's); `None` until written.
    current: Vec<Option<MemoryKey>>,
    /// Scratch of a step, kept so a step allocates no vectors: what burn will hold, and burn's
    /// buffers the recorded copies use (emptied after the submit).
    next: Vec<Option<MemoryKey>>,
    keep: Vec<crate::tensor::GpuRange>,
}

/// A wgopt optimizer stepping a burn module: `model = optim.step(lr, model, grads)?`, with
/// burn's `GradientsParams`, as burn's own optimizers are called.
///
/// `lr` is the learning rate of the optimizer's (first) part; a hybrid's AdamW part keeps its
/// ratio to it (e.g. Muon's 0.02 and AdamW's 3e-4 both follow burn's scheduler).
pub struct WgoptOptimizer {
    shared: SharedDevice,
    config: WgoptConfig,
    base_lr: f64,
    bound: Option<Bound>,
    /// A checkpoint given before the first step, applied when the module is known.
    pending_state: Option<Vec<u8>>,
    last_copies: CopyReport,
}

impl std::fmt::Debug for WgoptOptimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WgoptOptimizer")
            .field("config", &self.config)
            .field("bound", &self.bound.is_some())
            .finish()
    }
}

impl WgoptOptimizer {
    /// Optimizer `name` of wgopt's table with its defaults.
    pub fn new(shared: &SharedDevice, name: &str) -> Result<WgoptOptimizer> {
        WgoptConfig::new(name).init(shared)
    }

    /// Updates every parameter of `module` that has a gradient in `grads`: one wgopt submit,
    /// gradients and parameters moved GPU to GPU. A refused step hands the module back as it was.
    pub fn step<M: Module>(
        &mut self,
        lr: f64,
        module: M,
        mut grads: GradientsParams,
    ) -> std::result::Result<M, Rejected<M>> {
        if let Err(error) = self.prepare(lr, &module, &grads) {
            return Err(Rejected { module, error });
        }
        let Some(bound) = self.bound.as_mut() else {
            let error = Error::Burn("optimizer not bound after preparing".into());
            return Err(Rejected { module, error });
        };
        let mut apply = Apply {
            stack: PathStack::default(),
            index: &bound.index,
            params: &mut bound.params,
            grads: &mut grads,
            shared: &self.shared,
            current: &bound.current,
            next: &mut bound.next,
            keep: &mut bound.keep,
            report: CopyReport::default(),
            error: None,
        };
        let module = module.map(&mut apply);
        let (report, error) = (apply.report, apply.error);
        if let Some(error) = error {
            bound.keep.clear();
            bound.params.discard_pending();
            return Err(Rejected { module, error });
        }
        let submitted = self.shared.flush().and_then(|()| {
            let opt = bound.driver.optimizer();
            opt.set_schedule(Schedule::Scaled {
                factor: lr / self.base_lr,
            })?;
            Ok(opt.step(&mut bound.params)?)
        });
        bound.keep.clear();
        match submitted {
            Ok(()) => {
                std::mem::swap(&mut bound.current, &mut bound.next);
                self.last_copies = report;
                Ok(module)
            }
            Err(error) => {
                bound.params.discard_pending();
                Err(Rejected { module, error })
            }
        }
    }

    /// Checks everything a step needs before the module is consumed; builds the optimizer at
    /// the first step.
    fn prepare<M: Module>(&mut self, lr: f64, module: &M, grads: &GradientsParams) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::BadLearningRate(lr));
        }
        let capacity = self.bound.as_ref().map_or(64, |b| b.order.len());
        let mut collect = Collect::new(grads, &self.shared, capacity);
        module.visit(&mut collect);
        let found = collect.finish()?;
        match &self.bound {
            Some(b) => compare(&b.order, &b.index, &found),
            None => self.bind(trainable(found)?),
        }
    }

    /// Builds wgopt's parameter set (named by burn paths, grouped by the optimizer's router)
    /// and the optimizer; applies a checkpoint loaded before.
    fn bind(&mut self, order: Vec<Found>) -> Result<()> {
        let entry = registry::find(&self.config.name)?;
        let router = self.config.router.clone().unwrap_or_else(entry.router);
        let specs = router.specs(order.iter().map(|f| (f.path.as_str(), f.shape.as_slice())));
        let mut params = ParamSet::new(self.shared.engine(), &specs)?;
        // A parameter burn gave no gradient this step would otherwise be stepped with its
        // last one: refuse that (naming it) in every build, not only in debug builds.
        params.set_stale_grad_check(true);
        let (main, partner) = split_partner(&self.config.hparams);
        let mut driver = entry
            .recipe
            .build(&params, &self.config.request(&main, &partner))?;
        let needs_hvp = match &driver {
            Driver::Sophia(s) => s.is_hutchinson(),
            Driver::AdaHessian(_) => true,
            Driver::Plain(_) => false,
            Driver::Mkor(m) => {
                if m.program().layers().next().is_some() {
                    return Err(Error::NeedsLayerStatistics {
                        optimizer: self.config.name.clone(),
                    });
                }
                false
            }
        };
        if needs_hvp {
            return Err(Error::NeedsHessianVectorProducts {
                optimizer: self.config.name.clone(),
            });
        }
        if let Some(bytes) = &self.pending_state {
            driver.optimizer().load(&params, bytes)?;
        }
        self.pending_state = None;
        let index = order
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i))
            .collect();
        self.bound = Some(Bound {
            current: vec![None; order.len()],
            next: vec![None; order.len()],
            keep: Vec::with_capacity(2 * order.len()),
            params,
            driver,
            order,
            index,
        });
        Ok(())
    }

    /// Whether Sophia-G wants its curvature estimate now (every `update_interval` steps, after
    /// the step): then hand [`WgoptOptimizer::update_curvature`] the gradient of the loss on
    /// labels sampled from the model's own softmax, at the updated parameters. Always false for
    /// optimizers that take no estimate.
    pub fn curvature_due(&self) -> bool {
        match self.bound.as_ref().map(|b| &b.driver) {
            Some(Driver::Sophia(s)) => s.hessian_due(),
            _ => false,
        }
    }

    /// Sophia-G's Gauss–Newton–Bartlett estimate from `grads` (gradients on sampled labels):
    /// copied GPU to GPU into the gradient arena and folded into the Hessian EMA in one submit.
    /// The module is only read.
    pub fn update_curvature<M: Module>(
        &mut self,
        module: &M,
        grads: &GradientsParams,
    ) -> Result<()> {
        let bound = self.bound.as_mut().ok_or_else(|| Error::NoCurvature {
            optimizer: format!("{} (before its first step)", self.config.name),
        })?;
        let Driver::Sophia(sophia) = &mut bound.driver else {
            return Err(Error::NoCurvature {
                optimizer: self.config.name.clone(),
            });
        };
        let mut collect = Collect::new(grads, &self.shared, bound.order.len());
        module.visit(&mut collect);
        compare(&bound.order, &bound.index, &collect.finish()?)?;
        let mut copies = GradCopies {
            stack: PathStack::default(),
            index: &bound.index,
            params: &mut bound.params,
            grads,
            shared: &self.shared,
            keep: &mut bound.keep,
            error: None,
        };
        module.visit(&mut copies);
        if let Some(e) = copies.error {
            bound.keep.clear();
            bound.params.discard_pending();
            return Err(e);
        }
        let done = self
            .shared
            .flush()
            .and_then(|()| Ok(sophia.update_hessian(&mut bound.params)?));
        bound.keep.clear();
        if done.is_err() {
            bound.params.discard_pending();
        }
        done
    }

    /// GPU bytes the last step copied between burn and wgopt (no byte crossed the host).
    pub fn last_copies(&self) -> CopyReport {
        self.last_copies
    }

    /// The parameter paths the optimizer updates, in its layout's order (after the first step).
    pub fn parameter_names(&self) -> Vec<String> {
        self.bound.as_ref().map_or_else(Vec::new, |b| {
            b.params
                .layout()
                .slots
                .iter()
                .map(|s| s.name.clone())
                .collect()
        })
    }

    /// The last step's statistics (gradient norm, clip factor, applied and skipped steps;
    /// reads them back, so call it when you want them).
    pub fn stats(&mut self) -> Result<StepStats> {
        match self.bound.as_mut() {
            Some(b) => Ok(b.driver.optimizer().stats()?),
            None => Ok(StepStats::default()),
        }
    }

    /// The wgopt optimizer and its parameter set (after the first step), for what this adapter
    /// does not wrap (timings, per-parameter norms, a family's extra calls).
    pub fn inner(&mut self) -> Option<(&mut Driver, &mut ParamSet)> {
        self.bound.as_mut().map(|b| (&mut b.driver, &mut b.params))
    }

    pub fn config(&self) -> &WgoptConfig {
        &self.config
    }

    /// The configured learning rate of the (first) part: the `lr` at which `step` runs the
    /// optimizer exactly as configured.
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    pub(crate) fn pending_state(&self) -> Option<&[u8]> {
        self.pending_state.as_deref()
    }

    pub(crate) fn set_pending_state(&mut self, bytes: Vec<u8>) {
        self.pending_state = Some(bytes);
    }
}
