//! Translators that outlive their run. A report keeps each trained method in
//! `translators/<network>/<method>/`: a `translator.json` manifest with everything `ugrn infer`
//! must reproduce (plugins, versions and parameters of the probe, translator and backbone; the
//! checkpoint and its sha256; the feature columns; the training provenance) and, for a
//! translated method, the fitted `state.bin`. An ensemble's folder names its members, which
//! are its siblings.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ugrn_sdk::{ParamValue, Params, PluginKind};

use crate::cache::hex;
use crate::plugin::Registry;
use crate::workflow::ResolvedPlugin;

pub const MANIFEST: &str = "translator.json";
pub const STATE: &str = "state.bin";
/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// A plugin as it was used: name, declared version and every parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginRecord {
    pub plugin: String,
    pub version: String,
    pub params: BTreeMap<String, ParamValue>,
}

impl PluginRecord {
    pub fn new(plugin: &ResolvedPlugin, registry: &Registry) -> PluginRecord {
        PluginRecord {
            plugin: plugin.plugin.clone(),
            version: registry.version(&plugin.plugin).to_string(),
            params: plugin.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    /// The plugin found now, which must be the saved one at the saved version, with the saved
    /// parameters checked against what it declares. `role` names the record in errors.
    pub fn resolve(&self, registry: &Registry, kind: PluginKind, role: &str) -> anyhow::Result<ResolvedPlugin> {
        let found =
            registry.require(&self.plugin, kind).with_context(|| format!("{role}: plugin `{}`", self.plugin))?;
        if found.info.version != self.version {
            bail!(
                "{role}: saved with {} {}, but the plugin found is version {} ({}); features or \
                 state from another version are not comparable: retrain, or put version {} on \
                 the plugin path",
                self.plugin,
                self.version,
                found.info.version,
                found.file.display(),
                self.version
            );
        }
        let params = Params::resolve(&found.info.params, self.params.clone())
            .with_context(|| format!("{role}: the saved parameters of {}", self.plugin))?;
        Ok(ResolvedPlugin { plugin: self.plugin.clone(), params })
    }
}

/// The backbone a method's features came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneRecord {
    #[serde(flatten)]
    pub plugin: PluginRecord,
    pub family: String,
    /// The compute type the features were taken in (`f32`, `bf16`, ...).
    pub dtype: String,
    /// The checkpoint folder, absolute.
    pub checkpoint: PathBuf,
    pub checkpoint_sha256: String,
}

/// One training dataset's share of a translator's training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSet {
    pub dataset: String,
    pub train_pairs: usize,
    pub train_positives: usize,
    pub validation_pairs: usize,
    pub validation_positives: usize,
}

/// Where a translator's labels came from and how its fit went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRecord {
    /// The network the training labels are from.
    pub network: String,
    pub datasets: Vec<TrainingSet>,
    pub seed: u64,
    /// The translator's own account of its fit (epochs, best validation loss).
    pub log: Vec<String>,
}

// One per saved method, never held in bulk: not worth boxing the larger variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SavedKind {
    Translated {
        probe: PluginRecord,
        translator: PluginRecord,
        /// The probe's feature columns the translator was fitted on, in order.
        columns: Vec<String>,
        state_sha256: String,
        training: TrainingRecord,
    },
    /// The mean of the members' logits; members are sibling folders, by method name.
    Ensemble { members: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub method: String,
    /// The network of the run that trained it (its test network).
    pub network: String,
    pub ugrn_version: String,
    pub backbone: BackboneRecord,
    pub method_kind: SavedKind,
}

/// A manifest with its state (translated methods) as one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedMethod {
    pub manifest: Manifest,
    pub state: Option<Vec<u8>>,
}

/// A method or network name as one safe path component.
pub fn folder_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// Why `name` cannot be one folder's name as written, if it cannot: it must be a single path
/// component that stays where it is put (no separators, not `.` or `..`, not empty).
pub fn check_folder_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        Err("is empty")
    } else if name == "." || name == ".." {
        Err("leaves its folder")
    } else if name.contains(['/', '\\']) || std::path::Path::new(name).is_absolute() {
        Err("is not one folder name (it holds a path separator)")
    } else {
        Ok(())
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

impl SavedMethod {
    /// Writes the folder `dir` (reports write it into their staging folder).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        if let Some(state) = &self.state {
            let file = dir.join(STATE);
            std::fs::write(&file, state).with_context(|| format!("writing {}", file.display()))?;
        }
        let file = dir.join(MANIFEST);
        std::fs::write(&file, serde_json::to_string_pretty(&self.manifest)? + "\n")
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(())
    }

    /// Reads a saved method folder, checking its format and its state's checksum.
    pub fn read(dir: &Path) -> anyhow::Result<SavedMethod> {
        let file = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!("{}: not a saved translator (a report's translators/<network>/<method>/ folder)", file.display())
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", file.display()))?;
        let format = value.get("format").and_then(serde_json::Value::as_u64);
        if format != Some(u64::from(FORMAT)) {
            bail!(
                "{}: format {} is not the one this ugrn reads ({FORMAT})",
                file.display(),
                format.map_or("missing".into(), |f| f.to_string())
            );
        }
        let manifest: Manifest = serde_json::from_value(value).with_context(|| format!("{}", file.display()))?;
        let state = match &manifest.method_kind {
            SavedKind::Translated { state_sha256, .. } => {
                let path = dir.join(STATE);
                let state = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                let found = sha256(&state);
                if &found != state_sha256 {
                    bail!("{}: sha256 {found}, but {} records {state_sha256}", path.display(), file.display());
                }
                Some(state)
            }
            SavedKind::Ensemble { .. } => None,
        };
        Ok(SavedMethod { manifest, state })
    }

    /// The folders of an ensemble's members (siblings of `dir`), else empty.
    pub fn member_dirs(&self, dir: &Path) -> Vec<PathBuf> {
        match &self.manifest.method_kind {
            SavedKind::Ensemble { members } => {
                let parent = dir.parent().unwrap_or(Path::new("."));
                members.iter().map(|m| parent.join(folder_name(m))).collect()
            }
            SavedKind::Translated { .. } => Vec::new(),
        }
    }
}

/// What `ugrn translators DIR` prints: each saved method under `dir` (a report, its
/// `translators/` folder, or one method's folder), a line or two each.
pub fn list(dir: &Path) -> anyhow::Result<String> {
    if !dir.is_dir() {
        bail!("{}: no such folder", dir.display());
    }
    let mut found = Vec::new();
    collect(dir, 0, &mut found)?;
    found.sort();
    if found.is_empty() {
        bail!("{}: holds no saved translator ({MANIFEST} files); `ugrn run` writes them in its report", dir.display());
    }
    let mut out = String::new();
    for folder in found {
        let saved = match SavedMethod::read(&folder) {
            Ok(saved) => saved,
            Err(e) => {
                let _ = writeln!(out, "{}\n  unreadable: {e:#}", folder.display());
                continue;
            }
        };
        let m = &saved.manifest;
        let _ = writeln!(out, "{}", folder.display());
        let what = match &m.method_kind {
            SavedKind::Translated { probe, translator, columns, training, .. } => format!(
                "{} {} on {} {} ({} columns), trained on {} ({}, {} pairs)",
                translator.plugin,
                translator.version,
                probe.plugin,
                probe.version,
                columns.len(),
                training.datasets.iter().map(|d| d.dataset.as_str()).collect::<Vec<_>>().join(", "),
                training.network,
                training.datasets.iter().map(|d| d.train_pairs + d.validation_pairs).sum::<usize>()
            ),
            SavedKind::Ensemble { members } => format!("ensemble: mean of the logits of {}", members.join(", ")),
        };
        let _ = writeln!(
            out,
            "  {} ({}): {what}\n  backbone {} {} ({}, {}), checkpoint {} (sha256 {})",
            m.method,
            m.network,
            m.backbone.plugin.plugin,
            m.backbone.plugin.version,
            m.backbone.family,
            m.backbone.dtype,
            m.backbone.checkpoint.display(),
            m.backbone.checkpoint_sha256
        );
    }
    Ok(out)
}

/// Folders holding a manifest, at most three levels below `dir` (report / translators /
/// network / method).
fn collect(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if dir.join(MANIFEST).is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    if depth == 3 {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, depth + 1, found)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(plugin: &str) -> PluginRecord {
        PluginRecord { plugin: plugin.into(), version: "0.1.0".into(), params: BTreeMap::new() }
    }

    fn saved(state: &[u8]) -> SavedMethod {
        SavedMethod {
            manifest: Manifest {
                format: FORMAT,
                method: "GDT".into(),
                network: "STRING".into(),
                ugrn_version: "0.1.0".into(),
                backbone: BackboneRecord {
                    plugin: record("backbone-scgpt"),
                    family: "scgpt".into(),
                    dtype: "f32".into(),
                    checkpoint: "/models/m".into(),
                    checkpoint_sha256: "ab".into(),
                },
                method_kind: SavedKind::Translated {
                    probe: record("probe-gdt"),
                    translator: record("translator-mlp"),
                    columns: vec!["d0".into(), "d1".into()],
                    state_sha256: sha256(state),
                    training: TrainingRecord {
                        network: "STRING".into(),
                        datasets: vec![TrainingSet {
                            dataset: "hESC".into(),
                            train_pairs: 8,
                            train_positives: 4,
                            validation_pairs: 2,
                            validation_positives: 1,
                        }],
                        seed: 0,
                        log: vec!["best validation BCE 0.5".into()],
                    },
                },
            },
            state: Some(state.to_vec()),
        }
    }

    #[test]
    fn a_saved_method_reads_back_as_written_and_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("translators/STRING/GDT");
        saved(b"weights").write(&folder).unwrap();
        assert_eq!(SavedMethod::read(&folder).unwrap(), saved(b"weights"));
        let listing = list(dir.path()).unwrap();
        assert_eq!(
            listing,
            format!(
                "{}\n  GDT (STRING): translator-mlp 0.1.0 on probe-gdt 0.1.0 (2 columns), trained on hESC (STRING, 10 pairs)\n  backbone backbone-scgpt 0.1.0 (scgpt, f32), checkpoint /models/m (sha256 ab)\n",
                folder.display()
            )
        );
    }

    #[test]
    fn a_changed_state_or_format_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        saved(b"weights").write(dir.path()).unwrap();
        std::fs::write(dir.path().join(STATE), b"other").unwrap();
        let e = SavedMethod::read(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: sha256 ", dir.path().join(STATE).display())), "{e}");
        assert!(e.ends_with(&format!("records {}", sha256(b"weights"))), "{e}");

        let manifest = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&manifest).unwrap().replace("\"format\": 1", "\"format\": 7");
        std::fs::write(&manifest, text).unwrap();
        let e = SavedMethod::read(dir.path()).unwrap_err().to_string();
        assert_eq!(e, format!("{}: format 7 is not the one this ugrn reads (1)", manifest.display()));
    }

    #[test]
    fn an_empty_folder_lists_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = list(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("holds no saved translator (translator.json files); `ugrn run` writes them in its report"));
    }
}
