//! A checkpoint folder as scGPT releases it: `best_model.pt` and/or `model.safetensors`, plus
//! `args.json` and `vocab.json`.
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{DType, Device};
use serde::Serialize;
pub use ugrn_candle_shared::checkpoint::{SAFETENSORS_FILE, Weights};
use ugrn_candle_shared::checkpoint::{WeightFormat, find_weights, sha256_files};
use ugrn_sdk::{Error, Result};

use crate::config::Config;
use crate::vocab::Vocab;

/// The PyTorch weight file of a released checkpoint.
pub const PT_FILE: &str = "best_model.pt";
/// The model settings ([`Config`]).
pub const ARGS_FILE: &str = "args.json";
/// The vocabulary ([`Vocab`]).
pub const VOCAB_FILE: &str = "vocab.json";
/// Tensors of released checkpoints that inference legitimately does not read, by prefix: the
/// flag embedding of generative pretraining (in scGPT_human; it marks the genes to generate,
/// which the masked-value forward pass has none of), the heads that fine-tuning trains on the
/// cell embedding (`cls_decoder`: cell types; `grad_reverse_discriminator`: the adversarial
/// batch head) and the MVC decoder where `args.json` turns `MVC` off (it reads the cell
/// embedding, never the readout). Any other tensor the model does not read is an error: batch
/// tensors (`batch_encoder`, `dsbn`, `bn`), for one, change what the encoder computes.
pub(crate) const KNOWN_UNUSED_PREFIXES: &[&str] =
    &["flag_encoder.", "cls_decoder.", "grad_reverse_discriminator.", "mvc_decoder."];

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

/// The checkpoint's files and settings; tensors are read through [`Checkpoint::weights`].
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
        let args = dir.join(ARGS_FILE);
        let config = Config::from_file(&args)?;
        let vocab = Vocab::from_file(&dir.join(VOCAB_FILE))?;
        if vocab.special(&config.pad_token).is_none() {
            return Err(Error::file(
                args.display(),
                format!("option `pad_token` = {:?} is not a token of {VOCAB_FILE}", config.pad_token),
            ));
        }
        Ok(Checkpoint { dir: dir.to_path_buf(), weights, config, vocab })
    }

    /// The weight file's tensors, converted to `dtype` on `device`.
    pub fn weights(&self, dtype: DType, device: &Device) -> Result<Weights<'static>> {
        Weights::from_file(&self.weights, dtype, device)
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
