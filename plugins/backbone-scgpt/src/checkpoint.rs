//! A checkpoint folder as scGPT releases it: `best_model.pt` and/or `model.safetensors`, plus
//! `args.json` and `vocab.json`.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde::Serialize;
pub use ugrn_candle_shared::checkpoint::{SAFETENSORS_FILE, Weights};
use ugrn_candle_shared::checkpoint::{WeightFormat, find_weights, sha256_files, var_builder};
use ugrn_sdk::{Error, Result};

use crate::config::Config;
use crate::vocab::Vocab;

/// The PyTorch weight file of a released checkpoint.
pub const PT_FILE: &str = "best_model.pt";
/// The model settings ([`Config`]).
pub const ARGS_FILE: &str = "args.json";
/// The vocabulary ([`Vocab`]).
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
        let format = match file {
            WeightFile::Auto => WeightFormat::Auto,
            WeightFile::Safetensors => WeightFormat::Safetensors,
            WeightFile::Pt => WeightFormat::Pytorch,
        };
        let weights = find_weights(dir, PT_FILE, format, file)?;
        let config = Config::from_file(&dir.join(ARGS_FILE))?;
        let vocab = Vocab::from_file(&dir.join(VOCAB_FILE))?;
        Ok(Checkpoint { dir: dir.to_path_buf(), weights, config, vocab })
    }

    /// A variable builder over the weight file, converting to `dtype` on `device`.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> Result<VarBuilder<'static>> {
        var_builder(&self.weights, dtype, device)
    }

    /// SHA-256 over the weight file, `args.json` and `vocab.json` (each name, length and bytes).
    pub fn sha256(&self) -> Result<String> {
        sha256_files([self.weights.as_path(), &self.dir.join(ARGS_FILE), &self.dir.join(VOCAB_FILE)])
    }
}

/// `dir/.name.tmp` for `dir/name`.
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes a checkpoint file through a temporary name beside it: `write` fills the temporary file,
/// which is then renamed over `path`, so a reader finds the old file or the new one, never part
/// of one.
pub fn write_atomically(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temp = temp_path(path);
    write(&temp)?;
    std::fs::rename(&temp, path).map_err(|e| Error::file(path.display(), format!("renaming {}: {e}", temp.display())))
}

/// Writes `value` as pretty-printed JSON (as `args.json` and `vocab.json` are), through
/// [`write_atomically`].
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::file(path.display(), e))?;
    write_atomically(path, |temp| std::fs::write(temp, text + "\n").map_err(|e| Error::file(temp.display(), e)))
}
