//! The `device` and `dtype` load parameters every candle backbone takes.
use candle_core::{DType, Device};
use ugrn_sdk::{Error, Result};

/// `cpu` or `cuda:N`. `plugin` names the backbone and `cuda_feature` says whether it was built
/// with its `cuda` feature, so a CPU-only build refuses `cuda:N` saying how to get one.
pub fn parse_device(device: &str, plugin: &str, cuda_feature: bool) -> Result<Device> {
    if device == "cpu" {
        return Ok(Device::Cpu);
    }
    let Some(ordinal) = device.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) else {
        return Err(Error::param("device", format!("{device:?} is not `cpu` or `cuda:N`")));
    };
    if !cuda_feature {
        return Err(Error::param(
            "device",
            format!("{device:?} needs {plugin} built with the `cuda` feature (this build is CPU-only)"),
        ));
    }
    Device::new_cuda(ordinal).map_err(|e| Error::param("device", format!("{device:?}: {e}")))
}

/// `f32` or `f64` anywhere, `bf16` or `f16` on CUDA only.
pub fn parse_dtype(dtype: &str, device: &Device) -> Result<DType> {
    match dtype {
        "f32" => Ok(DType::F32),
        "f64" => Ok(DType::F64),
        "bf16" | "f16" if !device.is_cuda() => {
            Err(Error::param("dtype", format!("{dtype} runs on CUDA devices only; use f32 or f64 on the CPU")))
        }
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        other => Err(Error::param("dtype", format!("{other:?} is not one of f32, f64, bf16, f16"))),
    }
}
