//! A checkpoint folder's weight file (safetensors or a PyTorch pickle), its SHA-256, and named
//! tensors read from it with errors that name the tensor; a file holding tensors the model does
//! not read, or weights stored as integers, is refused.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::pickle::PthTensors;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_nn::var_builder::SimpleBackend;
use sha2::{Digest, Sha256};
use ugrn_sdk::{Error, Result};

use crate::pth;

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

/// The dtypes a weight may be stored in: an integer tensor is a buffer or a botched conversion,
/// which casting to the model's dtype would load without a word.
const FLOAT_DTYPES: [&str; 4] = ["F16", "BF16", "F32", "F64"];
/// Unused tensors named in full in the error; the rest are counted.
const UNUSED_NAMED: usize = 5;

/// A weight file's tensors, the dtype each is stored in, and which of them the model has read.
struct FileTensors {
    /// Tensor name → dtype as stored (`F32`, `I64`, `BOOL`, …).
    dtypes: BTreeMap<String, String>,
    read: Mutex<BTreeSet<String>>,
}

/// How a weight file numbers its layers (`{prefix}.{index}.…`) and the config setting that
/// counts them, so that tensors of layers beyond the count are reported as a wrong count.
#[derive(Debug, Clone, Copy)]
pub struct LayerCount<'a> {
    /// `transformer_encoder.layers`, `bert.encoder.layer`.
    pub prefix: &'a str,
    /// The setting as messages name it: "option `nlayers`".
    pub setting: &'a str,
    pub count: usize,
}

/// Reads named tensors and reports a missing tensor, a wrong shape or a non-float dtype by its
/// full name. Over a weight file it also records what was read, so that
/// [`Weights::ensure_all_read`] can refuse a file holding tensors the model never used.
#[derive(Clone)]
pub struct Weights<'a> {
    vb: VarBuilder<'a>,
    /// Where the tensors come from, for messages (the weight file).
    source: String,
    /// `None` for tensors made in code (training variables, tests): nothing to check them against.
    file: Option<Arc<FileTensors>>,
}

impl<'a> Weights<'a> {
    /// Tensors made in code, named `source` in messages.
    pub fn new(vb: VarBuilder<'a>, source: impl fmt::Display) -> Self {
        Weights { vb, source: source.to_string(), file: None }
    }

    pub fn pp(&self, prefix: impl ToString) -> Self {
        Weights { vb: self.vb.pp(prefix), source: self.source.clone(), file: self.file.clone() }
    }

    pub fn full_name(&self, name: &str) -> String {
        let prefix = self.vb.prefix();
        if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
    }

    /// Whether the tensor is there, whatever its dtype.
    pub fn contains(&self, name: &str) -> bool {
        match &self.file {
            Some(file) => file.dtypes.contains_key(&self.full_name(name)),
            None => self.vb.contains_tensor(name),
        }
    }

    pub fn get(&self, shape: &[usize], name: &str) -> Result<Tensor> {
        let full = self.full_name(name);
        if !self.contains(name) {
            return Err(Error::file(&self.source, format!("missing tensor `{full}`")));
        }
        if let Some(stored) = self.file.as_ref().and_then(|file| file.dtypes.get(&full))
            && !FLOAT_DTYPES.contains(&stored.as_str())
        {
            return Err(Error::file(
                &self.source,
                format!("tensor `{full}` has dtype {stored}; weights must be one of {}", FLOAT_DTYPES.join(", ")),
            ));
        }
        let tensor =
            self.vb.get_unchecked(name).map_err(|e| Error::file(&self.source, format!("tensor `{full}`: {e}")))?;
        if tensor.dims() != shape {
            return Err(Error::file(
                &self.source,
                format!("tensor `{full}` has shape {:?}, expected {shape:?}", tensor.dims()),
            ));
        }
        if let Some(file) = &self.file {
            file.read.lock().unwrap_or_else(PoisonError::into_inner).insert(full);
        }
        Ok(tensor)
    }

    /// Fails unless every tensor of the weight file was read by [`Weights::get`] or starts with
    /// one of `known_unused`, the prefixes a backbone documents as not needed for inference. A
    /// tensor nothing reads means the config and the file disagree (or the file holds a part
    /// this model does not implement), and loading anyway computes something else. The error
    /// names the first unused tensors, sorted, counts the rest, and where some belong to layers
    /// beyond `layers.count` says the setting may be wrong.
    pub fn ensure_all_read(&self, known_unused: &[&str], layers: LayerCount) -> Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        let read = file.read.lock().unwrap_or_else(PoisonError::into_inner);
        let unused: Vec<&str> = file
            .dtypes
            .keys()
            .filter(|name| !read.contains(*name) && !known_unused.iter().any(|prefix| name.starts_with(prefix)))
            .map(String::as_str)
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        let mut message = match unused.len() {
            1 => "1 tensor is not used by the model: ".to_string(),
            n => format!("{n} tensors are not used by the model: "),
        };
        let named: Vec<String> = unused.iter().take(UNUSED_NAMED).map(|name| format!("`{name}`")).collect();
        message.push_str(&named.join(", "));
        if unused.len() > UNUSED_NAMED {
            message.push_str(&format!(" and {} more", unused.len() - UNUSED_NAMED));
        }
        let layer_prefix = format!("{}.", layers.prefix);
        let extra_layers: BTreeSet<usize> = unused
            .iter()
            .filter_map(|name| name.strip_prefix(&layer_prefix)?.split('.').next()?.parse().ok())
            .filter(|&layer| layer >= layers.count)
            .collect();
        if !extra_layers.is_empty() {
            let list: Vec<String> = extra_layers.iter().map(usize::to_string).collect();
            let noun = if extra_layers.len() == 1 { "layer" } else { "layers" };
            message.push_str(&format!(
                "; {} = {} may be wrong: the file also has {noun} {}",
                layers.setting,
                layers.count,
                list.join(", ")
            ));
        }
        Err(Error::file(&self.source, message))
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

impl Weights<'static> {
    /// The tensors of `weights` (safetensors by extension, else a PyTorch zip checkpoint),
    /// converted to `dtype` on `device`, named by the file in messages.
    pub fn from_file(weights: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let fail = |e: candle_core::Error| Error::file(weights.display(), e);
        let is_safetensors = weights.extension().is_some_and(|e| e == "safetensors");
        let (backend, dtypes): (Box<dyn SimpleBackend>, _) = if is_safetensors {
            // SAFETY: the file is memory-mapped read-only; like every mmap reader we rely on no
            // one truncating or rewriting the checkpoint while it loads (tensors are copied out).
            let tensors = unsafe { MmapedSafetensors::new(weights) }.map_err(fail)?;
            let dtypes =
                tensors.tensors().into_iter().map(|(name, view)| (name, format!("{:?}", view.dtype()))).collect();
            (Box::new(tensors), dtypes)
        } else {
            (Box::new(PthTensors::new(weights, None).map_err(fail)?), pth::stored_dtypes(weights)?)
        };
        Ok(Weights {
            vb: VarBuilder::from_backend(backend, dtype, device.clone()),
            source: weights.display().to_string(),
            file: Some(Arc::new(FileTensors { dtypes, read: Mutex::default() })),
        })
    }
}
