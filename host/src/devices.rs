//! GPU discovery through the CUDA driver API (cudarc, loaded at run time). Finding no driver
//! library is an answer ("no GPU"), never a panic: the library is probed with libloading before
//! cudarc touches it. A run's device (`auto` resolved, `cuda:N` checked) and its oracle's batch
//! budget are chosen here from what the driver reports.
use anyhow::{Context, bail};
use cudarc::driver::{CudaContext, result};

/// One GPU as the driver reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub ordinal: usize,
    pub name: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// Why no GPU can be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoGpu {
    #[error("no CUDA driver library found ({0})")]
    NoDriver(String),
    #[error("the CUDA driver failed: {0}")]
    Driver(String),
    #[error("the CUDA driver reports no GPU")]
    NoDevice,
}

const DRIVER_NAMES: [&str; 2] = ["libcuda.so.1", "libcuda.so"];

fn driver_present() -> Result<(), NoGpu> {
    for name in DRIVER_NAMES {
        // SAFETY: opening the system's CUDA driver runs its initialisers only; it is closed again.
        if unsafe { libloading::Library::new(name) }.is_ok() {
            return Ok(());
        }
    }
    Err(NoGpu::NoDriver(format!("tried {}", DRIVER_NAMES.join(", "))))
}

/// Every GPU the driver sees, with total and free memory.
pub fn list() -> Result<Vec<Gpu>, NoGpu> {
    driver_present()?;
    let driver = |e: cudarc::driver::DriverError| NoGpu::Driver(e.to_string());
    result::init().map_err(driver)?;
    let count = result::device::get_count().map_err(driver)?;
    if count <= 0 {
        return Err(NoGpu::NoDevice);
    }
    let mut gpus = Vec::new();
    for ordinal in 0..count as usize {
        let context = CudaContext::new(ordinal).map_err(driver)?;
        context.bind_to_thread().map_err(driver)?;
        let (free, total) = result::mem_get_info().map_err(driver)?;
        gpus.push(Gpu {
            ordinal,
            name: context.name().map_err(driver)?,
            total_bytes: total as u64,
            free_bytes: free as u64,
        });
    }
    Ok(gpus)
}

/// `auto` picks `cuda:0` when this build has CUDA support and a GPU answers, else CPU, and says
/// which. `cuda:N` is checked against the GPUs present.
pub fn resolve_device(requested: &str) -> anyhow::Result<String> {
    let gpus = list();
    match requested {
        "auto" => match gpus {
            Ok(g) if cfg!(feature = "cuda") && !g.is_empty() => {
                tracing::info!("device auto: using cuda:0 ({})", g[0].name);
                Ok("cuda:0".into())
            }
            Ok(_) => {
                tracing::info!("device auto: this build has no CUDA support, using cpu");
                Ok("cpu".into())
            }
            Err(why) => {
                tracing::info!("device auto: {why}; using cpu");
                Ok("cpu".into())
            }
        },
        cuda if cuda.starts_with("cuda:") => {
            if !cfg!(feature = "cuda") {
                bail!("device {cuda}: this build has no CUDA support; rebuild with `scripts/build-cuda.sh`");
            }
            let ordinal: usize = cuda[5..].parse().with_context(|| format!("device {cuda:?}"))?;
            match gpus {
                Ok(g) if ordinal < g.len() => Ok(cuda.to_string()),
                Ok(g) => bail!("device {cuda}: only {} GPU(s) present", g.len()),
                Err(why) => bail!("device {cuda}: {why}"),
            }
        }
        other => Ok(other.to_string()),
    }
}

/// The oracle's batch budget: on a GPU, 80% of its free memory once the model is loaded (so the
/// batch size follows the device and the model's size); elsewhere the workflow's setting.
pub fn memory_budget(device: &str, configured_mb: u64) -> u64 {
    let configured = configured_mb * 1024 * 1024;
    let Some(ordinal) = device.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) else {
        return configured;
    };
    match list() {
        Ok(gpus) if ordinal < gpus.len() => {
            let usable = gpus[ordinal].free_bytes / 10 * 8;
            tracing::info!("{device}: {} MiB free; batch budget {} MiB", gpus[ordinal].free_bytes >> 20, usable >> 20);
            usable
        }
        _ => configured,
    }
}

/// The text `ugrn devices` prints.
pub fn describe() -> String {
    let gpu_build = cfg!(feature = "cuda");
    let build = if gpu_build {
        "this build has CUDA support"
    } else {
        "this build is CPU-only (rebuild with scripts/build-cuda.sh for GPUs)"
    };
    match list() {
        Ok(gpus) => {
            let mut s = format!("{build}\n");
            for g in gpus {
                s.push_str(&format!(
                    "cuda:{}  {}  {:.1} GiB total, {:.1} GiB free\n",
                    g.ordinal,
                    g.name,
                    g.total_bytes as f64 / (1u64 << 30) as f64,
                    g.free_bytes as f64 / (1u64 << 30) as f64
                ));
            }
            s
        }
        Err(why) => format!("{build}\nno GPU: {why}; cpu is available\n"),
    }
}
