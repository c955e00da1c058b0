//! AdaGrad on the GPU: `shaders/optim/adagrad.wgsl`, reference twin
//! `wgopt_reference::optim::adagrad` (torch.optim.Adagrad). The AdAdaGrad batch-size rule is
//! [`NormTest`], a host-side helper for the training loop.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
pub use wgopt_reference::optim::adagrad::NormTest;
use wgopt_reference::optim::AdaGradConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// AdaGrad over a parameter set.
pub type AdaGrad = Stepper<Fused<AdaGradRule>>;

/// `optim/adagrad.wgsl`: segments, stats, param, grad, sum.
pub static KERNEL: Kernel =
    crate::fused_kernel!("optim/adagrad.wgsl", AdaGradSegment, [], [ReadWrite]);

/// Per-segment scalars. WGSL twin: `AdaGradSegment` in shaders/optim/adagrad.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct AdaGradSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub neg_clr: f32,
    pub lr: f32,
    pub lr_decay: f32,
    pub weight_decay: f32,
    pub eps: f32,
    pub _pad0: f32,
    pub _pad1: f32,
    pub _pad2: f32,
}

#[derive(Debug)]
pub enum AdaGradRule {}

impl Rule for AdaGradRule {
    type Config = AdaGradConfig;
    type Segment = AdaGradSegment;
    const NAME: &'static str = "adagrad";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["sum"];

    fn constants(cfg: &AdaGradConfig) -> Vec<(&'static str, f64)> {
        vec![("MAXIMIZE", cfg.maximize as u8 as f64)]
    }

    fn segment(cfg: &AdaGradConfig, lr: f64, t: u64, start: u32, end: u32) -> AdaGradSegment {
        AdaGradSegment {
            start,
            end,
            step: t as u32,
            neg_clr: (-cfg.clr(lr, t)) as f32,
            lr: lr as f32,
            lr_decay: cfg.lr_decay as f32,
            weight_decay: cfg.weight_decay as f32,
            eps: cfg.eps as f32,
            ..Default::default()
        }
    }

    fn initial_value(cfg: &AdaGradConfig, field: &str) -> f32 {
        if field == "sum" {
            cfg.initial_accumulator_value as f32
        } else {
            0.0
        }
    }
}
