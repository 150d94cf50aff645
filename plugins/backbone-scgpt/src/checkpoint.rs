//! A checkpoint folder as scGPT releases it: `best_model.pt` and/or `model.safetensors`, plus
//! `args.json` and `vocab.json`.
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use ugrn_sdk::{Error, Result};

use crate::config::Config;
use crate::vocab::Vocab;

pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const PT_FILE: &str = "best_model.pt";
pub const ARGS_FILE: &str = "args.json";
pub const VOCAB_FILE: &str = "vocab.json";

/// Which weight file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFile {
    /// `model.safetensors` (memory-mapped) when present, else `best_model.pt`.
    #[default]
    Auto,
    Safetensors,
    Pt,
}

impl FromStr for WeightFile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(WeightFile::Auto),
            "safetensors" => Ok(WeightFile::Safetensors),
            "pt" => Ok(WeightFile::Pt),
            other => Err(Error::param("file", format!("{other:?} is not one of auto, safetensors, pt"))),
        }
    }
}

impl fmt::Display for WeightFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightFile::Auto => "auto",
            WeightFile::Safetensors => "safetensors",
            WeightFile::Pt => "pt",
        })
    }
}

/// The checkpoint's files and settings; tensors are read by [`Checkpoint::var_builder`].
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    /// The weight file chosen.
    pub weights: PathBuf,
    pub config: Config,
    pub vocab: Vocab,
}

impl Checkpoint {
    pub fn open(dir: &Path, file: WeightFile) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::file(dir.display(), "checkpoint folder not found"));
        }
        let safetensors = dir.join(SAFETENSORS_FILE);
        let pt = dir.join(PT_FILE);
        let weights = match file {
            WeightFile::Auto if safetensors.is_file() => safetensors,
            WeightFile::Auto if pt.is_file() => pt,
            WeightFile::Auto => {
                return Err(Error::file(
                    dir.display(),
                    format!("no weights: neither {SAFETENSORS_FILE} nor {PT_FILE} is present"),
                ));
            }
            WeightFile::Safetensors => safetensors,
            WeightFile::Pt => pt,
        };
        if !weights.is_file() {
            return Err(Error::file(weights.display(), format!("weight file not found (file = {file})")));
        }
        let config = Config::from_file(&dir.join(ARGS_FILE))?;
        let vocab = Vocab::from_file(&dir.join(VOCAB_FILE))?;
        Ok(Checkpoint { dir: dir.to_path_buf(), weights, config, vocab })
    }

    /// A variable builder over the weight file, converting to `dtype` on `device`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        let is_safetensors = self.weights.extension().is_some_and(|e| e == "safetensors");
        let vb = if is_safetensors {
            // SAFETY: the file is memory-mapped read-only; like every mmap reader we rely on no
            // one truncating or rewriting the checkpoint while it loads (tensors are copied out).
            unsafe { VarBuilder::from_mmaped_safetensors(&[&self.weights], dtype, device) }
        } else {
            VarBuilder::from_pth(&self.weights, dtype, device)
        };
        vb.map_err(|e| Error::file(self.weights.display(), e))
    }

    /// SHA-256 over the weight file, `args.json` and `vocab.json` (each name, length and bytes).
    pub fn sha256(&self) -> Result<String> {
        let mut hasher = Sha256::new();
        for path in [self.weights.clone(), self.dir.join(ARGS_FILE), self.dir.join(VOCAB_FILE)] {
            let mut file = std::fs::File::open(&path).map_err(|e| Error::file(path.display(), e))?;
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

    fn full_name(&self, name: &str) -> String {
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
