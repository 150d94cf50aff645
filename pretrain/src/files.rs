//! The output folder: the released scGPT layout (`model.safetensors`, `args.json`,
//! `vocab.json`) plus `validation_cells.json`; the training state rides in the metadata of
//! `model.safetensors`, so weights and state are replaced together by one rename.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use ugrn_backbone_scgpt::init::ParamDef;
use ugrn_backbone_scgpt::{ARGS_FILE, SAFETENSORS_FILE, VOCAB_FILE, write_atomically, write_json};
use ugrn_sdk::{Error, Result};

use crate::references::ValidationReferences;
use crate::settings::Settings;

/// Metadata key of `model.safetensors` holding the [`State`] as JSON.
pub(crate) const STATE_KEY: &str = "ugrn.pretrain";
/// The held-out cells of every corpus, by name.
pub const VALIDATION_FILE: &str = "validation_cells.json";

/// The files pretraining writes into its output folder.
pub(crate) const WRITTEN_FILES: [&str; 4] = [SAFETENSORS_FILE, ARGS_FILE, VOCAB_FILE, VALIDATION_FILE];

/// Checks that training may write into `dir`: a missing or empty folder always; a folder with
/// anything in it only to `resume` its training, or with `force` when it holds a checkpoint
/// `ugrn pretrain` wrote (never a real scGPT folder); `force` replaces the files pretraining
/// writes and returns the names of the others, left as they are.
pub fn check_output(dir: &Path, resume: bool, force: bool) -> std::result::Result<Vec<String>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    if names.is_empty() || resume {
        return Ok(Vec::new());
    }
    if !force {
        return Err(format!(
            "{} exists and is not empty ({}); pass --resume to continue its training, or --force to train over it",
            dir.display(),
            names.join(", ")
        ));
    }
    if !holds_training_state(&dir.join(SAFETENSORS_FILE)) {
        return Err(format!(
            "{} holds no checkpoint written by `ugrn pretrain` (no training state in {SAFETENSORS_FILE}); \
             --force replaces only those: choose another --output",
            dir.display()
        ));
    }
    Ok(names.into_iter().filter(|n| !WRITTEN_FILES.contains(&n.as_str())).collect())
}

fn holds_training_state(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    safetensors::SafeTensors::read_metadata(&bytes)
        .is_ok_and(|(_, header)| header.metadata().as_ref().is_some_and(|m| m.contains_key(STATE_KEY)))
}

/// What `resume` needs besides the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) epochs_done: usize,
    pub(crate) settings: Settings,
    pub(crate) corpora: Vec<CorpusSummary>,
    pub(crate) history: Vec<EpochRecord>,
    /// What the validation losses compare with; recomputed on resume (the split and masks are
    /// the seed's), absent from states written before it was recorded.
    #[serde(default)]
    pub(crate) validation_references: Option<ValidationReferences>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CorpusSummary {
    pub(crate) name: String,
    pub(crate) genes: usize,
    pub(crate) cells: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EpochRecord {
    pub(crate) epoch: usize,
    pub(crate) train_loss: f64,
    /// `None` without validation cells.
    pub(crate) validation_loss: Option<f64>,
    pub(crate) seconds: f64,
}

/// Everything written after an epoch.
pub(crate) struct Snapshot<'a> {
    pub(crate) args: &'a serde_json::Value,
    pub(crate) symbols: &'a [String],
    pub(crate) validation: &'a serde_json::Value,
    pub(crate) defs: &'a [ParamDef],
    pub(crate) vars: &'a [Var],
    pub(crate) state: &'a State,
}

/// Writes the folder; `model.safetensors` goes last, so a folder whose weights carry a state
/// has the matching `args.json` and `vocab.json`.
pub(crate) fn save(dir: &Path, s: &Snapshot<'_>) -> Result<()> {
    let vocab: BTreeMap<&str, usize> = s.symbols.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    write_json(&dir.join(VOCAB_FILE), &vocab)?;
    write_json(&dir.join(ARGS_FILE), s.args)?;
    write_json(&dir.join(VALIDATION_FILE), s.validation)?;

    let path = dir.join(SAFETENSORS_FILE);
    let state = serde_json::to_string(s.state).map_err(|e| Error::file(path.display(), e))?;
    let metadata = HashMap::from([(STATE_KEY.to_string(), state)]);
    let tensors = s.defs.iter().zip(s.vars).map(|(d, v)| (d.name.as_str(), v.as_tensor()));
    write_atomically(&path, |temp| {
        safetensors::serialize_to_file(tensors, Some(metadata), temp).map_err(|e| Error::file(temp.display(), e))
    })
}

/// The state and weights of an earlier run in `dir`, or `None` when it has no weights yet.
/// `check` sees the stored state before any tensor is read, so a run with other settings is
/// refused with the setting named rather than with a missing tensor.
pub(crate) fn load(
    dir: &Path,
    defs: &[ParamDef],
    check: impl FnOnce(&State) -> Result<()>,
) -> Result<Option<(State, Vec<Var>)>> {
    let path = dir.join(SAFETENSORS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let fail = |reason: String| Error::file(path.display(), reason);
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fail(e.to_string()))?;
    let Some(state) = header.metadata().as_ref().and_then(|m| m.get(STATE_KEY)) else {
        return Err(fail(format!(
            "no training state (metadata `{STATE_KEY}`): not written by `ugrn pretrain`; run without --resume to start over"
        )));
    };
    let state: State =
        serde_json::from_str(state).map_err(|e| fail(format!("training state (metadata `{STATE_KEY}`): {e}")))?;
    check(&state)?;
    let mut tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| fail(e.to_string()))?;
    let vars = defs
        .iter()
        .map(|d| {
            let t = tensors.remove(&d.name).ok_or_else(|| fail(format!("missing tensor `{}`", d.name)))?;
            if t.dims() != d.shape.as_slice() {
                return Err(fail(format!("tensor `{}` has shape {:?}, expected {:?}", d.name, t.dims(), d.shape)));
            }
            let t = t.to_dtype(candle_core::DType::F32).map_err(|e| fail(format!("tensor `{}`: {e}", d.name)))?;
            Var::from_tensor(&t).map_err(|e| fail(format!("tensor `{}`: {e}", d.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((state, vars)))
}
