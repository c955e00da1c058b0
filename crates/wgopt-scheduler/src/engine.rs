//! The engine: one wgpu device and queue, the adapter's facts, and the caches every launcher
//! shares. Cloning an `Engine` is cheap (it is an `Arc`).
//!
//! Adapter choice: hardware first (discrete, integrated, virtual), a CPU adapter such as Mesa's
//! lavapipe accepted with a warning. `WGOPT_BACKEND` (vulkan, metal, dx12, gl) and
//! `WGOPT_ADAPTER` (a substring of the adapter name, case-insensitive) override it.

use crate::pipelines::PipelineCache;
use crate::{Error, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The optional features wgopt asks for whenever the adapter has them.
pub const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);

/// The one-line fix printed when no adapter exists.
pub const SETUP_HINT: &str = "Install a Vulkan driver; on a machine without a GPU, Mesa's software \
driver works: `cargo xtask setup` (or, as root on Debian/Ubuntu: apt-get install -y mesa-vulkan-drivers libvulkan1)";

/// How to pick and configure the device.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Backend names ("vulkan", "metal", "dx12", "gl"); `None` reads `WGOPT_BACKEND` or takes all.
    pub backend: Option<String>,
    /// Substring of the adapter name; `None` reads `WGOPT_ADAPTER`.
    pub adapter: Option<String>,
    /// Cap on one arena chunk, below the adapter's storage-binding limit (tests use this to
    /// force layouts over several chunks).
    pub max_chunk_bytes: Option<u64>,
    /// Cap on workgroups of one elementwise dispatch (kernels then grid-stride); tests lower it
    /// to exercise the loop. Default: the adapter's per-dimension limit.
    pub max_workgroups: Option<u32>,
    /// Request every feature and limit the adapter has (not only those wgopt uses): what
    /// another library handed this device expects (burn's runtime compiles for the adapter's
    /// features, e.g. 64-bit integers).
    pub all_adapter_features: bool,
    /// Compile every kernel with wgpu's runtime checks (bounds clamping, loop bounding,
    /// zeroed workgroup memory); `None` reads `WGOPT_CHECKED_SHADERS` (`1` turns them on).
    /// Off by default: kernels are created unchecked (see [`crate::kernel::Kernel::checked`]).
    pub checked_shaders: Option<bool>,
    /// Run f16 matrix products on tensor cores where the adapter qualifies
    /// ([`crate::cooperative::support`]); `None` reads `WGOPT_COOPERATIVE_MATRIX` (`1` turns it
    /// on). Off by default while the path is unmeasured on hardware.
    pub cooperative_matrix: Option<bool>,
}

/// Whether `WGOPT_CHECKED_SHADERS` asks for wgpu's runtime checks in every shader.
pub fn checked_shaders_from_env() -> bool {
    env_flag("WGOPT_CHECKED_SHADERS")
}

/// A boolean switch in the environment: set, non-empty and not `0`.
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v != "0" && !v.is_empty())
}

/// Facts about the adapter behind an engine.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub is_software: bool,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, driver {})",
            self.name, self.backend, self.device_type, self.driver
        )
    }
}

/// Counts of GPU objects created, so benches and tests can prove the step path creates none.
#[derive(Debug, Default)]
pub struct ObjectCounters {
    pub buffers: AtomicU64,
    pub pipelines: AtomicU64,
    pub bind_groups: AtomicU64,
    /// `queue.submit` calls made through a [`StepRecorder`](crate::StepRecorder).
    pub submits: AtomicU64,
    /// Bytes written from the host ([`Engine::write_buffer`], [`Engine::upload`]).
    pub host_bytes_up: AtomicU64,
    /// Bytes read back to the host (readbacks of arenas, statistics and timings).
    pub host_bytes_down: AtomicU64,
    /// Bytes moved by GPU-to-GPU copies into or out of the arenas in steps.
    pub device_copy_bytes: AtomicU64,
}

/// A snapshot of [`ObjectCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectCounts {
    pub buffers: u64,
    pub pipelines: u64,
    pub bind_groups: u64,
    pub submits: u64,
    pub host_bytes_up: u64,
    pub host_bytes_down: u64,
    pub device_copy_bytes: u64,
}

impl ObjectCounts {
    /// Buffers, pipelines and bind groups (submits aside).
    pub fn objects(&self) -> u64 {
        self.buffers + self.pipelines + self.bind_groups
    }
}

/// The instance and adapter a device came from, when known (what sharing it onwards needs).
type Origin = Option<(wgpu::Instance, wgpu::Adapter)>;

pub(crate) struct Inner {
    /// The instance and adapter the device came from, when wgopt created it or was given
    /// them: what another wgpu library (burn) needs to share this device.
    pub origin: Origin,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub options: EngineOptions,
    pub pipelines: PipelineCache,
    pub counters: ObjectCounters,
    /// The first wgpu error no error scope caught (validation, out of memory, device lost);
    /// surfaced as [`Error::Device`] by the next submit instead of wgpu's default panic.
    pub uncaptured: Arc<Mutex<Option<String>>>,
    /// Kernel tuning (loaded from the adapter's cache file, else defaults).
    pub tuning: Mutex<crate::tuning::Tuning>,
    /// Every kernel keeps wgpu's runtime checks ([`EngineOptions::checked_shaders`]).
    pub checked_shaders: bool,
    /// f16 products run on tensor cores ([`crate::cooperative`]).
    pub cooperative: bool,
}

/// A GPU device with wgopt's caches.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("adapter", &self.inner.summary)
            .finish()
    }
}

/// Backends tried when none is named: Vulkan, Metal, DX12. OpenGL is opt-in
/// (`WGOPT_BACKEND=gl`): its compute support is narrower and software GL adapters would
/// otherwise shadow a missing Vulkan driver.
pub const DEFAULT_BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

fn backends_from(name: Option<&str>) -> Result<wgpu::Backends> {
    let Some(name) = name else {
        return Ok(DEFAULT_BACKENDS);
    };
    let mut b = wgpu::Backends::empty();
    for part in name.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        b |= match part.as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "gl" | "gles" | "opengl" => wgpu::Backends::GL,
            _ => {
                return Err(Error::UnknownName {
                    kind: "backend",
                    name: part,
                    known: "vulkan, metal, dx12, gl".into(),
                })
            }
        };
    }
    Ok(b)
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn summary_of(info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        is_software: info.device_type == wgpu::DeviceType::Cpu,
    }
}

/// The machine's memory from `/proc/meminfo` (Linux), if readable.
fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// On a headless Linux machine without `XDG_RUNTIME_DIR`, the Vulkan driver's Wayland probe
/// prints "error: XDG_RUNTIME_DIR is invalid or not set" for every instance. Point it at a
/// private directory (mode 0700) once, before the first instance, so a run prints only its
/// own lines. A valid value that is already set is left alone.
fn quiet_headless_loader() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::DirBuilderExt;
            let valid = std::env::var_os("XDG_RUNTIME_DIR")
                .is_some_and(|d| std::path::Path::new(&d).is_dir());
            if valid {
                return;
            }
            let dir = std::env::temp_dir().join(format!("wgopt-runtime-{}", std::process::id()));
            let made = std::fs::DirBuilder::new().mode(0o700).create(&dir);
            if made.is_ok() || dir.is_dir() {
                std::env::set_var("XDG_RUNTIME_DIR", &dir);
            }
        }
    });
}

/// Lists the adapters wgpu can see on `backends` (for `wgopt info` and `cargo xtask setup`).
pub fn list_adapters(
    backends: wgpu::Backends,
) -> Vec<(AdapterSummary, wgpu::Features, wgpu::Limits)> {
    quiet_headless_loader();
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.enumerate_adapters(backends))
        .into_iter()
        .map(|a| (summary_of(&a.get_info()), a.features(), a.limits()))
        .collect()
}

impl Engine {
    /// The best adapter, honouring `WGOPT_BACKEND` and `WGOPT_ADAPTER`.
    pub fn new() -> Result<Engine> {
        Self::with_options(EngineOptions::default())
    }

    /// An engine with explicit options (environment variables fill what is `None`).
    pub fn with_options(mut options: EngineOptions) -> Result<Engine> {
        if options.backend.is_none() {
            options.backend = std::env::var("WGOPT_BACKEND").ok();
        }
        if options.adapter.is_none() {
            options.adapter = std::env::var("WGOPT_ADAPTER").ok();
        }
        let backends = backends_from(options.backend.as_deref())?;
        quiet_headless_loader();
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if let Some(filter) = &options.adapter {
            let f = filter.to_ascii_lowercase();
            adapters.retain(|a| a.get_info().name.to_ascii_lowercase().contains(&f));
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let Some(adapter) = adapters.into_iter().next() else {
            let mut filter = String::new();
            if let Some(b) = &options.backend {
                filter += &format!(" for backend {b:?}");
            }
            if let Some(a) = &options.adapter {
                filter += &format!(" matching {a:?}");
            }
            return Err(Error::NoAdapter {
                filter,
                hint: SETUP_HINT,
            });
        };
        let summary = summary_of(&adapter.get_info());
        if summary.is_software {
            log::warn!(
                "wgopt is running on a software adapter ({summary}); results are correct, timings are not representative"
            );
        }
        let supported = adapter.limits();
        // Ask for what the adapter really has where wgopt benefits; defaults elsewhere.
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: supported.max_storage_buffer_binding_size,
            max_buffer_size: supported.max_buffer_size,
            max_storage_buffers_per_shader_stage: supported.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: supported.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: supported.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: supported.max_compute_workgroup_size_x,
            max_compute_workgroups_per_dimension: supported.max_compute_workgroups_per_dimension,
            ..wgpu::Limits::default()
        };
        let (mut features, limits) = if options.all_adapter_features {
            // Experimental features need an explicit opt-in at device creation; the one wgopt
            // uses is added below when asked for.
            let all = (adapter.features() - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS)
                - wgpu::Features::all_experimental_mask();
            (all, supported.clone())
        } else {
            (adapter.features() & WANTED_FEATURES, limits)
        };
        let cooperative = crate::cooperative::requested_and_supported(&adapter, &options);
        if cooperative {
            features |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        let experimental_features = if cooperative {
            // SAFETY: wgpu asks callers of an experimental feature to accept that it may be
            // unsound or change; wgopt uses it for one kernel (gemm_coop.wgsl), only when
            // asked, and keeps the SIMT kernels for every other adapter and engine.
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
                label: Some("wgopt"),
                required_features: features,
                required_limits: limits,
                experimental_features,
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            }))?;
        let origin = Some((instance, adapter));
        Ok(Self::assemble((device, queue, origin), summary, options))
    }

    /// Wraps a device another wgpu library created (burn's `WgpuSetup`), keeping its instance
    /// and adapter so the adapter is named in reports and the device can be shared onwards.
    pub fn from_wgpu_setup(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Engine {
        let summary = summary_of(&adapter.get_info());
        let origin = Some((instance, adapter));
        Self::assemble((device, queue, origin), summary, EngineOptions::default())
    }

    /// The instance, adapter, device and queue of this engine, for handing the same device to
    /// another wgpu library; `None` for an engine made by [`Engine::from_wgpu`].
    pub fn wgpu_setup(&self) -> Option<(wgpu::Instance, wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
        let (instance, adapter) = self.inner.origin.clone()?;
        Some((
            instance,
            adapter,
            self.inner.device.clone(),
            self.inner.queue.clone(),
        ))
    }

    /// Wraps a device the application already owns (burn, candle or its own renderer), so
    /// parameters and gradients can stay in the application's buffers' device.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Engine {
        let summary = AdapterSummary {
            name: "application device".into(),
            backend: "external".into(),
            device_type: "unknown".into(),
            driver: String::new(),
            is_software: false,
        };
        Self::assemble((device, queue, None), summary, EngineOptions::default())
    }

    /// The device and queue, with the instance and adapter they came from when known.
    fn assemble(
        (device, queue, origin): (wgpu::Device, wgpu::Queue, Origin),
        summary: AdapterSummary,
        options: EngineOptions,
    ) -> Engine {
        let uncaptured: Arc<Mutex<Option<String>>> = Arc::default();
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            log::error!("wgpu: {e}");
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
        }));
        let limits = device.limits();
        let tuning = crate::tuning::load(&summary)
            .filter(|t| t.fits(&limits))
            .unwrap_or_default();
        let checked_shaders = options
            .checked_shaders
            .unwrap_or_else(checked_shaders_from_env);
        let cooperative =
            crate::cooperative::in_use(&device, origin.as_ref().map(|o| &o.1), &options);
        Engine {
            inner: Arc::new(Inner {
                origin,
                device,
                queue,
                summary,
                options,
                pipelines: PipelineCache::default(),
                counters: ObjectCounters::default(),
                uncaptured,
                tuning: Mutex::new(tuning),
                checked_shaders,
                cooperative,
            }),
        }
    }

    /// Whether every kernel is compiled with wgpu's runtime checks (debugging: set
    /// `WGOPT_CHECKED_SHADERS=1` or [`EngineOptions::checked_shaders`]).
    pub fn checked_shaders(&self) -> bool {
        self.inner.checked_shaders
    }

    /// Takes the first uncaught wgpu error since the last call, as [`Error::Device`].
    pub fn check_device(&self) -> Result<()> {
        match self.inner.uncaptured.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(Error::Device(e)),
            None => Ok(()),
        }
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.inner.summary
    }

    pub fn features(&self) -> wgpu::Features {
        self.inner.device.features()
    }

    pub fn limits(&self) -> wgpu::Limits {
        self.inner.device.limits()
    }

    /// Fails with [`Error::MissingFeature`] unless the device has every feature in `needed`.
    pub fn require_features(&self, needed: wgpu::Features) -> Result<()> {
        let missing = needed - self.features();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::MissingFeature {
                adapter: self.inner.summary.name.clone(),
                missing: format!("{missing:?}"),
            })
        }
    }

    /// Most bytes one arena (parameters, gradients, or one state field) may take:
    /// `WGOPT_MAX_ARENA_BYTES` when set; on a software adapter, whose buffers are host memory,
    /// a quarter of the machine's memory (so a hostile shape is refused, not OOM-killed);
    /// on hardware 1 TiB, leaving the device's own allocation error (checked after creation)
    /// to speak for its memory.
    pub fn max_arena_bytes(&self) -> u64 {
        if let Some(v) = std::env::var("WGOPT_MAX_ARENA_BYTES")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            return v;
        }
        if self.inner.summary.is_software {
            host_memory_bytes().map_or(4 << 30, |m| m / 4)
        } else {
            1 << 40
        }
    }

    /// Largest arena chunk in bytes: one storage binding (and one buffer), at most the
    /// `max_chunk_bytes` option.
    pub fn chunk_bytes(&self) -> u64 {
        let l = self.limits();
        let hw = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
        let cap = self.inner.options.max_chunk_bytes.map_or(hw, |c| c.min(hw));
        cap / 256 * 256
    }

    /// Most workgroups one elementwise dispatch launches.
    pub fn max_workgroups(&self) -> u32 {
        let hw = self.limits().max_compute_workgroups_per_dimension;
        self.inner
            .options
            .max_workgroups
            .map_or(hw, |c| c.clamp(1, hw))
    }

    /// Buffers, pipelines and bind groups created so far through this engine.
    pub fn object_counts(&self) -> ObjectCounts {
        let c = &self.inner.counters;
        ObjectCounts {
            buffers: c.buffers.load(Ordering::Relaxed),
            pipelines: c.pipelines.load(Ordering::Relaxed),
            bind_groups: c.bind_groups.load(Ordering::Relaxed),
            submits: c.submits.load(Ordering::Relaxed),
            host_bytes_up: c.host_bytes_up.load(Ordering::Relaxed),
            host_bytes_down: c.host_bytes_down.load(Ordering::Relaxed),
            device_copy_bytes: c.device_copy_bytes.load(Ordering::Relaxed),
        }
    }

    /// Creates a storage buffer (counted).
    pub fn create_buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.inner.counters.buffers.fetch_add(1, Ordering::Relaxed);
        self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(16),
            usage,
            mapped_at_creation: false,
        })
    }

    /// Creates a buffer of `usage` (plus COPY_DST) holding `data` (counted; the write is queued).
    pub fn upload(&self, label: &str, data: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let b = self.create_buffer(
            label,
            data.len() as u64,
            usage | wgpu::BufferUsages::COPY_DST,
        );
        self.write_buffer(&b, 0, data);
        b
    }

    /// Queues a host write into `buffer` at `offset` (counted in `host_bytes_up`).
    pub fn write_buffer(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        self.inner
            .counters
            .host_bytes_up
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.inner.queue.write_buffer(buffer, offset, data);
    }

    pub(crate) fn count_readback(&self, bytes: u64) {
        self.inner
            .counters
            .host_bytes_down
            .fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn count_device_copy(&self, bytes: u64) {
        self.inner
            .counters
            .device_copy_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    /// Creates a bind group of whole buffers at bindings 0.. (counted).
    pub fn bind_buffers(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        self.inner
            .counters
            .bind_groups
            .fetch_add(1, Ordering::Relaxed);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.inner
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout,
                entries: &entries,
            })
    }

    /// Counts one submit (the step recorder's).
    pub(crate) fn count_submit(&self) {
        self.inner.counters.submits.fetch_add(1, Ordering::Relaxed);
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> Result<()> {
        self.inner
            .device
            .poll(wgpu::PollType::wait_indefinitely())?;
        Ok(())
    }
}
