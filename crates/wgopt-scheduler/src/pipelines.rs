//! Pipeline cache: one compute pipeline per (kernel, entry point, override constants), and one
//! bind-group layout per kernel, created on first use and reused for the engine's lifetime.

use crate::shaders::{Access, ShaderId};
use crate::Engine;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

type Key = (ShaderId, &'static str, Vec<(&'static str, u64)>);

/// A pipeline and the layout its bind groups use.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    kernels: Mutex<HashMap<Key, Kernel>>,
    modules: Mutex<HashMap<ShaderId, (wgpu::ShaderModule, wgpu::BindGroupLayout)>>,
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
    /// The pipeline for `shader`'s `entry` with the given override constants (cached).
    pub fn kernel(
        &self,
        shader: ShaderId,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Kernel {
        let key: Key = (
            shader,
            entry,
            constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        );
        let cache = &self.inner.pipelines;
        if let Some(k) = cache.kernels.lock().expect("pipeline cache lock").get(&key) {
            return k.clone();
        }
        let device = self.device();
        let (module, layout) = cache
            .modules
            .lock()
            .expect("module cache lock")
            .entry(shader)
            .or_insert_with(|| {
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader.path()),
                    source: wgpu::ShaderSource::Wgsl(shader.source().into()),
                });
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(shader.path()),
                    entries: &layout_entries(shader.bindings()),
                });
                (module, layout)
            })
            .clone();
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(shader.path()),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(shader.path()),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: true,
            },
            cache: None,
        });
        self.inner
            .counters
            .pipelines
            .fetch_add(1, Ordering::Relaxed);
        let k = Kernel { pipeline, layout };
        cache
            .kernels
            .lock()
            .expect("pipeline cache lock")
            .insert(key, k.clone());
        k
    }
}
