//! A checkpoint folder's weight file (safetensors or a PyTorch pickle), its SHA-256, and named
//! tensors read from it with errors that name the tensor.
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use ugrn_sdk::{Error, Result};

/// The safetensors weight file's name in every backbone's checkpoint folder.
pub const SAFETENSORS_FILE: &str = "model.safetensors";

/// Which of a checkpoint folder's two weight files to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// [`SAFETENSORS_FILE`] when present, else the PyTorch file.
    Auto,
    Safetensors,
    /// The PyTorch pickle the backbone names (`best_model.pt`, `pytorch_model.bin`).
    Pytorch,
}

/// The weight file of checkpoint folder `dir` in `format`, checked to exist; `pytorch_file` is
/// the backbone's PyTorch file name and `file` the `file` parameter as given, for messages.
pub fn find_weights(dir: &Path, pytorch_file: &str, format: WeightFormat, file: impl fmt::Display) -> Result<PathBuf> {
    if !dir.is_dir() {
        return Err(Error::file(dir.display(), "checkpoint folder not found"));
    }
    let safetensors = dir.join(SAFETENSORS_FILE);
    let pytorch = dir.join(pytorch_file);
    let weights = match format {
        WeightFormat::Auto if safetensors.is_file() => safetensors,
        WeightFormat::Auto if pytorch.is_file() => pytorch,
        WeightFormat::Auto => {
            return Err(Error::file(
                dir.display(),
                format!("no weights: neither {SAFETENSORS_FILE} nor {pytorch_file} is present"),
            ));
        }
        WeightFormat::Safetensors => safetensors,
        WeightFormat::Pytorch => pytorch,
    };
    if !weights.is_file() {
        return Err(Error::file(weights.display(), format!("weight file not found (file = {file})")));
    }
    Ok(weights)
}

/// A variable builder over `weights` (safetensors by extension, else a PyTorch pickle),
/// converting to `dtype` on `device`.
pub fn var_builder(weights: &Path, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
    let is_safetensors = weights.extension().is_some_and(|e| e == "safetensors");
    let vb = if is_safetensors {
        // SAFETY: the file is memory-mapped read-only; like every mmap reader we rely on no
        // one truncating or rewriting the checkpoint while it loads (tensors are copied out).
        unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, device) }
    } else {
        VarBuilder::from_pth(weights, dtype, device)
    };
    vb.map_err(|e| Error::file(weights.display(), e))
}

/// SHA-256 over `files` in order: each file's name, a NUL, its length (u64 little-endian) and
/// its bytes; the framing keeps the files from running together into the same byte stream.
pub fn sha256_files<'a>(files: impl IntoIterator<Item = &'a Path>) -> Result<String> {
    let mut hasher = Sha256::new();
    for path in files {
        let mut file = std::fs::File::open(path).map_err(|e| Error::file(path.display(), e))?;
        let len = file.metadata().map_err(|e| Error::file(path.display(), e))?.len();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(len.to_le_bytes());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| Error::file(path.display(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads named tensors and reports a missing tensor or a wrong shape by its full name.
#[derive(Clone)]
pub struct Weights<'a> {
    vb: VarBuilder<'a>,
    /// Where the tensors come from, for messages (the weight file).
    source: String,
}

impl<'a> Weights<'a> {
    pub fn new(vb: VarBuilder<'a>, source: impl fmt::Display) -> Self {
        Weights { vb, source: source.to_string() }
    }

    pub fn pp(&self, prefix: impl ToString) -> Self {
        Weights { vb: self.vb.pp(prefix), source: self.source.clone() }
    }

    pub fn full_name(&self, name: &str) -> String {
        let prefix = self.vb.prefix();
        if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.vb.contains_tensor(name)
    }

    pub fn get(&self, shape: &[usize], name: &str) -> Result<Tensor> {
        let full = self.full_name(name);
        if !self.vb.contains_tensor(name) {
            return Err(Error::file(&self.source, format!("missing tensor `{full}`")));
        }
        let tensor =
            self.vb.get_unchecked(name).map_err(|e| Error::file(&self.source, format!("tensor `{full}`: {e}")))?;
        if tensor.dims() != shape {
            return Err(Error::file(
                &self.source,
                format!("tensor `{full}` has shape {:?}, expected {shape:?}", tensor.dims()),
            ));
        }
        Ok(tensor)
    }

    pub fn device(&self) -> &Device {
        self.vb.device()
    }

    pub fn dtype(&self) -> DType {
        self.vb.dtype()
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}
