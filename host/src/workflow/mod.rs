//! Workflow files: the TOML schema and its parsing; `resolve` fills in the defaults, takes
//! paths relative to the file and validates it against the discovered plugins.
mod resolve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ugrn_sdk::ParamValue;

use crate::data::{BeelineSource, NegativeSet, Negatives, UserDatasetSpec};
use crate::plugin::ComponentLimits;
pub use resolve::{MethodKind, ResolvedPlugin, ResolvedWorkflow};

/// One problem found in a workflow: file, key path and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct Problem {
    pub file: String,
    pub key: String,
    pub reason: String,
}

/// Every problem found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct Problems(pub Vec<Problem>);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    #[serde(default)]
    pub run: RunSection,
    pub backbone: PluginTable,
    pub data: DataSection,
    #[serde(default, rename = "dataset")]
    pub datasets: Vec<UserDatasetSpec>,
    #[serde(rename = "method")]
    pub methods: Vec<Method>,
    #[serde(default = "default_evaluator")]
    pub evaluator: PluginTable,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Names the run and its default output folder `runs/<name>`.
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    /// `auto`, `cpu` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default = "default_dtype")]
    pub dtype: String,
    /// Memory the oracle may use for one batch of cells on CPU (on a GPU the budget comes from
    /// its free memory).
    #[serde(default = "default_memory_budget")]
    pub memory_budget_mb: u64,
    /// Report folder, relative to the workflow file; default `runs/<name>` in the current
    /// directory.
    #[serde(default)]
    pub output: Option<PathBuf>,
    /// Feature cache folder, relative to the workflow file; default `.ugrn-cache` in the current
    /// directory.
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// Extra plugin folders, searched first.
    #[serde(default)]
    pub plugin_dirs: Vec<PathBuf>,
    /// Fuel per call into a component plugin (about one unit per guest instruction).
    #[serde(default = "default_component_fuel")]
    pub component_fuel: u64,
    /// Linear-memory cap per call into a component plugin.
    #[serde(default = "default_component_memory")]
    pub component_memory_mb: u64,
}

impl Default for RunSection {
    fn default() -> Self {
        RunSection {
            name: default_name(),
            seed: 0,
            device: default_device(),
            dtype: default_dtype(),
            memory_budget_mb: default_memory_budget(),
            output: None,
            cache: None,
            plugin_dirs: Vec::new(),
            component_fuel: default_component_fuel(),
            component_memory_mb: default_component_memory(),
        }
    }
}

impl RunSection {
    pub fn component_limits(&self) -> ComponentLimits {
        ComponentLimits { fuel: self.component_fuel, memory_bytes: self.component_memory_mb.saturating_mul(1 << 20) }
    }
}

fn default_component_fuel() -> u64 {
    ComponentLimits::default().fuel
}
fn default_component_memory() -> u64 {
    ComponentLimits::default().memory_bytes >> 20
}

fn default_name() -> String {
    "ugrn".into()
}
fn default_device() -> String {
    "cpu".into()
}
fn default_dtype() -> String {
    "f32".into()
}
fn default_memory_budget() -> u64 {
    1024
}
fn default_evaluator() -> PluginTable {
    PluginTable { plugin: "evaluator-beeline".into(), params: BTreeMap::new() }
}

/// A plugin name plus its parameters, written as one table: `{ plugin = "probe-gdt", context = "pair" }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginTable {
    pub plugin: String,
    #[serde(flatten)]
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Roots holding `benchmark_datasets/`; default: the repo's `data/beeline`, then
    /// `../shared/data/beeline` beside the repo.
    #[serde(default)]
    pub roots: Vec<PathBuf>,
    /// BEELINE networks: `STRING`, `Non-Specific`, `Specific`, `Lofgof`.
    #[serde(default = "default_networks")]
    pub networks: Vec<String>,
    /// TFs+`size` gene subset: 500 or 1000.
    #[serde(default = "default_size")]
    pub size: u32,
    /// Datasets the translator is trained on.
    pub train: Vec<String>,
    /// Network of the training labels when it differs from the tested one (e.g. train on
    /// hESC/STRING, test on mESC/Lofgof, which exists only for mESC).
    #[serde(default)]
    pub train_network: Option<String>,
    /// Datasets it is applied to zero-shot; none of them may be in `train`.
    pub test: Vec<String>,
    /// Negatives per positive (a number) or `"all"` non-edges.
    #[serde(default = "default_negatives")]
    pub negatives: NegativesSetting,
    /// How test sets draw their negatives: `uniform`, `by-source`, `reversed`; one table row
    /// per test dataset and set. Training sets always draw uniformly.
    #[serde(default = "default_negative_sets")]
    pub negative_sets: Vec<NegativeSet>,
    /// Fraction of the training pairs held out for early stopping.
    #[serde(default = "default_validation")]
    pub validation_fraction: f64,
    /// Leave out of the test sets every gene a training pair uses, before their pairs are
    /// drawn, so that test pairs share no gene with training pairs and stay balanced (the
    /// paper's protocol).
    #[serde(default = "default_exclude_train_genes")]
    pub exclude_train_genes: bool,
}

fn default_networks() -> Vec<String> {
    vec!["STRING".into()]
}
fn default_size() -> u32 {
    500
}
fn default_negatives() -> NegativesSetting {
    NegativesSetting::Number(1.0)
}
fn default_negative_sets() -> Vec<NegativeSet> {
    vec![NegativeSet::Uniform]
}
fn default_exclude_train_genes() -> bool {
    true
}
fn default_validation() -> f64 {
    0.2
}

/// `data.negatives`: a positive count or ratio of negatives per positive, kept as written (so
/// the resolved workflow repeats it), or `"all"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Value", into = "toml::Value")]
pub enum NegativesSetting {
    Integer(i64),
    Number(f64),
    All,
}

impl TryFrom<toml::Value> for NegativesSetting {
    type Error = String;

    fn try_from(value: toml::Value) -> Result<Self, String> {
        match value {
            toml::Value::String(s) if s == "all" => Ok(NegativesSetting::All),
            toml::Value::Float(x) if x > 0.0 => Ok(NegativesSetting::Number(x)),
            toml::Value::Integer(i) if i > 0 => Ok(NegativesSetting::Integer(i)),
            other => Err(format!("expected a positive ratio or \"all\", got {other}")),
        }
    }
}

impl From<NegativesSetting> for toml::Value {
    fn from(setting: NegativesSetting) -> toml::Value {
        match setting {
            NegativesSetting::Integer(i) => toml::Value::Integer(i),
            NegativesSetting::Number(x) => toml::Value::Float(x),
            NegativesSetting::All => toml::Value::String("all".into()),
        }
    }
}

impl From<NegativesSetting> for Negatives {
    fn from(setting: NegativesSetting) -> Negatives {
        match setting {
            NegativesSetting::Integer(i) => Negatives::Ratio(i as f64),
            NegativesSetting::Number(x) => Negatives::Ratio(x),
            NegativesSetting::All => Negatives::All,
        }
    }
}

/// How a method turns pairs into scores.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// Column name in the results table.
    pub name: String,
    #[serde(default)]
    pub probe: Option<PluginTable>,
    /// Trains on the training datasets and predicts logits on the test datasets.
    #[serde(default)]
    pub translator: Option<PluginTable>,
    /// No translator: the probe's single feature is the score (`feature`) or its absolute
    /// value (`abs-feature`), as the original scFM usages take it.
    #[serde(default)]
    pub score: Option<DirectScore>,
    /// Mean of the members' logits (names of other methods).
    #[serde(default)]
    pub ensemble: Vec<String>,
    /// A score that needs no model, computed by the host from the training labels.
    #[serde(default)]
    pub reference: Option<Reference>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectScore {
    Feature,
    AbsFeature,
}

/// Scores from the training labels alone, which no plugin sees: what gene identity carried
/// from training to test is worth, for tables to show beside the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// The source's out-degree plus the target's in-degree in the training datasets' networks,
    /// genes matched by upper-cased name; 0 for genes the training networks do not have.
    DegreePrior,
}

/// The data roots of a workflow that names none: the shipped labels the binary finds (see
/// [`crate::install`]) and the shared data folder beside them; none when it finds nothing.
pub fn default_data_roots() -> Vec<PathBuf> {
    crate::install::shipped_root().map(|root| BeelineSource::for_repo(&root).roots).unwrap_or_default()
}

/// The largest workflow file read.
pub const MAX_WORKFLOW_BYTES: u64 = 1 << 20;

impl Workflow {
    /// Parses `file`; syntax errors and unknown keys in the fixed sections are reported with
    /// the file, line and key.
    pub fn read(file: &Path) -> Result<Workflow, Problems> {
        use std::io::Read;
        let name = file.display().to_string();
        let problem = |reason: String| Problems(vec![Problem { file: name.clone(), key: "(file)".into(), reason }]);
        // Read through a limit: a device or a huge file is refused, never held in memory.
        let mut text = String::new();
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_WORKFLOW_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| problem(e.to_string()))?;
        if text.len() as u64 > MAX_WORKFLOW_BYTES {
            return Err(problem(format!(
                "longer than {} MiB; a workflow is a short TOML file",
                MAX_WORKFLOW_BYTES >> 20
            )));
        }
        Workflow::parse(&text, &name)
    }

    pub fn parse(text: &str, file: &str) -> Result<Workflow, Problems> {
        toml::from_str(text).map_err(|e| {
            let location = e
                .span()
                .map(|span| {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "(document)".into());
            Problems(vec![Problem { file: file.to_string(), key: location, reason: e.message().trim().to_string() }])
        })
    }

    /// Folder that relative paths in the workflow are taken from.
    fn base_dir(file: &Path) -> PathBuf {
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

pub fn toml_to_param(value: &toml::Value) -> Result<ParamValue, String> {
    Ok(match value {
        toml::Value::Boolean(b) => ParamValue::Bool(*b),
        toml::Value::Integer(i) => ParamValue::Int(*i),
        toml::Value::Float(x) => ParamValue::Float(*x),
        toml::Value::String(s) => ParamValue::Str(s.clone()),
        toml::Value::Array(items) => ParamValue::List(items.iter().map(toml_to_param).collect::<Result<_, _>>()?),
        other => return Err(format!("unsupported value {other}")),
    })
}

pub fn param_to_toml(value: &ParamValue) -> toml::Value {
    match value {
        ParamValue::Bool(b) => toml::Value::Boolean(*b),
        ParamValue::Int(i) => toml::Value::Integer(*i),
        ParamValue::Float(x) => toml::Value::Float(*x),
        ParamValue::Str(s) => toml::Value::String(s.clone()),
        ParamValue::List(items) => toml::Value::Array(items.iter().map(param_to_toml).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negatives(value: &str) -> Result<NegativesSetting, String> {
        let text = format!("[data]\ntrain = [\"hESC\"]\ntest = [\"mDC\"]\nnegatives = {value}\n");
        #[derive(Deserialize)]
        struct Data {
            data: DataSection,
        }
        toml::from_str::<Data>(&text).map(|d| d.data.negatives).map_err(|e| e.message().to_string())
    }

    /// A device that never ends, or a file past the cap, is refused after the cap is read.
    #[test]
    fn a_workflow_past_the_size_cap_is_refused_unread() {
        let e = Workflow::read(Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(e, "/dev/zero: (file): longer than 1 MiB; a workflow is a short TOML file");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, format!("# {}\n", "x".repeat(MAX_WORKFLOW_BYTES as usize))).unwrap();
        assert!(
            Workflow::read(&big)
                .unwrap_err()
                .to_string()
                .ends_with("longer than 1 MiB; a workflow is a short TOML file")
        );
    }

    #[test]
    fn negatives_are_a_positive_ratio_or_all() {
        assert_eq!(negatives("2"), Ok(NegativesSetting::Integer(2)));
        assert_eq!(negatives("0.5"), Ok(NegativesSetting::Number(0.5)));
        assert_eq!(negatives("\"all\""), Ok(NegativesSetting::All));
        assert_eq!(Negatives::from(NegativesSetting::Integer(2)), Negatives::Ratio(2.0));
        for (bad, shown) in [("0", "0"), ("-1.5", "-1.5"), ("\"some\"", "\"some\""), ("true", "true"), ("[1]", "[1]")] {
            assert_eq!(negatives(bad), Err(format!("expected a positive ratio or \"all\", got {shown}")), "{bad}");
        }
    }
}
