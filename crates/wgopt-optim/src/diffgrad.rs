//! diffGrad on the GPU: `shaders/optim/diffgrad.wgsl`, reference twin
//! `wgopt_reference::optim::diffgrad` (the fixed v2 semantics).

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::DiffGradConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// diffGrad over a parameter set.
pub type DiffGrad = Stepper<Fused<DiffGradRule>>;

/// `optim/diffgrad.wgsl`: segments, stats, param, grad, exp_avg, exp_avg_sq, previous_grad.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/diffgrad.wgsl",
    DiffGradSegment,
    [],
    [ReadWrite, ReadWrite, ReadWrite]
);

/// Per-segment scalars. WGSL twin: `DiffGradSegment` in shaders/optim/diffgrad.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct DiffGradSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub lr: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub step_size: f32,
}

#[derive(Debug)]
pub enum DiffGradRule {}

impl Rule for DiffGradRule {
    type Config = DiffGradConfig;
    type Segment = DiffGradSegment;
    const NAME: &'static str = "diffgrad";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "previous_grad"];

    fn segment(cfg: &DiffGradConfig, lr: f64, t: u64, start: u32, end: u32) -> DiffGradSegment {
        let (beta1, beta2) = cfg.betas;
        let t_i = t as i32;
        DiffGradSegment {
            start,
            end,
            step: t as u32,
            _pad: 0,
            lr: lr as f32,
            weight_decay: cfg.weight_decay as f32,
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: cfg.eps as f32,
            step_size: (lr * (1.0 - beta2.powi(t_i)).sqrt() / (1.0 - beta1.powi(t_i))) as f32,
        }
    }
}
