//! [`Fused<R>`]: the program of every fused elementwise optimizer. A [`Rule`] supplies what
//! differs — the kernel, the state fields, the override constants, the per-step scalars of a
//! group's segment — and `Fused` creates the state arenas and the launcher, and records the
//! one update dispatch per arena chunk. `Stepper<Fused<R>>` is the optimizer.

use crate::program::{flag, Build, Flags, Program, Step};
use bytemuck::Pod;
use wgopt_reference::optim::OptimizerConfig;
use wgopt_scheduler::arena::Arena;
use wgopt_scheduler::elementwise::{Coverage, ElementwiseKernel};
use wgopt_scheduler::kernel::{Access, WgslStruct};
use wgopt_scheduler::{Kernel, Result, StepRecorder};

/// Declares a fused rule's kernel, `shaders/<file>`: the step stats and grid-stride helpers
/// (then `extra` includes) composed before it, bindings segments, stats, param, grad, then the
/// states and inputs with the given accesses; its twins are the segment struct and
/// `StepStats`.
#[macro_export]
macro_rules! fused_kernel {
    ($file:literal, $segment:ty, [$($extra:expr),*], [$($access:ident),*]) => {
        ::wgopt_scheduler::kernel::Kernel::new(
            ::wgopt_scheduler::wgsl!($file),
            &[
                &::wgopt_scheduler::kernel::common::STEP_STATS,
                &::wgopt_scheduler::kernel::common::GRID_STRIDE,
                $(&$extra),*
            ],
            &[
                ::wgopt_scheduler::kernel::Access::ReadOnly,
                ::wgopt_scheduler::kernel::Access::ReadOnly,
                ::wgopt_scheduler::kernel::Access::ReadWrite,
                ::wgopt_scheduler::kernel::Access::ReadOnly,
                $(::wgopt_scheduler::kernel::Access::$access),*
            ],
        )
        .twins(&[
            <$segment as ::wgopt_scheduler::kernel::WgslStruct>::LAYOUT,
            <::wgopt_scheduler::StepStats as ::wgopt_scheduler::kernel::WgslStruct>::LAYOUT,
        ])
    };
}

/// What distinguishes one fused elementwise optimizer from another.
pub trait Rule: Send + 'static {
    /// Hyperparameters of one group (the reference crate's config struct).
    type Config: OptimizerConfig;
    /// The kernel's per-segment struct (its WGSL twin is declared by the kernel).
    type Segment: Pod + WgslStruct + Send;
    /// Registry and checkpoint name.
    const NAME: &'static str;
    /// The kernel: bindings segments, stats, param, grad, then `STATE`, then `INPUTS`.
    const KERNEL: &'static Kernel;
    /// Every state binding of the kernel, in binding order after `grad`, by PyTorch name.
    const STATE: &'static [&'static str];
    /// Per-step inputs the caller fills beside the gradients, bound after the states.
    const INPUTS: &'static [&'static str] = &[];

    /// The registry name of these configs (Adam and AdamW share a rule).
    fn name(_configs: &[&Self::Config]) -> &'static str {
        Self::NAME
    }

    /// State fields that exist for these groups (a subset of `STATE`; the rest are bound to
    /// a dummy buffer the kernel never touches).
    fn state_fields(_configs: &[&Self::Config]) -> Vec<&'static str> {
        Self::STATE.to_vec()
    }

    /// Override constants; they select the kernel variant, so they must agree across groups.
    fn constants(_config: &Self::Config) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// The segment struct for `[start, end)` at applied step `t` with learning rate `lr`.
    fn segment(config: &Self::Config, lr: f64, t: u64, start: u32, end: u32) -> Self::Segment;

    /// The value a state field starts at (torch's `initial_accumulator_value`; 0 elsewhere).
    fn initial_value(_config: &Self::Config, _field: &str) -> f32 {
        0.0
    }
}

/// A fused elementwise optimizer's program: its state and its update launch.
#[derive(Debug)]
pub struct Fused<R: Rule> {
    states: Vec<(&'static str, Arena)>,
    kernel: ElementwiseKernel<R::Segment>,
}

impl<R: Rule> Fused<R> {
    /// State arenas by field name.
    pub fn state_arenas(&self) -> &[(&'static str, Arena)] {
        &self.states
    }

    /// The state arena `field`, if this optimizer keeps it.
    pub fn state_arena(&self, field: &str) -> Option<&Arena> {
        self.states
            .iter()
            .find(|(n, _)| *n == field)
            .map(|(_, a)| a)
    }

    fn fill_initial(cx: &Build<'_, R::Config>, states: &[(&'static str, Arena)]) -> Result<()> {
        let layout = cx.layout();
        for (field, arena) in states {
            for g in cx.groups.iter() {
                let v = R::initial_value(&g.config, field);
                if v != 0.0 {
                    for slot in layout.slots.iter().filter(|s| s.group == g.index) {
                        arena.write(cx.engine, slot, &vec![v; slot.len])?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Rule> Program for Fused<R> {
    type Config = R::Config;
    const PART: &'static str = R::NAME;
    const INPUTS: &'static [&'static str] = R::INPUTS;

    fn name(configs: &[&R::Config]) -> &'static str {
        R::name(configs)
    }

    fn checkpoint_name(_: &[&R::Config]) -> &'static str {
        R::NAME
    }

    fn kernel_flags(config: &R::Config) -> Flags {
        R::constants(config)
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect()
    }

    /// The kernel flags and the state fields the group needs: the arenas are made at
    /// construction, so a config that needs one the optimizer lacks (SGD's momentum buffer
    /// when every group started without momentum) cannot be set later or loaded.
    fn plan_flags(config: &R::Config) -> Flags {
        let mut f = Self::kernel_flags(config);
        f.push(flag("state", R::state_fields(&[config])));
        f
    }

    fn kernels() -> Vec<&'static Kernel> {
        vec![R::KERNEL]
    }

    fn build(cx: &Build<'_, R::Config>) -> Result<Self> {
        let (engine, layout) = (cx.engine, cx.layout());
        let fields = R::state_fields(&cx.groups.configs());
        let states: Vec<(&'static str, Arena)> = fields
            .iter()
            .map(|f| (*f, Arena::new(engine, layout, f)))
            .collect();
        Self::fill_initial(cx, &states)?;
        let inputs: Vec<&Arena> = R::INPUTS
            .iter()
            .map(|n| cx.input(n))
            .collect::<Result<_>>()?;
        let dummy = engine.create_buffer("unused state", 16, wgpu::BufferUsages::STORAGE);
        let constants = cx
            .groups
            .configs()
            .first()
            .map_or_else(Vec::new, |c| R::constants(c));
        let ids = cx.groups.ids();
        let kernel = ElementwiseKernel::new(
            engine,
            R::KERNEL,
            &constants,
            Coverage::groups(layout, &ids),
            |chunk| {
                let mut b = vec![
                    cx.stats.clone(),
                    cx.params.param_arena().chunks[chunk].clone(),
                    cx.params.grad_arena().chunks[chunk].clone(),
                ];
                for f in R::STATE {
                    b.push(match states.iter().find(|(n, _)| n == f) {
                        Some((_, a)) => a.chunks[chunk].clone(),
                        None => dummy.clone(),
                    });
                }
                b.extend(inputs.iter().map(|a| a.chunks[chunk].clone()));
                b
            },
        );
        Ok(Fused { states, kernel })
    }

    fn record(&mut self, cx: &Step<'_, R::Config>, rec: &mut StepRecorder) {
        self.kernel.write(cx.engine, |g, start, end| {
            let cfg = cx.config(g);
            R::segment(cfg, cx.lr(cfg), cx.t, start, end)
        });
        self.kernel.record(rec);
    }

    fn state(&self) -> Vec<(&'static str, &Arena)> {
        self.states.iter().map(|(n, a)| (*n, a)).collect()
    }

    /// From the kernel's bindings: the parameter is read and written, the gradient and the
    /// inputs read, each state that exists read and (if bound read-write) written.
    fn bytes_per_element(config: &R::Config) -> Option<usize> {
        let fields = R::state_fields(&[config]);
        let states: usize = R::STATE
            .iter()
            .zip(&R::KERNEL.bindings[4..])
            .filter(|(f, _)| fields.contains(f))
            .map(|(_, a)| if *a == Access::ReadWrite { 2 } else { 1 })
            .sum();
        Some(4 * (2 + 1 + states + R::INPUTS.len()))
    }
}
