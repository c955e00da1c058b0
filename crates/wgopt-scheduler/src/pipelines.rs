//! Pipeline cache: one compute pipeline per (kernel, override constants), and one shader module
//! and bind-group layout per kernel, created on first use and reused for the engine's lifetime.
//! Modules are created without wgpu's runtime checks unless the engine or the kernel asks for
//! them ([`crate::Engine::checked_shaders`], [`crate::kernel::Kernel::checked`]).

use crate::kernel::{Access, Kernel, Precision};
use crate::recorder::Dispatch;
use crate::Engine;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

type ModuleKey = (&'static str, Option<(Precision, Precision)>);
type Key = (ModuleKey, Vec<(&'static str, u64)>);

/// A pipeline and the layout its bind groups use.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub label: &'static str,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    pipelines: Mutex<HashMap<Key, Pipeline>>,
    modules: Mutex<HashMap<ModuleKey, (wgpu::ShaderModule, wgpu::BindGroupLayout)>>,
}

fn layout_entries(bindings: &[Access]) -> Vec<wgpu::BindGroupLayoutEntry> {
    bindings
        .iter()
        .enumerate()
        .map(|(i, a)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match a {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::ReadOnly => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect()
}

impl Engine {
    /// The module and bind-group layout of `kernel` (cached).
    fn module(&self, kernel: &Kernel) -> (wgpu::ShaderModule, wgpu::BindGroupLayout) {
        let device = self.device();
        self.inner
            .pipelines
            .modules
            .lock()
            .expect("module cache lock")
            .entry(kernel.key())
            .or_insert_with(|| {
                let descriptor = wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.label()),
                    source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
                };
                let module = if self.checked_shaders() || kernel.checked {
                    device.create_shader_module(descriptor)
                } else {
                    // SAFETY: wgopt's own kernels, not user input. Each one's indexing is
                    // proven in bounds by its parity test on awkward sizes (the suite runs in
                    // CI both this way and with WGOPT_CHECKED_SHADERS=1), host code checks
                    // every binding's size against the shapes before it dispatches, and every
                    // loop is bounded by sizes from the kernel's uniforms (FRUGAL's randk
                    // cycle-walk follows one orbit of a bijection, so it ends).
                    unsafe {
                        device.create_shader_module_trusted(
                            descriptor,
                            wgpu::ShaderRuntimeChecks::unchecked(),
                        )
                    }
                };
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(kernel.label()),
                    entries: &layout_entries(kernel.bindings),
                });
                (module, layout)
            })
            .clone()
    }

    /// The pipeline of `kernel`'s entry point `main` with the given override constants
    /// (cached: a second call with the same arguments creates nothing).
    pub fn pipeline(&self, kernel: &Kernel, constants: &[(&'static str, f64)]) -> Pipeline {
        let key: Key = (
            kernel.key(),
            constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        );
        let cache = &self.inner.pipelines;
        if let Some(p) = cache
            .pipelines
            .lock()
            .expect("pipeline cache lock")
            .get(&key)
        {
            return p.clone();
        }
        let (module, layout) = self.module(kernel);
        let device = self.device();
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.label()),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.label()),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: self.checked_shaders()
                    || !kernel.writes_shared_first,
            },
            cache: None,
        });
        self.inner
            .counters
            .pipelines
            .fetch_add(1, Ordering::Relaxed);
        let p = Pipeline {
            pipeline,
            layout,
            label: kernel.label(),
        };
        cache
            .pipelines
            .lock()
            .expect("pipeline cache lock")
            .insert(key, p.clone());
        p
    }

    /// A ready dispatch of `kernel` over `buffers` (bindings 0, 1, … in order): the pipeline
    /// from the cache and a new bind group. For plans built once and recorded every step.
    pub fn dispatch(
        &self,
        kernel: &Kernel,
        constants: &[(&'static str, f64)],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        self.pipeline(kernel, constants)
            .bind(self, buffers, workgroups)
    }
}

impl Pipeline {
    /// A dispatch of this pipeline over `buffers` (a new bind group).
    pub fn bind(
        &self,
        engine: &Engine,
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Dispatch {
        Dispatch {
            label: self.label,
            pipeline: self.pipeline.clone(),
            bind_group: engine.bind_buffers(self.label, &self.layout, buffers),
            workgroups,
        }
    }
}
