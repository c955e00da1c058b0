//! One wgpu device for burn and wgopt: either burn creates it and wgopt wraps the same handles
//! ([`SharedDevice::init`]), or wgopt creates it and registers it with burn
//! ([`SharedDevice::from_engine`]). Either way there is one adapter, one device and one queue, so
//! burn's buffers can be copied into wgopt's arenas on the GPU, in queue order.

use crate::error::{Error, Result};
use burn::tensor::wgpu::WgpuSetup;
use burn::tensor::{Device, Tensor};
use burn_wgpu::CubeBackend;
use wgopt_scheduler::{Engine, EngineOptions};

/// burn's device and wgopt's engine over the same `wgpu::Device` and `wgpu::Queue`.
#[derive(Clone, Debug)]
pub struct SharedDevice {
    engine: Engine,
    device: Device,
    /// The runtime device burn's tensors on `device` report (what tensors are checked against).
    cube: burn_cubecl::CubeDevice,
}

impl SharedDevice {
    /// burn picks and creates the device (its default adapter; `CUBECL_*` settings apply) and
    /// wgopt shares it.
    pub fn init() -> Result<SharedDevice> {
        let (device, setup) = Device::wgpu_options()
            .init_with_setup()
            .map_err(|e| Error::Burn(format!("initialising burn's wgpu runtime: {e}")))?;
        let engine =
            Engine::from_wgpu_setup(setup.instance, setup.adapter, setup.device, setup.queue);
        Self::pair(engine, device)
    }

    /// wgopt creates the device (its adapter choice: `WGOPT_BACKEND`, `WGOPT_ADAPTER`) with every
    /// feature the adapter has, and registers it with burn.
    pub fn init_from_wgopt() -> Result<SharedDevice> {
        let engine = Engine::with_options(EngineOptions {
            all_adapter_features: true,
            ..EngineOptions::default()
        })?;
        Self::from_engine(&engine)
    }

    /// wgopt's engine registered with burn as an existing setup. burn compiles its kernels for
    /// the adapter's features, so the engine must have been created with
    /// `EngineOptions::all_adapter_features` (typed error otherwise, not a shader failure
    /// later); an engine built by `Engine::from_wgpu` has no adapter to hand over.
    pub fn from_engine(engine: &Engine) -> Result<SharedDevice> {
        let (instance, adapter, device, queue) = engine.wgpu_setup().ok_or_else(|| {
            Error::Burn("this engine wraps a bare device (Engine::from_wgpu); burn needs its instance and adapter too".into())
        })?;
        // Experimental features are opt-in and burn does not compile for them.
        let missing = (adapter.features()
            - wgpu::Features::MAPPABLE_PRIMARY_BUFFERS
            - wgpu::Features::all_experimental_mask())
            - device.features();
        if !missing.is_empty() {
            return Err(Error::Burn(format!(
                "the device lacks adapter features burn compiles for ({missing:?}); create the engine with EngineOptions {{ all_adapter_features: true, .. }} or use SharedDevice::init_from_wgopt"
            )));
        }
        let backend = adapter.get_info().backend;
        let setup = WgpuSetup {
            instance,
            adapter,
            device,
            queue,
            backend,
        };
        let device = Device::wgpu_options()
            .setup(setup)
            .init()
            .map_err(|e| Error::Burn(format!("registering wgopt's device with burn: {e}")))?;
        Self::pair(engine.clone(), device)
    }

    fn pair(engine: Engine, device: Device) -> Result<SharedDevice> {
        let probe = Tensor::<1>::zeros([1], &device)
            .try_into_primitive::<CubeBackend>()
            .map_err(|e| Error::Burn(format!("burn's device is not a wgpu device: {e:?}")))?;
        Ok(SharedDevice {
            engine,
            cube: probe.device.clone(),
            device,
        })
    }

    /// wgopt's engine on the shared device.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// burn's device (without autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// burn's device with autodiff, for modules that are trained.
    pub fn autodiff_device(&self) -> Device {
        self.device.clone().autodiff()
    }

    pub(crate) fn cube(&self) -> &burn_cubecl::CubeDevice {
        &self.cube
    }

    /// Submits burn's recorded work, so wgopt's next submit on the shared queue runs after it.
    pub(crate) fn flush(&self) -> Result<()> {
        self.device
            .flush()
            .map_err(|e| Error::Burn(format!("flushing burn's queue: {e:?}")))
    }
}
