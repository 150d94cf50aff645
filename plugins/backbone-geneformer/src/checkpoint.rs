//! A checkpoint folder in Hugging Face layout: `config.json`, `model.safetensors` or
//! `pytorch_model.bin`, and Geneformer's dictionaries.
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use ugrn_sdk::{Error, Result};

use crate::config::Config;

pub const CONFIG_FILE: &str = "config.json";
pub const SAFETENSORS_FILE: &str = "model.safetensors";
pub const BIN_FILE: &str = "pytorch_model.bin";

/// Which weight file to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFile {
    /// `model.safetensors` when present, else `pytorch_model.bin`.
    #[default]
    Auto,
    Safetensors,
    Bin,
}

impl std::str::FromStr for WeightFile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(WeightFile::Auto),
            "safetensors" => Ok(WeightFile::Safetensors),
            "bin" => Ok(WeightFile::Bin),
            other => Err(Error::param("file", format!("{other:?} is not one of auto, safetensors, bin"))),
        }
    }
}

impl fmt::Display for WeightFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightFile::Auto => "auto",
            WeightFile::Safetensors => "safetensors",
            WeightFile::Bin => "bin",
        })
    }
}

/// One of Geneformer's dictionaries: its file stem in the checkpoint folder and the load
/// parameter that can point elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dictionary {
    /// Ensembl ID → token id.
    Tokens,
    /// Ensembl ID → non-zero median expression over Genecorpus.
    Medians,
    /// Gene symbol → Ensembl ID.
    Names,
}

impl Dictionary {
    /// The file stem Geneformer uses, which is also the load parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            Dictionary::Tokens => "token_dictionary",
            Dictionary::Medians => "gene_median_dictionary",
            Dictionary::Names => "gene_name_id_dict",
        }
    }
}

/// The files of a checkpoint, found and checked to exist; nothing is read but `config.json`.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub weights: PathBuf,
    pub config: Config,
    pub token_dictionary: PathBuf,
    pub gene_median_dictionary: PathBuf,
    /// Absent: genes are matched by Ensembl ID only.
    pub gene_name_id_dict: Option<PathBuf>,
}

/// Where each dictionary comes from: `None` looks for `<name>.pkl`, then `<name>.json`, in the
/// checkpoint folder; a path is taken relative to the checkpoint folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DictionaryPaths {
    pub token_dictionary: Option<PathBuf>,
    pub gene_median_dictionary: Option<PathBuf>,
    pub gene_name_id_dict: Option<PathBuf>,
}

impl Checkpoint {
    pub fn open(dir: &Path, file: WeightFile, dictionaries: &DictionaryPaths) -> Result<Checkpoint> {
        if !dir.is_dir() {
            return Err(Error::file(dir.display(), "checkpoint folder not found"));
        }
        let safetensors = dir.join(SAFETENSORS_FILE);
        let bin = dir.join(BIN_FILE);
        let weights = match file {
            WeightFile::Auto if safetensors.is_file() => safetensors,
            WeightFile::Auto if bin.is_file() => bin,
            WeightFile::Auto => {
                return Err(Error::file(
                    dir.display(),
                    format!("no weights: neither {SAFETENSORS_FILE} nor {BIN_FILE} is present"),
                ));
            }
            WeightFile::Safetensors => safetensors,
            WeightFile::Bin => bin,
        };
        if !weights.is_file() {
            return Err(Error::file(weights.display(), format!("weight file not found (file = {file})")));
        }
        let config = Config::from_file(&dir.join(CONFIG_FILE))?;
        let find = |which: Dictionary, given: &Option<PathBuf>| -> Result<Option<PathBuf>> {
            match given {
                Some(path) => {
                    let path = dir.join(path);
                    if path.is_file() {
                        Ok(Some(path))
                    } else {
                        Err(Error::file(path.display(), format!("{} not found (parameter `{}`)", which.name(), which.name())))
                    }
                }
                None => Ok(["pkl", "json"]
                    .iter()
                    .map(|ext| dir.join(format!("{}.{ext}", which.name())))
                    .find(|p| p.is_file())),
            }
        };
        let required = |which: Dictionary, given: &Option<PathBuf>| -> Result<PathBuf> {
            find(which, given)?.ok_or_else(|| {
                Error::file(
                    dir.display(),
                    format!(
                        "no {0}: neither {0}.pkl nor {0}.json is present (parameter `{0}` names another file)",
                        which.name()
                    ),
                )
            })
        };
        Ok(Checkpoint {
            token_dictionary: required(Dictionary::Tokens, &dictionaries.token_dictionary)?,
            gene_median_dictionary: required(Dictionary::Medians, &dictionaries.gene_median_dictionary)?,
            gene_name_id_dict: find(Dictionary::Names, &dictionaries.gene_name_id_dict)?,
            dir: dir.to_path_buf(),
            weights,
            config,
        })
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

    /// SHA-256 over every file that shapes the oracle's answers (weights, `config.json`, the
    /// dictionaries): each file's name, length and bytes.
    pub fn sha256(&self) -> Result<String> {
        let mut hasher = Sha256::new();
        let mut files = vec![&self.weights, &self.token_dictionary, &self.gene_median_dictionary];
        files.extend(&self.gene_name_id_dict);
        let config = self.dir.join(CONFIG_FILE);
        files.push(&config);
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
        let tensor = self.vb.get_unchecked(name).map_err(|e| Error::file(&self.source, format!("tensor `{full}`: {e}")))?;
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
