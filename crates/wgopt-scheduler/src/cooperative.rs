//! Tensor cores through wgpu's cooperative matrices (`Features::EXPERIMENTAL_COOPERATIVE_MATRIX`,
//! WGSL `enable wgpu_cooperative_matrix;`): which adapters qualify for wgopt's f16 product
//! kernel (`shaders/linalg/gemm_coop.wgsl`), and whether an engine asked for it.
//!
//! Opt-in (`EngineOptions::cooperative_matrix` or `WGOPT_COOPERATIVE_MATRIX=1`): the feature
//! is experimental in wgpu 30, and wgopt's kernel has been validated by naga and its fallback
//! tested on lavapipe, but it has not yet run on hardware that has the feature. Its parity
//! test (`wgopt-solvers/tests/cooperative.rs`) runs it wherever an engine enables it.

/// Whether `WGOPT_COOPERATIVE_MATRIX` asks for the tensor-core path (`1` turns it on).
pub fn requested_from_env() -> bool {
    crate::engine::env_flag("WGOPT_COOPERATIVE_MATRIX")
}

/// Whether the engine asks for tensor cores: its options, else the environment.
fn asked(options: &crate::engine::EngineOptions) -> bool {
    options
        .cooperative_matrix
        .unwrap_or_else(requested_from_env)
}

/// Why `adapter` cannot run `gemm_coop.wgsl`, or `Ok` when it can: it needs the experimental
/// feature and f16 in shaders, 16×16×16 products of f16 inputs into f32 accumulators, and
/// subgroups exactly 32 wide (one workgroup of the kernel is one subgroup).
pub fn support(adapter: &wgpu::Adapter) -> Result<(), String> {
    let features = adapter.features();
    let needed = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16;
    if !features.contains(needed) {
        return Err(format!("the adapter lacks {:?}", needed - features));
    }
    let info = adapter.get_info();
    if (info.subgroup_min_size, info.subgroup_max_size) != (32, 32) {
        return Err(format!(
            "subgroups are {}..{} wide, the kernel needs exactly 32",
            info.subgroup_min_size, info.subgroup_max_size
        ));
    }
    let has_shape = adapter.cooperative_matrix_properties().iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16)
            && p.ab_type == wgpu::CooperativeScalarType::F16
            && p.cr_type == wgpu::CooperativeScalarType::F32
    });
    if !has_shape {
        return Err("no 16×16×16 f16 × f16 → f32 cooperative matrix product".into());
    }
    Ok(())
}

/// Whether to request cooperative matrices: asked for (options, else the environment) and the
/// adapter qualifies; a refusal says why in the log.
pub(crate) fn requested_and_supported(
    adapter: &wgpu::Adapter,
    options: &crate::engine::EngineOptions,
) -> bool {
    if !asked(options) {
        return false;
    }
    match support(adapter) {
        Ok(()) => true,
        Err(why) => {
            log::info!("cooperative matrices asked for but not used: {why}");
            false
        }
    }
}

/// Whether an engine runs f16 products on tensor cores: it asked (options, else the
/// environment), its device has the feature, and the adapter qualifies. A device another library
/// created with the feature (burn's) does not turn the path on by itself, and one without an
/// adapter to check never does.
pub(crate) fn in_use(
    device: &wgpu::Device,
    adapter: Option<&wgpu::Adapter>,
    options: &crate::engine::EngineOptions,
) -> bool {
    asked(options)
        && device
            .features()
            .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
        && adapter.is_some_and(|a| support(a).is_ok())
}

impl crate::Engine {
    /// Whether f16 matrix products run on the tensor-core kernel (asked for, and the device and
    /// adapter qualify: `EngineOptions::cooperative_matrix`); otherwise
    /// they run on the SIMT cores.
    pub fn cooperative_f16(&self) -> bool {
        self.inner.cooperative
    }
}
