//! A burn tensor as a range of a `wgpu::Buffer`: the checks that make a GPU copy of it exact
//! (wgpu runtime, this device, f32, contiguous), and the lookup of its buffer and offset.

use crate::device::SharedDevice;
use crate::error::{Error, Result};
use burn::tensor::{DType, Tensor};
use burn_wgpu::{CubeBackend, CubeTensor, WgpuResource};
use cubecl_runtime::memory_management::ManagedMemoryId;
use cubecl_runtime::storage::ManagedResource;
use cubecl_wgpu::{AutoCompiler, WgpuServer};

/// Where a checked tensor's data lives. Holding it keeps burn from freeing or moving the
/// allocation until wgopt has submitted the copies that read or write it.
pub(crate) struct GpuRange {
    pub resource: ManagedResource<WgpuResource>,
}

impl GpuRange {
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.resource.resource().buffer
    }

    pub fn offset(&self) -> u64 {
        self.resource.resource().offset
    }
}

/// The allocation's identity (never reused by a later allocation), to tell whether a parameter is
/// still the tensor wgopt returned last step.
pub(crate) type MemoryKey = (ManagedMemoryId, Option<u64>);

pub(crate) fn memory_id(cube: &CubeTensor) -> MemoryKey {
    (cube.handle.memory.descriptor().id, cube.handle.offset_start)
}

/// `tensor`'s wgpu primitive, checked against `shared`; `name` and `what` label errors.
pub(crate) fn checked<const D: usize>(
    tensor: Tensor<D>,
    shared: &SharedDevice,
    name: &str,
    what: &'static str,
) -> Result<CubeTensor> {
    let tensor = if tensor.is_autodiff() {
        tensor.inner()
    } else {
        tensor
    };
    let cube = tensor
        .try_into_primitive::<CubeBackend>()
        .map_err(|e| Error::NotWgpu {
            name: name.into(),
            what,
            detail: format!("{e:?}"),
        })?;
    if &cube.device != shared.cube() {
        return Err(Error::WrongDevice {
            name: name.into(),
            what,
            expected: format!("{:?}", shared.cube()),
            got: format!("{:?}", cube.device),
        });
    }
    if cube.dtype != DType::F32 {
        return Err(Error::UnsupportedDType {
            name: name.into(),
            what,
            dtype: format!("{:?}", cube.dtype),
        });
    }
    // Row-major strides; the allocation may be larger than the data (burn pads some outputs):
    // the copies read or write exactly `numel` floats from the start.
    let numel: usize = cube.meta.shape().iter().product();
    if !cube.is_contiguous() || (cube.handle.size() as usize) < numel * 4 {
        return Err(Error::NotContiguous {
            name: name.into(),
            what,
            shape: cube.meta.shape().iter().copied().collect(),
            strides: cube.meta.strides().iter().map(|&s| s as isize).collect(),
        });
    }
    Ok(cube)
}

/// The buffer range of a primitive already checked.
pub(crate) fn range_of(cube: &CubeTensor, name: &str) -> Result<GpuRange> {
    let resource = cube
        .client
        .get_resource::<WgpuServer<AutoCompiler>>(cube.handle.clone())
        .map_err(|e| Error::Burn(format!("{name}: locating the tensor's buffer: {e:?}")))?;
    Ok(GpuRange { resource })
}

/// Bytes of the tensor's data (its allocation may be larger).
pub(crate) fn data_bytes(cube: &CubeTensor) -> u64 {
    cube.meta.shape().iter().product::<usize>() as u64 * 4
}
