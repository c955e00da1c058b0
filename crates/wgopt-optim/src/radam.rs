//! RAdam on the GPU: `shaders/optim/radam.wgsl`, reference twin `wgopt_reference::optim::radam`
//! (torch.optim.RAdam). The rectification r_t depends on the step only, so the host computes it
//! in f64 with the other scalars; after a skipped step the host has not read, the kernel
//! recomputes them in f32 from the GPU's count.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::radam::rectification;
use wgopt_reference::optim::RAdamConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// RAdam over a parameter set.
pub type RAdam = Stepper<Fused<RAdamRule>>;

/// `optim/radam.wgsl`: segments, stats, param, grad, exp_avg, exp_avg_sq.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/radam.wgsl",
    RAdamSegment,
    [::wgopt_scheduler::kernel::common::TORCH_LERP],
    [ReadWrite, ReadWrite]
);

/// Per-segment scalars. WGSL twin: `RAdamSegment` in shaders/optim/radam.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct RAdamSegment {
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
    pub bias_correction1: f32,
    pub bias_correction2_sqrt: f32,
    /// r_t, or 0 while ρ_t ≤ 5.
    pub rect: f32,
    pub _pad2: f32,
}

/// The RAdam rule.
#[derive(Debug)]
pub enum RAdamRule {}

impl Rule for RAdamRule {
    type Config = RAdamConfig;
    type Segment = RAdamSegment;
    const NAME: &'static str = "radam";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "exp_avg_sq"];

    fn constants(cfg: &RAdamConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("MAXIMIZE", cfg.maximize as u8 as f64),
            (
                "DECOUPLED_WEIGHT_DECAY",
                cfg.decoupled_weight_decay as u8 as f64,
            ),
        ]
    }

    fn segment(cfg: &RAdamConfig, lr: f64, t: u64, start: u32, end: u32) -> RAdamSegment {
        let (beta1, beta2) = cfg.betas;
        let t_i = t.min(i32::MAX as u64) as i32;
        RAdamSegment {
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
            bias_correction1: (1.0 - beta1.powi(t_i)) as f32,
            bias_correction2_sqrt: (1.0 - beta2.powi(t_i)).sqrt() as f32,
            rect: rectification(beta2, t).map_or(0.0, |r| r as f32),
            ..Default::default()
        }
    }
}
