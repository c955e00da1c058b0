//! The training loop that joins the CPU model and wgopt: parameters live on the GPU; every
//! step reads them back (the CPU forward needs them), runs forward/backward, hands the
//! gradients over and applies the optimizer in one submit. Each phase is timed separately.

use crate::config::GptConfig;
use crate::curvature::{gnb_gradient, hvp};
use crate::data::{stream_rng, Batch, Corpus, Split};
use crate::error::{Error, Result};
use crate::model::{param_specs, Activations, Gpt};
use crate::optimizers::{build, check_name, router, Driver};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::time::Instant;

mod checkpoint;
use wgopt::{Engine, GuardConfig, ParamSet, Schedule};

/// RNG streams beyond the data splits (see [`stream_rng`]).
const STREAM_GRAD_NOISE: u64 = 2;
const STREAM_SOPHIA_LABELS: u64 = 3;

/// Everything that defines a run; saved with checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: GptConfig,
    /// Sequences per batch (each `model.context` tokens).
    pub batch: usize,
    pub seed: u64,
    /// Planned steps (the schedule's horizon).
    pub steps: u64,
    pub optimizer: String,
    /// `key=value` hyperparameters (see [`crate::optimizers`]).
    pub hparams: Vec<(String, String)>,
    /// wgopt's schedule syntax, e.g. `warmup:50+cosine:450:0.1`.
    pub schedule: String,
    /// Global gradient-norm clip (applied on the GPU by the step guard).
    pub grad_clip: Option<f32>,
    /// Gaussian noise added to every gradient, with standard deviation `grad_noise` × that
    /// tensor's gradient RMS (1.0: noise as large as the signal).
    pub grad_noise: f64,
    /// Probability that a training target is replaced by a uniformly random symbol.
    pub label_noise: f64,
}

impl TrainConfig {
    /// 10 % linear warmup, then cosine decay to 0.1× (nanoGPT's shape).
    pub fn default_schedule(steps: u64) -> String {
        let warmup = (steps / 10).max(1);
        format!(
            "warmup:{warmup}+cosine:{}:0.1",
            steps.saturating_sub(warmup).max(1)
        )
    }
}

/// Seconds spent in each phase of a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepTimes {
    /// CPU forward and backward of the training loss.
    pub forward_backward: f64,
    /// Extra passes for curvature (Sophia's estimate, AdaHessian's Hessian-vector products).
    pub curvature: f64,
    /// Parameters GPU → host, gradients host → GPU.
    pub transfer: f64,
    /// The optimizer's GPU step, submit to completion.
    pub optimizer: f64,
}

impl StepTimes {
    pub fn total(&self) -> f64 {
        self.forward_backward + self.curvature + self.transfer + self.optimizer
    }

    pub fn add(&mut self, o: &StepTimes) {
        self.forward_backward += o.forward_backward;
        self.curvature += o.curvature;
        self.transfer += o.transfer;
        self.optimizer += o.optimizer;
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Index of the step just taken (0-based).
    pub step: u64,
    /// Training loss on its batch, before the update.
    pub loss: f32,
    /// ℓ2 and ℓ1 norms of the gradient the optimizer was given (before clipping), from the
    /// host copy: what learning-rate refinement (`wgopt schedule refine`) reads.
    pub grad_norm: f64,
    pub grad_norm_l1: f64,
    pub times: StepTimes,
}

/// A GPT whose parameters and optimizer live on the GPU.
pub struct Trainer {
    cfg: TrainConfig,
    engine: Engine,
    params: ParamSet,
    driver: Driver,
    model: Gpt<f32>,
    scratch: Gpt<f32>,
    acts: Activations<f32>,
    grads: Vec<Vec<f32>>,
    aux: Vec<Vec<f32>>,
    /// Hessian-vector products (AdaHessian's Hz, SophiaH's Hu), model order.
    hz: Vec<Vec<f32>>,
    /// Parameter names in model order.
    names: Vec<String>,
    /// Layout slot of each model tensor.
    slots: Vec<usize>,
    /// True while `model.params` equals the GPU's parameters.
    host_fresh: bool,
    step: u64,
    vocab: String,
}

impl Trainer {
    /// A freshly initialised model (seeded) and optimizer for `corpus`.
    pub fn new(engine: &Engine, corpus: &Corpus, cfg: TrainConfig) -> Result<Trainer> {
        check_name(&cfg.optimizer)?;
        if cfg.model.vocab != corpus.vocab() {
            return Err(Error::Config(format!(
                "model vocabulary {} but the data has {} symbols",
                cfg.model.vocab,
                corpus.vocab()
            )));
        }
        corpus.check_context(cfg.model.context)?;
        if cfg.batch == 0 || cfg.steps == 0 {
            return Err(Error::Config("batch and steps must be positive".into()));
        }
        cfg.model.validate()?;
        let acts = cfg.model.activation_floats(cfg.batch);
        if acts > crate::config::MAX_ACTIVATION_FLOATS {
            return Err(Error::Config(format!(
                "batch {} × context {} × {} layers × width {} needs about {acts} activation \
                 floats, over the toy's limit of {}; lower the batch or the model",
                cfg.batch,
                cfg.model.context,
                cfg.model.n_layer,
                cfg.model.n_embd,
                crate::config::MAX_ACTIVATION_FLOATS
            )));
        }
        if let Some(c) = cfg.grad_clip {
            if !(c.is_finite() && c > 0.0) {
                return Err(Error::Config(format!(
                    "grad_clip must be finite and > 0, got {c}"
                )));
            }
        }
        if !((0.0..=1.0).contains(&cfg.label_noise)
            && cfg.grad_noise >= 0.0
            && cfg.grad_noise.is_finite())
        {
            return Err(Error::Config(
                "label noise must be in [0, 1], gradient noise ≥ 0".into(),
            ));
        }
        let schedule = Schedule::parse(&cfg.schedule).map_err(|e| Error::Config(e.to_string()))?;
        if let Some(h) = schedule.horizon() {
            if cfg.steps > h {
                return Err(Error::Config(format!(
                    "the schedule covers {h} steps but the run has {}; stretch a refined table \
                     with refined:FILE:STEPS",
                    cfg.steps
                )));
            }
        }
        let model: Gpt<f32> = Gpt::new(cfg.model, cfg.seed)?;
        let named = param_specs(&cfg.model);
        let specs =
            router(&cfg.optimizer).specs(named.iter().map(|(n, s)| (n.as_str(), s.as_slice())));
        let mut params = ParamSet::new(engine, &specs)?;
        let slots = named
            .iter()
            .map(|(n, _)| params.layout().index_of(n))
            .collect::<wgopt::Result<Vec<usize>>>()?;
        for ((n, _), p) in named.iter().zip(&model.params) {
            params.write_param(n, p)?;
        }
        let guard = GuardConfig {
            max_grad_norm: cfg.grad_clip,
            skip_non_finite: true,
        };
        let mut driver = build(&cfg.optimizer, &params, &cfg.hparams, guard, cfg.seed)?;
        driver.optimizer().set_schedule(schedule)?;
        let acts = Activations::new(&cfg.model, cfg.batch, cfg.model.context);
        Ok(Trainer {
            engine: engine.clone(),
            params,
            driver,
            scratch: model.clone(),
            grads: model.zeros_like(),
            aux: model.zeros_like(),
            hz: model.zeros_like(),
            names: named.iter().map(|(n, _)| n.clone()).collect(),
            model,
            acts,
            slots,
            host_fresh: true,
            step: 0,
            vocab: corpus.chars.iter().collect(),
            cfg,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Steps taken so far.
    pub fn step_index(&self) -> u64 {
        self.step
    }

    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }

    /// The optimizer's name as wgopt reports it.
    pub fn optimizer_name(&mut self) -> String {
        self.driver.optimizer().name().to_string()
    }

    /// wgopt's statistics of the last step (gradient norm, clip, skips); reads back.
    pub fn stats(&mut self) -> Result<wgopt::StepStats> {
        Ok(self.driver.optimizer().stats()?)
    }

    /// The parameters as the GPU holds them, in [`param_specs`] order (reads back if stale).
    pub fn model(&mut self) -> Result<&Gpt<f32>> {
        self.pull()?;
        Ok(&self.model)
    }

    fn pull(&mut self) -> Result<()> {
        if !self.host_fresh {
            let mut all = self.params.read_params_by_slot()?;
            for (dst, &slot) in self.model.params.iter_mut().zip(&self.slots) {
                *dst = std::mem::take(&mut all[slot]);
            }
            self.host_fresh = true;
        }
        Ok(())
    }

    /// Uploads `tensors` (model order) as the gradients, in layout order.
    fn push_grads(params: &mut ParamSet, slots: &[usize], tensors: &[Vec<f32>]) -> Result<()> {
        let mut ordered: Vec<&[f32]> = vec![&[]; tensors.len()];
        for (t, &slot) in tensors.iter().zip(slots) {
            ordered[slot] = t;
        }
        Ok(params.write_grads_by_slot(&ordered)?)
    }

    /// Reads the optimizer's latest probe draw into `aux` (model order).
    fn probes_into_aux(&mut self) -> Result<()> {
        let engine = self.engine.clone();
        let draws = match &mut self.driver {
            Driver::Sophia(s) => s.probes()?.read(&engine)?,
            Driver::AdaHessian(a) => a.probes()?.read(&engine)?,
            Driver::Plain(_) | Driver::Mkor(_) => {
                return Err(Error::Config("this optimizer takes no probes".into()))
            }
        };
        for (dst, &slot) in self.aux.iter_mut().zip(&self.slots) {
            dst.copy_from_slice(&draws[slot]);
        }
        Ok(())
    }

    /// H·(probe) into `hz`, at the host parameters, on `batch`.
    fn hvp_of_probes(&mut self, batch: &Batch) -> Result<()> {
        hvp(
            &self.model,
            &mut self.scratch,
            &mut self.acts,
            batch,
            &self.aux,
            &mut self.hz,
        )
    }

    /// One training step: forward/backward on the next batch, the curvature work the
    /// optimizer needs, and the GPU update.
    pub fn train_step(&mut self, corpus: &Corpus) -> Result<StepReport> {
        let mut times = StepTimes::default();
        let t0 = Instant::now();
        self.pull()?;
        times.transfer += t0.elapsed().as_secs_f64();

        let (b, t) = (self.cfg.batch, self.cfg.model.context);
        let batch = corpus.batch(
            Split::Train,
            b,
            t,
            self.cfg.seed,
            self.step,
            self.cfg.label_noise,
        )?;
        let t1 = Instant::now();
        // MKOR's factor steps take each linear layer's statistics from this backward.
        self.acts.linear_stats.clip = match &self.driver {
            Driver::Mkor(m) if m.statistics_due() => Some(m.statistics_clip()),
            _ => None,
        };
        let loss = self
            .model
            .forward(&mut self.acts, &batch.tokens, &batch.targets)?;
        self.model.backward(
            &mut self.acts,
            &batch.tokens,
            &batch.targets,
            &mut self.grads,
        )?;
        self.acts.linear_stats.clip = None;
        if let Driver::Mkor(m) = &mut self.driver {
            for (index, stats) in self.acts.linear_stats.layers.drain(..) {
                m.write_statistics(&self.names[index], &stats)?;
            }
        }
        if self.cfg.grad_noise > 0.0 {
            self.add_grad_noise();
        }
        times.forward_backward = t1.elapsed().as_secs_f64();

        if matches!(self.driver, Driver::AdaHessian(_)) {
            let t2 = Instant::now();
            // Hz goes to its own arena, beside the gradient.
            self.probes_into_aux()?;
            self.hvp_of_probes(&batch)?;
            if let Driver::AdaHessian(a) = &mut self.driver {
                for (name, h) in self.names.iter().zip(&self.hz) {
                    a.write_hvp(&self.params, name, h)?;
                }
            }
            times.curvature += t2.elapsed().as_secs_f64();
        }

        let (mut sq, mut l1) = (0.0f64, 0.0f64);
        for g in self.grads.iter().flatten() {
            sq += (*g as f64) * (*g as f64);
            l1 += (*g as f64).abs();
        }
        let t3 = Instant::now();
        Self::push_grads(&mut self.params, &self.slots, &self.grads)?;
        times.transfer += t3.elapsed().as_secs_f64();

        let t4 = Instant::now();
        self.driver.optimizer().step(&mut self.params)?;
        self.engine.wait()?;
        times.optimizer = t4.elapsed().as_secs_f64();
        self.host_fresh = false;

        if let Driver::Sophia(s) = &self.driver {
            if s.hessian_due() {
                let t5 = Instant::now();
                self.sophia_estimate(&batch)?;
                times.curvature += t5.elapsed().as_secs_f64();
            }
        }
        let report = StepReport {
            step: self.step,
            loss,
            grad_norm: sq.sqrt(),
            grad_norm_l1: l1,
            times,
        };
        self.step += 1;
        Ok(report)
    }

    /// Sophia's Hessian update after the step, as the reference does it: a fresh forward at
    /// the new parameters on the same batch, then the Gauss–Newton–Bartlett gradient
    /// (SophiaG) or u ⊙ Hu with Gaussian u (SophiaH, the product by finite differences; the
    /// GPU kernel forms u ⊙ ·).
    fn sophia_estimate(&mut self, batch: &Batch) -> Result<()> {
        self.pull()?;
        let hutchinson = matches!(&self.driver, Driver::Sophia(s) if s.is_hutchinson());
        if hutchinson {
            self.probes_into_aux()?;
            self.hvp_of_probes(batch)?;
            Self::push_grads(&mut self.params, &self.slots, &self.hz)?;
        } else {
            self.model
                .forward(&mut self.acts, &batch.tokens, &batch.targets)?;
            let mut rng = stream_rng(self.cfg.seed, STREAM_SOPHIA_LABELS, self.step);
            gnb_gradient(
                &self.model,
                &mut self.acts,
                &batch.tokens,
                &mut rng,
                &mut self.grads,
            )?;
            Self::push_grads(&mut self.params, &self.slots, &self.grads)?;
        }
        if let Driver::Sophia(s) = &mut self.driver {
            s.update_hessian(&mut self.params)?;
        }
        self.engine.wait()?;
        Ok(())
    }

    fn add_grad_noise(&mut self) {
        let mut rng = stream_rng(self.cfg.seed, STREAM_GRAD_NOISE, self.step);
        let unit = Normal::new(0.0f32, 1.0).expect("unit normal");
        for g in self.grads.iter_mut() {
            let rms = (g.iter().map(|x| x * x).sum::<f32>() / g.len().max(1) as f32).sqrt();
            let s = self.cfg.grad_noise as f32 * rms;
            for x in g.iter_mut() {
                *x += s * unit.sample(&mut rng);
            }
        }
    }

    /// Mean loss over `batches` fixed validation batches (the same ones at every call).
    pub fn evaluate(&mut self, corpus: &Corpus, batches: usize) -> Result<f32> {
        self.pull()?;
        let (b, t) = (self.cfg.batch, self.cfg.model.context);
        let mut sum = 0.0;
        for i in 0..batches.max(1) {
            let batch = corpus.batch(Split::Val, b, t, self.cfg.seed, i as u64, 0.0)?;
            sum += self
                .model
                .forward(&mut self.acts, &batch.tokens, &batch.targets)?;
        }
        Ok(sum / batches.max(1) as f32)
    }

    /// `len` characters sampled after `prompt` at `temperature` (> 0), seeded.
    pub fn generate(
        &mut self,
        corpus: &Corpus,
        prompt: &str,
        len: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<String> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::Config(format!(
                "temperature must be positive, got {temperature}"
            )));
        }
        self.pull()?;
        let mut tokens = corpus.encode(prompt)?;
        if tokens.is_empty() {
            tokens.push(0);
        }
        let ctx = self.cfg.model.context;
        let v = self.cfg.model.vocab;
        let mut rng = stream_rng(seed, 4, 0);
        let start = tokens.len();
        for _ in 0..len {
            let window = &tokens[tokens.len().saturating_sub(ctx)..];
            let mut acts = Activations::new(&self.cfg.model, 1, window.len());
            self.model.forward(&mut acts, window, window)?;
            let last = &acts.probs[(window.len() - 1) * v..window.len() * v];
            let weights: Vec<f64> = last
                .iter()
                .map(|&p| (p as f64).powf(1.0 / temperature as f64))
                .collect();
            let total: f64 = weights.iter().sum();
            let mut u = rng.random::<f64>() * total;
            let mut next = v - 1;
            for (j, w) in weights.iter().enumerate() {
                if u < *w {
                    next = j;
                    break;
                }
                u -= w;
            }
            tokens.push(next as u32);
        }
        Ok(corpus.decode(&tokens[start..]))
    }
}
