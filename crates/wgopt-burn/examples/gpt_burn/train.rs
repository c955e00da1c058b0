//! Training the burn GPT with a wgopt optimizer (`adamw`, `muon+adamw`, any name of wgopt's
//! table) or one of burn's own (`burn:adamw`, `burn:muon`, `burn:sgd`): same batches, same
//! schedule (10 % warmup, cosine to 0.1×), forward, backward and update all on the GPU.

use super::model::{Gpt, GptShape};
use burn::module::{Module, ParamGroup};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamWConfig, AdjustLrFn, GradientsParams, ModuleOptimizer, MuonConfig, SgdConfig,
};
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::time::Instant;
use toygpt::{Corpus, Split};
use wgopt_burn::{SharedDevice, WgoptConfig, WgoptOptimizer};
use wgopt_optim::{registry, Schedule};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What every run of a race shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub shape: GptShape,
    pub batch: usize,
    pub seed: u64,
    pub steps: u64,
    /// The AdamW baseline's learning rate (wgopt's recommended values follow it).
    pub adamw_lr: f64,
}

impl Settings {
    /// The schedule: 10 % linear warmup, then cosine to 0.1×.
    pub fn schedule(&self) -> Schedule {
        let warmup = (self.steps / 10).max(1);
        let cosine = Schedule::Cosine {
            total: self.steps.saturating_sub(warmup).max(1),
            floor: 0.1,
        };
        Schedule::warmup(warmup, cosine)
    }

    /// The learning-rate multiplier at `step`.
    pub fn multiplier(&self, step: u64) -> f64 {
        self.schedule().multiplier(step)
    }
}

/// The optimizer of a run.
pub enum Optim {
    Wgopt(Box<WgoptOptimizer>),
    /// burn's own, with its base learning rate.
    Burn(ModuleOptimizer, f64),
}

/// Seconds of one step, split where the GPU is synchronised.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimes {
    pub forward_backward: f64,
    pub optimizer: f64,
    /// Sophia-G's extra forward and backward on sampled labels and its Hessian update.
    pub curvature: f64,
    pub other: f64,
}

impl StepTimes {
    pub fn total(&self) -> f64 {
        self.forward_backward + self.optimizer + self.curvature + self.other
    }

    pub fn add(&mut self, t: &StepTimes) {
        self.forward_backward += t.forward_backward;
        self.optimizer += t.optimizer;
        self.curvature += t.curvature;
        self.other += t.other;
    }
}

/// One run: the model, its optimizer, and the device they share.
pub struct Runner {
    pub model: Option<Gpt>,
    pub optim: Optim,
    pub hparams: String,
    /// With autodiff (training) and without (validation).
    device: Device,
    plain: Device,
    settings: Settings,
}

/// burn's optimizer `name` (`adamw`, `muon`, `sgd`) at wgopt's recommended values for the same
/// role: AdamW β₂ 0.99, ε 1e-8, weight decay 0.1 on every tensor (burn has no decay split);
/// Muon on the blocks' matrices with Moonlight's RMS-matching scale, so one learning rate
/// (AdamW's) serves both groups, as burn's step takes one; SGD Nesterov 0.9 at 0.1.
fn burn_optimizer(name: &str, adamw_lr: f64) -> Result<(ModuleOptimizer, f64, String)> {
    let adamw = AdamWConfig::new()
        .with_beta_2(0.99)
        .with_epsilon(1e-8)
        .with_weight_decay(0.1);
    Ok(match name {
        "adamw" => (adamw.init(), adamw_lr, "β2=0.99 ε=1e-8 wd=0.1".into()),
        "muon" => {
            let matrices = ParamGroup::from_regex(r"^blocks\.\d+\.(qkv|proj|fc|fc_proj)\.weight$")
                .map_err(|e| format!("{e:?}"))?;
            let muon = MuonConfig::new()
                .with_adjust_lr_fn(AdjustLrFn::MatchRmsAdamW)
                .with_weight_decay(Some(WeightDecayConfig::new(0.1)))
                .build();
            let optim = adamw.init().with_group(matrices, muon, None);
            (
                optim,
                adamw_lr,
                "Muon (0.2·√max(A,B) scale, wd 0.1) on blocks' matrices + AdamW".into(),
            )
        }
        "sgd" => {
            let momentum = MomentumConfig {
                momentum: 0.9,
                dampening: 0.0,
                nesterov: true,
            };
            let sgd = SgdConfig::new().with_momentum(Some(momentum)).init();
            (sgd, 0.1, "Nesterov 0.9, lr 0.1".into())
        }
        other => return Err(format!("burn optimizer {other:?}: use adamw, muon or sgd").into()),
    })
}

impl Runner {
    /// A fresh model (seeded) and the optimizer `entry`: a wgopt name, or `burn:NAME`.
    pub fn new(shared: &SharedDevice, entry: &str, settings: &Settings) -> Result<Runner> {
        let device = shared.autodiff_device();
        device.seed(settings.seed);
        let model = Gpt::new(&settings.shape, &device);
        let (optim, hparams) = match entry.strip_prefix("burn:") {
            Some(name) => {
                let (o, lr, text) = burn_optimizer(name, settings.adamw_lr)?;
                (Optim::Burn(o, lr), text)
            }
            None => {
                let e = registry::find(entry)?;
                let tokens = settings.batch * settings.shape.context;
                let mut config = WgoptConfig::new(entry).with_seed(settings.seed);
                config.hparams = (e.recommended)(settings.adamw_lr, tokens);
                let text = config
                    .hparams
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                (Optim::Wgopt(Box::new(config.init(shared)?)), text)
            }
        };
        Ok(Runner {
            model: Some(model),
            optim,
            hparams,
            device,
            plain: shared.device().clone(),
            settings: settings.clone(),
        })
    }

    /// Tokens and targets of batch `step` of `split`, on the device.
    fn batch(
        &self,
        corpus: &Corpus,
        split: Split,
        step: u64,
        device: &Device,
    ) -> Result<(Tensor<2, Int>, Tensor<2, Int>)> {
        let (b, t) = (self.settings.batch, self.settings.shape.context);
        let batch = corpus.batch(split, b, t, self.settings.seed, step, 0.0)?;
        let tensor = |v: &[u32]| {
            let data: Vec<i64> = v.iter().map(|&x| x as i64).collect();
            Tensor::<2, Int>::from_data(TensorData::new(data, [b, t]), device)
        };
        Ok((tensor(&batch.tokens), tensor(&batch.targets)))
    }

    /// One training step; returns the training loss (read back: the example prints it) and
    /// the time split (the GPU is synchronised after backward and after the update).
    pub fn step(&mut self, corpus: &Corpus, step: u64) -> Result<(f32, StepTimes)> {
        let t0 = Instant::now();
        let (x, y) = self.batch(corpus, Split::Train, step, &self.device)?;
        let t1 = Instant::now();
        let model = self
            .model
            .take()
            .ok_or("model lost by an earlier failed step")?;
        let loss = model.loss(x, y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.device.sync()?;
        let t2 = Instant::now();
        let mult = self.settings.multiplier(step);
        let model = match &mut self.optim {
            Optim::Wgopt(o) => {
                let lr = o.base_lr() * mult;
                o.step(lr, model, grads).map_err(|r| r.error)?
            }
            Optim::Burn(o, base) => o.step(*base * mult, model, grads),
        };
        self.device.sync()?;
        let t3 = Instant::now();
        self.curvature(&model, corpus, step)?;
        let t4 = Instant::now();
        let value = loss.into_scalar::<f32>();
        self.model = Some(model);
        let t5 = Instant::now();
        let s = |a: Instant, b: Instant| (b - a).as_secs_f64();
        Ok((
            value,
            StepTimes {
                forward_backward: s(t1, t2),
                optimizer: s(t2, t3),
                curvature: s(t3, t4),
                other: s(t0, t1) + s(t4, t5),
            },
        ))
    }

    /// Sophia-G's estimate when due, as its reference does it: a fresh forward at the updated
    /// parameters on the step's batch, the loss on sampled labels, its gradient to the
    /// optimizer (GPU to GPU).
    fn curvature(&mut self, model: &Gpt, corpus: &Corpus, step: u64) -> Result<()> {
        let due = matches!(&self.optim, Optim::Wgopt(o) if o.curvature_due());
        if !due {
            return Ok(());
        }
        let (x, _) = self.batch(corpus, Split::Train, step, &self.device)?;
        let loss = model.sampled_label_loss(x);
        let grads = GradientsParams::from_grads(loss.backward(), model);
        if let Optim::Wgopt(o) = &mut self.optim {
            o.update_curvature(model, &grads)?;
        }
        self.device.sync()?;
        Ok(())
    }

    /// Mean validation loss over `batches` fixed batches (no autodiff).
    pub fn evaluate(&self, corpus: &Corpus, batches: usize) -> Result<f32> {
        let model = self.model.as_ref().ok_or("no model")?.valid();
        let mut sum = 0.0;
        for i in 0..batches {
            let (x, y) = self.batch(corpus, Split::Val, i as u64, &self.plain)?;
            sum += model.loss(x, y).into_scalar::<f32>();
        }
        Ok(sum / batches.max(1) as f32)
    }
}
