//! A checkpoint folder in Hugging Face layout: `config.json`, `model.safetensors` or
//! `pytorch_model.bin`, and Geneformer's dictionaries.
use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
pub use ugrn_candle_shared::checkpoint::{SAFETENSORS_FILE, Weights};
use ugrn_candle_shared::checkpoint::{WeightFormat, find_weights, sha256_files};
use ugrn_sdk::{Error, Result};

use crate::config::Config;

pub const CONFIG_FILE: &str = "config.json";
pub const BIN_FILE: &str = "pytorch_model.bin";
/// Tensors of released checkpoints that the masked-LM readout legitimately does not read, by
/// prefix: the `position_ids` buffer older transformers saved (an int64 range, not a weight);
/// the pooler and next-sentence head of BERT pretraining checkpoints, which read the first
/// token's output only; and the copies older transformers store of tensors the MLM decoder
/// shares, `decoder.weight` (the word embedding, when tied) and `decoder.bias` (=
/// `cls.predictions.bias`), which the model reads where they are the only copy. Any other tensor
/// the model does not read is an error.
pub(crate) const KNOWN_UNUSED_PREFIXES: &[&str] = &[
    "bert.embeddings.position_ids",
    "bert.pooler.",
    "cls.seq_relationship.",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
];

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
        let format = match file {
            WeightFile::Auto => WeightFormat::Auto,
            WeightFile::Safetensors => WeightFormat::Safetensors,
            WeightFile::Bin => WeightFormat::Pytorch,
        };
        let weights = find_weights(dir, BIN_FILE, format, file)?;
        let config = Config::from_file(&dir.join(CONFIG_FILE))?;
        let find = |which: Dictionary, given: &Option<PathBuf>| -> Result<Option<PathBuf>> {
            match given {
                Some(path) => {
                    let path = dir.join(path);
                    if path.is_file() {
                        Ok(Some(path))
                    } else {
                        Err(Error::file(
                            path.display(),
                            format!("{} not found (parameter `{}`)", which.name(), which.name()),
                        ))
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

    /// The weight file's tensors, converted to `dtype` on `device`.
    pub fn weights(&self, dtype: DType, device: &Device) -> Result<Weights<'static>> {
        Weights::from_file(&self.weights, dtype, device)
    }

    /// SHA-256 over every file that shapes the oracle's answers (weights, `config.json`, the
    /// dictionaries): each file's name, length and bytes.
    pub fn sha256(&self) -> Result<String> {
        let mut files = vec![self.weights.as_path(), &self.token_dictionary, &self.gene_median_dictionary];
        files.extend(self.gene_name_id_dict.as_deref());
        let config = self.dir.join(CONFIG_FILE);
        files.push(&config);
        sha256_files(files)
    }
}
