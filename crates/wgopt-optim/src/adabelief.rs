//! AdaBelief on the GPU: `shaders/optim/adabelief.wgsl`, reference twin
//! `wgopt_reference::optim::adabelief`.

use crate::fused::{Fused, Rule};
use crate::Stepper;
use bytemuck::{Pod, Zeroable};
use wgopt_reference::optim::adabelief::{rectified_step, RectifiedStep};
use wgopt_reference::optim::AdaBeliefConfig;
use wgopt_scheduler::kernel::{Kernel, WgslStruct};

/// AdaBelief over a parameter set.
pub type AdaBelief = Stepper<Fused<AdaBeliefRule>>;

/// `optim/adabelief.wgsl`: segments, stats, param, grad, exp_avg, exp_avg_var, max_exp_avg_var.
pub static KERNEL: Kernel = crate::fused_kernel!(
    "optim/adabelief.wgsl",
    AdaBeliefSegment,
    [],
    [ReadWrite, ReadWrite, ReadWrite]
);

/// Per-segment scalars. WGSL twin: `AdaBeliefSegment` in shaders/optim/adabelief.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable, WgslStruct)]
pub struct AdaBeliefSegment {
    pub start: u32,
    pub end: u32,
    pub step: u32,
    pub mode: u32,
    pub lr: f32,
    pub decay: f32,
    pub weight_decay: f32,
    pub beta1: f32,
    pub one_minus_beta1: f32,
    pub beta2: f32,
    pub one_minus_beta2: f32,
    pub eps: f32,
    pub coef: f32,
    pub bias_correction2_sqrt: f32,
    pub _pad0: f32,
    pub _pad1: f32,
}

#[derive(Debug)]
pub enum AdaBeliefRule {}

impl Rule for AdaBeliefRule {
    type Config = AdaBeliefConfig;
    type Segment = AdaBeliefSegment;
    const NAME: &'static str = "adabelief";
    const KERNEL: &'static Kernel = &KERNEL;
    const STATE: &'static [&'static str] = &["exp_avg", "exp_avg_var", "max_exp_avg_var"];

    fn state_fields(cfgs: &[&AdaBeliefConfig]) -> Vec<&'static str> {
        let n = if cfgs.iter().any(|c| c.amsgrad) { 3 } else { 2 };
        Self::STATE[..n].to_vec()
    }

    fn constants(cfg: &AdaBeliefConfig) -> Vec<(&'static str, f64)> {
        vec![
            ("AMSGRAD", cfg.amsgrad as u8 as f64),
            ("WEIGHT_DECOUPLE", cfg.weight_decouple as u8 as f64),
            ("RECTIFY", cfg.rectify as u8 as f64),
            ("DEGENERATED_TO_SGD", cfg.degenerated_to_sgd as u8 as f64),
        ]
    }

    fn segment(cfg: &AdaBeliefConfig, lr: f64, t: u64, start: u32, end: u32) -> AdaBeliefSegment {
        let (beta1, beta2) = cfg.betas;
        let (mode, coef) = match rectified_step(cfg, t) {
            RectifiedStep::Plain => (0, 1.0 / (1.0 - beta1.powi(t as i32))),
            RectifiedStep::Adaptive(k) => (1, k),
            RectifiedStep::Momentum(k) => (2, k),
            RectifiedStep::None => (3, 0.0),
        };
        let decay = if cfg.fixed_decay {
            1.0 - cfg.weight_decay
        } else {
            1.0 - lr * cfg.weight_decay
        };
        AdaBeliefSegment {
            start,
            end,
            step: t as u32,
            mode,
            lr: lr as f32,
            decay: decay as f32,
            weight_decay: cfg.weight_decay as f32,
            beta1: beta1 as f32,
            one_minus_beta1: (1.0 - beta1) as f32,
            beta2: beta2 as f32,
            one_minus_beta2: (1.0 - beta2) as f32,
            eps: cfg.eps as f32,
            coef: coef as f32,
            bias_correction2_sqrt: (1.0 - beta2.powi(t as i32)).sqrt() as f32,
            ..Default::default()
        }
    }
}
