//! SGD on the GPU: `shaders/optim/sgd.wgsl`, reference twin `wgopt_reference::optim::sgd`.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::SgdConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// SGD over a parameter set.
pub type Sgd = Stepper<Fused<SgdRule>>;

/// `optim/sgd.wgsl`: segments, stats, param, grad, momentum_buffer.
pub static KERNEL: Kernel = crate::fused_kernel!("optim/sgd.wgsl", SgdSegment, [], [ReadWrite]);

/// Per-segment scalars. WGSL twin: `SgdSegment` in shaders/optim/sgd.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct SgdSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub _pad: u32,
    pub neg_lr: f32,
    pub weight_decay: f32,
    pub momentum: f32,
    pub one_minus_dampening: f32,
}

/// The SGD rule.
#[derive(Debug)]
pub enum SgdRule {}

impl Rule for SgdRule {
    type Config = SgdConfig;
    type Segment = SgdSegment;
    const NAME: &'static str = "sgd";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["momentum_buffer"];

    fn state_fields(cfgs: &[&SgdConfig]) -> Vec<&'static str> {
        if cfgs.iter().any(|c| c.momentum != 0.0) {
            Self::STATE.to_vec()
        } else {
            Vec::new()
        }
    }

    fn constants(cfg: &SgdConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("MAXIMIZE", cfg.maximize as u8 as f64),
            ("NESTEROV", cfg.nesterov as u8 as f64),
        ]
    }

    fn segment(cfg: &SgdConfig, lr: f64, t: u64, start: u32, end: u32) -> SgdSegment {
        SgdSegment {
            start,
            end,
            step: t as u32,
            _pad: 0,
            neg_lr: (-lr) as f32,
            weight_decay: cfg.weight_decay as f32,
            momentum: cfg.momentum as f32,
            one_minus_dampening: (1.0 - cfg.dampening) as f32,
        }
    }
}
