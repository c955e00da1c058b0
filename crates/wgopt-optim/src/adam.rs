//! Adam and AdamW on the GPU: `shaders/optim/adam.wgsl`, reference twin
//! `wgopt_reference::optim::adam`. AdamW is `AdamConfig::adamw()` (decoupled decay).

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::AdamConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};
use wgopt_scheduler::Result;

/// Adam or AdamW over a parameter set.
pub type Adam = Stepper<Fused<AdamRule>>;

/// `optim/adam.wgsl`: segments, stats, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/adam.wgsl",
    AdamSegment,
    [::wgopt_scheduler::kernel::common::TORCH_LERP],
    [ReadWrite, ReadWrite, ReadWrite]
);

/// Per-segment scalars. WGSL twin: `AdamSegment` in shaders/optim/adam.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct AdamSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub lr: f32,
    pub weight_decay: f32,
    pub decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub step_size: f32,
    pub bias_correction2_sqrt: f32,
    pub root_step_size: f32,
    pub _pad2: f32,
}

/// The Adam/AdamW rule.
#[derive(Debug)]
pub enum AdamRule {}

impl Rule for AdamRule {
    type Config = AdamConfig;
    type Segment = AdamSegment;
    const NAME: &'static str = "adam";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    /// "adamw" with decoupled decay (the default of an empty hybrid part too), else "adam";
    /// checkpoints say "adam" for both.
    fn name(configs: &[&AdamConfig]) -> &'static str {
        if configs.first().is_none_or(|c| c.decoupled_weight_decay) {
            "adamw"
        } else {
            "adam"
        }
    }

    fn state_fields(cfgs: &[&AdamConfig]) -> Vec<&'static str> {
        if cfgs.iter().any(|c| c.amsgrad) {
            Self::STATE.to_vec()
        } else {
            Self::STATE[..2].to_vec()
        }
    }

    fn constants(cfg: &AdamConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("AMSGRAD", cfg.amsgrad as u8 as f64),
            ("MAXIMIZE", cfg.maximize as u8 as f64),
            (
                "DECOUPLED_WEIGHT_DECAY",
                cfg.decoupled_weight_decay as u8 as f64,
            ),
            ("ROOT_FALLBACK", cfg.root_fallback as u8 as f64),
        ]
    }

    fn segment(cfg: &AdamConfig, lr: f64, t: u64, start: u32, end: u32) -> AdamSegment {
        let (beta1, beta2) = cfg.betas;
        let bias_correction1 = 1.0 - beta1.powi(t as i32);
        let bias_correction2 = 1.0 - beta2.powi(t as i32);
        AdamSegment {
            start,
            end,
            step: t as u32,
            lr: lr as f32,
            weight_decay: cfg.weight_decay as f32,
            decay: (1.0 - lr * cfg.weight_decay) as f32,
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: cfg.eps as f32,
            step_size: (lr / bias_correction1) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            root_step_size: (lr * bias_correction2.sqrt() / bias_correction1) as f32,
            ..Default::default()
        }
    }
}

impl Adam {
    /// `torch.optim.AdamW` defaults with learning rate `lr` for every group.
    pub fn adamw(params: &wgopt_scheduler::ParamSet, lr: f64) -> Result<Self> {
        Self::all(
            params,
            AdamConfig {
                lr,
                ..AdamConfig::adamw()
            },
        )
    }
}
