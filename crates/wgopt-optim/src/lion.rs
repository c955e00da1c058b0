//! Lion on the GPU: `shaders/optim/lion.wgsl`, reference twin `wgopt_reference::optim::lion`.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::LionConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// Lion over a parameter set.
pub type Lion = Stepper<Fused<LionRule>>;

/// `optim/lion.wgsl`: segments, stats, param, grad, exp_avg.
pub static KERNEL: Kernel = crate::fused_kernel!("optim/lion.wgsl", LionSegment, [], [ReadWrite]);

/// Per-segment scalars. WGSL twin: `LionSegment` in shaders/optim/lion.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
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
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg"];

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
