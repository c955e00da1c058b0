//! Lion on the GPU: `shaders/optim/lion.wgsl`, reference twin `wgopt_reference::optim::lion`.

use crate::fused::{Fused, Rule};
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::LionConfig;
use wgopt_scheduler::{Error, Result, ShaderId};

/// Lion over a parameter set.
pub type Lion = Fused<LionRule>;

/// Per-segment scalars. WGSL twin: `LionSegment` in shaders/optim/lion.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct LionSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub neg_lr: f32,
    pub decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub _pad1: f32,
    pub _pad2: f32,
}

/// The Lion rule.
#[derive(Debug)]
pub enum LionRule {}

impl Rule for LionRule {
    type Config = LionConfig;
    type Segment = LionSegment;
    const NAME: &'static str = "lion";
    const SHADER: ShaderId = ShaderId::Lion;
    const BOUND_FIELDS: &'static [&'static str] = &["exp_avg"];

    fn validate(cfg: &LionConfig) -> Result<()> {
        cfg.validate()
            .map_err(|e| Error::InvalidHyperparameter(e.to_string()))
    }

    fn state_fields(_: &[LionConfig]) -> Vec<&'static str> {
        Self::BOUND_FIELDS.to_vec()
    }

    fn constants(_: &LionConfig) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    fn base_lr(cfg: &LionConfig) -> f64 {
        cfg.lr
    }

    fn segment(cfg: &LionConfig, lr: f64, t: u64, start: u32, end: u32) -> LionSegment {
        LionSegment {
            start,
            end,
            step: t as u32,
            neg_lr: (-lr) as f32,
            decay: (1.0 - lr * cfg.weight_decay) as f32,
            beta1: cfg.betas.0 as f32,
            one_minus_beta1: (1.0 - cfg.betas.0) as f32,
            beta2: cfg.betas.1 as f32,
            one_minus_beta2: (1.0 - cfg.betas.1) as f32,
            ..Default::default()
        }
    }
}
