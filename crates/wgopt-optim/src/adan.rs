//! Adan on the GPU: `shaders/optim/adan.wgsl`, reference twin `wgopt_reference::optim::adan`.
//! Adan's `max_grad_norm` is the guard's `GuardConfig::max_grad_norm`.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::adan::step_scalars;
use wgopt_reference::optim::AdanConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// Adan over a parameter set.
pub type Adan = Stepper<Fused<AdanRule>>;

/// `optim/adan.wgsl`: segments, stats, param, grad, exp_avg, exp_avg_diff, exp_avg_sq, neg_pre_grad.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/adan.wgsl",
    AdanSegment,
    [],
    [ReadWrite, ReadWrite, ReadWrite, ReadWrite]
);

/// Per-segment scalars. WGSL twin: `AdanSegment` in shaders/optim/adan.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct AdanSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub beta3: f32,
    pub one_minus_beta1: f32,
    pub one_minus_beta2: f32,
    pub one_minus_beta3: f32,
    pub eps: f32,
    pub step1: f32,
    pub step2: f32,
    pub bias_correction3_sqrt: f32,
    pub decay: f32,
}

#[derive(Debug)]
pub enum AdanRule {}

impl Rule for AdanRule {
    type Config = AdanConfig;
    type Segment = AdanSegment;
    const NAME: &'static str = "adan";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] =
        &["exp_avg", "exp_avg_diff", "exp_avg_sq", "neg_pre_grad"];

    fn constants(cfg: &AdanConfig) -> Vec<(&'static str, f64)> {
        vec![("NO_PROX", cfg.no_prox as u8 as f64)]
    }

    fn segment(cfg: &AdanConfig, lr: f64, t: u64, start: u32, end: u32) -> AdanSegment {
        let (b1, b2, b3) = cfg.betas;
        let (step1, step2, bc3_sqrt) = step_scalars(cfg, lr, t);
        AdanSegment {
            start,
            end,
            step: t as u32,
            _pad: 0,
            lr: lr as f32,
            beta1: b1 as f32,
            beta2: b2 as f32,
            beta3: b3 as f32,
            one_minus_beta1: (1.0 - b1) as f32,
            one_minus_beta2: (1.0 - b2) as f32,
            one_minus_beta3: (1.0 - b3) as f32,
            eps: cfg.eps as f32,
            step1: step1 as f32,
            step2: step2 as f32,
            bias_correction3_sqrt: bc3_sqrt as f32,
            decay: if cfg.no_prox {
                1.0 - lr * cfg.weight_decay
            } else {
                1.0 + lr * cfg.weight_decay
            } as f32,
        }
    }
}
