//! Workflow files: the TOML schema, its resolution (defaults, paths relative to the file) and
//! validation against the discovered plugins.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ugrn_sdk::{ParamSpec, ParamValue, Params, PluginKind};

use crate::data::{BEELINE_DATASETS, BEELINE_NETWORKS, BeelineSource, Negatives, UserDatasetSpec};
use crate::plugin::{ComponentLimits, Registry};

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
    /// Fraction of the training pairs held out for early stopping.
    #[serde(default = "default_validation")]
    pub validation_fraction: f64,
    /// Drop test pairs that use any gene seen in training pairs.
    #[serde(default)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirectScore {
    Feature,
    AbsFeature,
}

/// A plugin with its parameters resolved against the ones it declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPlugin {
    pub plugin: String,
    pub params: Params,
}

impl ResolvedPlugin {
    /// The plugin table with every parameter written out.
    fn table(&self) -> PluginTable {
        let params = self.params.iter().map(|(k, v)| (k.clone(), param_to_toml(v))).collect();
        PluginTable { plugin: self.plugin.clone(), params }
    }
}

/// What a method is, once checked.
#[derive(Debug, Clone, PartialEq)]
pub enum MethodKind {
    Translated { probe: ResolvedPlugin, translator: ResolvedPlugin },
    Direct { probe: ResolvedPlugin, score: DirectScore },
    Ensemble { members: Vec<String> },
}

impl MethodKind {
    /// The `[[method]]` table this method is written as.
    fn table(&self, name: &str) -> Method {
        let mut method =
            Method { name: name.to_string(), probe: None, translator: None, score: None, ensemble: Vec::new() };
        match self {
            MethodKind::Translated { probe, translator } => {
                method.probe = Some(probe.table());
                method.translator = Some(translator.table());
            }
            MethodKind::Direct { probe, score } => {
                method.probe = Some(probe.table());
                method.score = Some(*score);
            }
            MethodKind::Ensemble { members } => method.ensemble = members.clone(),
        }
        method
    }
}

/// A workflow with every default resolved and every plugin parameter checked: what a run needs.
/// Paths are relative to the workflow file where it wrote them.
#[derive(Debug, Clone)]
pub struct ResolvedWorkflow {
    pub file: PathBuf,
    pub run: RunSection,
    pub backbone: ResolvedPlugin,
    /// The backbone table's `checkpoint`, the folder it loads.
    pub checkpoint: PathBuf,
    pub data: DataSection,
    pub datasets: Vec<UserDatasetSpec>,
    /// In file order.
    pub methods: Vec<(String, MethodKind)>,
    pub evaluator: ResolvedPlugin,
}

/// The repository root this host was built from (for the default data roots).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn default_data_roots() -> Vec<PathBuf> {
    BeelineSource::for_repo(&repo_root()).roots
}

impl Workflow {
    /// Parses `file`; syntax errors and unknown keys in the fixed sections are reported with
    /// the file, line and key.
    pub fn read(file: &Path) -> Result<Workflow, Problems> {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file)
            .map_err(|e| Problems(vec![Problem { file: name.clone(), key: "(file)".into(), reason: e.to_string() }]))?;
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

/// Checks workflows and collects every problem instead of stopping at the first.
struct Checker<'a> {
    file: String,
    registry: &'a Registry,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem { file: self.file.clone(), key: key.into(), reason: reason.into() });
    }

    /// Resolves a plugin table against the plugin's declared parameters.
    fn plugin_params(&mut self, key: &str, table: &PluginTable, kind: PluginKind) -> Option<Params> {
        let plugin = match self.registry.require(&table.plugin, kind) {
            Ok(p) => p,
            Err(e) => {
                self.problem(format!("{key}.plugin"), e.to_string());
                return None;
            }
        };
        let specs: &[ParamSpec] = &plugin.info.params;
        let mut given = BTreeMap::new();
        for (k, v) in &table.params {
            match toml_to_param(v) {
                Ok(p) => {
                    given.insert(k.clone(), p);
                }
                Err(reason) => self.problem(format!("{key}.{k}"), reason),
            }
        }
        match Params::resolve(specs, given) {
            Ok(p) => Some(p),
            Err(ugrn_sdk::Error::Param { key: k, reason }) => {
                self.problem(format!("{key}.{k}"), format!("{reason} [plugin {}]", table.plugin));
                None
            }
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }

    fn path_exists(&mut self, key: &str, path: &Path) {
        if !path.exists() {
            self.problem(key, format!("{} does not exist", path.display()));
        }
    }

    /// The backbone table: its `checkpoint` folder, which must exist, and the plugin's parameters.
    fn resolve_backbone(&mut self, base: &Path, mut table: PluginTable) -> (ResolvedPlugin, PathBuf) {
        let checkpoint = match table.params.remove("checkpoint") {
            Some(toml::Value::String(s)) => base.join(s),
            Some(_) => {
                self.problem("backbone.checkpoint", "expected a path string");
                PathBuf::new()
            }
            None => {
                self.problem("backbone.checkpoint", "missing: the checkpoint folder to load");
                PathBuf::new()
            }
        };
        if !checkpoint.as_os_str().is_empty() {
            self.path_exists("backbone.checkpoint", &checkpoint);
        }
        let params = self.plugin_params("backbone", &table, PluginKind::Backbone).unwrap_or_default();
        (ResolvedPlugin { plugin: table.plugin, params }, checkpoint)
    }

    /// `[run]`, checked, with `output` and `cache` taken relative to the workflow file.
    fn resolve_run(&mut self, base: &Path, mut run: RunSection) -> RunSection {
        let device = run.device.as_str();
        let device_ok = device == "auto"
            || device == "cpu"
            || device.strip_prefix("cuda:").is_some_and(|n| n.parse::<usize>().is_ok());
        if !device_ok {
            self.problem("run.device", format!("{device:?} is not auto, cpu or cuda:N"));
        }
        if !["f32", "f64", "bf16", "f16"].contains(&run.dtype.as_str()) {
            self.problem("run.dtype", format!("{:?} is not f32, f64, bf16 or f16", run.dtype));
        }
        if run.memory_budget_mb == 0 {
            self.problem("run.memory_budget_mb", "must be positive");
        }
        if run.component_fuel == 0 {
            self.problem("run.component_fuel", "must be positive");
        }
        if run.component_memory_mb == 0 {
            self.problem("run.component_memory_mb", "must be positive");
        }
        // Paths written in the workflow are relative to its file; the defaults (runs/<name>,
        // .ugrn-cache) to the working directory.
        run.output = run.output.map(|o| base.join(o));
        run.cache = run.cache.map(|c| base.join(c));
        run
    }

    /// `[data]`, checked, with its roots taken relative to the workflow file (or the default
    /// ones); its datasets are BEELINE's or declared in `datasets`.
    fn resolve_data(&mut self, base: &Path, mut data: DataSection, datasets: &[UserDatasetSpec]) -> DataSection {
        data.roots = if data.roots.is_empty() {
            default_data_roots()
        } else {
            data.roots.iter().map(|r| base.join(r)).collect()
        };
        if !data.roots.iter().any(|r| r.is_dir()) {
            let roots: Vec<String> = data.roots.iter().map(|r| r.display().to_string()).collect();
            self.problem("data.roots", format!("none of these folders exists: {}", roots.join(", ")));
        }
        for net in data.networks.iter().chain(&data.train_network) {
            if !BEELINE_NETWORKS.contains(&net.as_str()) {
                self.problem(
                    "data.networks",
                    format!("unknown network {net:?} (known: {})", BEELINE_NETWORKS.join(", ")),
                );
            }
        }
        if ![500, 1000].contains(&data.size) {
            self.problem("data.size", format!("{} is not 500 or 1000", data.size));
        }
        self.check_train_and_test(&data, datasets);
        if !(0.0..1.0).contains(&data.validation_fraction) {
            self.problem("data.validation_fraction", "must be in [0, 1)");
        }
        data
    }

    /// `data.train` and `data.test`: known datasets, and none tested that was trained on.
    fn check_train_and_test(&mut self, data: &DataSection, datasets: &[UserDatasetSpec]) {
        for (key, list) in [("data.train", &data.train), ("data.test", &data.test)] {
            if list.is_empty() {
                self.problem(key, "needs at least one dataset");
            }
            for name in list {
                if !BEELINE_DATASETS.contains(&name.as_str()) && !datasets.iter().any(|d| &d.name == name) {
                    self.problem(
                        key,
                        format!(
                            "unknown dataset {name:?} (BEELINE: {}; or declare it in a [[dataset]] table)",
                            BEELINE_DATASETS.join(", ")
                        ),
                    );
                }
            }
        }
        // Leave-dataset-out: a tested dataset's own labels must not have trained the translator.
        for name in data.test.iter().filter(|n| data.train.contains(n)) {
            self.problem(
                "data.test",
                format!("{name:?} is also in data.train; leave-dataset-out tests only datasets not trained on"),
            );
        }
    }

    /// `[[dataset]]` tables with their files taken relative to the workflow file; they must exist.
    fn resolve_datasets(&mut self, base: &Path, mut datasets: Vec<UserDatasetSpec>) -> Vec<UserDatasetSpec> {
        for (i, d) in datasets.iter_mut().enumerate() {
            d.expression = base.join(&d.expression);
            d.tfs = base.join(&d.tfs);
            d.edges = d.edges.as_ref().map(|e| base.join(e));
            self.path_exists(&format!("dataset[{i}].expression"), &d.expression);
            self.path_exists(&format!("dataset[{i}].tfs"), &d.tfs);
            if let Some(e) = &d.edges {
                self.path_exists(&format!("dataset[{i}].edges"), e);
            }
        }
        datasets
    }

    /// `[[method]]` tables: at least one, names distinct, each of one kind.
    fn resolve_methods(&mut self, methods: &[Method]) -> Vec<(String, MethodKind)> {
        let mut resolved: Vec<(String, MethodKind)> = Vec::new();
        for (i, m) in methods.iter().enumerate() {
            let key = format!("method[{i}] ({})", m.name);
            if resolved.iter().any(|(n, _)| n == &m.name) {
                self.problem(&key, "duplicate method name");
            }
            if let Some(kind) = self.resolve_method(&key, m, methods) {
                resolved.push((m.name.clone(), kind));
            }
        }
        if methods.is_empty() {
            self.problem("method", "needs at least one [[method]]");
        }
        resolved
    }

    /// One method, `key` naming it: probe + translator, probe + score, or an ensemble of other
    /// `methods` with translators.
    fn resolve_method(&mut self, key: &str, m: &Method, methods: &[Method]) -> Option<MethodKind> {
        match (&m.probe, &m.translator, m.score, m.ensemble.is_empty()) {
            (Some(p), Some(t), None, true) => {
                let probe = self.resolve_plugin(&format!("{key}.probe"), p, PluginKind::Probe);
                let translator = self.resolve_plugin(&format!("{key}.translator"), t, PluginKind::Translator);
                probe.zip(translator).map(|(probe, translator)| MethodKind::Translated { probe, translator })
            }
            (Some(p), None, Some(score), true) => self
                .resolve_plugin(&format!("{key}.probe"), p, PluginKind::Probe)
                .map(|probe| MethodKind::Direct { probe, score }),
            (None, None, None, false) => {
                for member in &m.ensemble {
                    if !methods.iter().any(|o| &o.name == member && o.translator.is_some()) {
                        self.problem(
                            format!("{key}.ensemble"),
                            format!("{member:?} is not a method of this workflow with a translator (ensembles average logits)"),
                        );
                    }
                }
                Some(MethodKind::Ensemble { members: m.ensemble.clone() })
            }
            _ => {
                self.problem(key, "a method is either `probe` + `translator`, `probe` + `score`, or `ensemble`");
                None
            }
        }
    }

    fn resolve_plugin(&mut self, key: &str, table: &PluginTable, kind: PluginKind) -> Option<ResolvedPlugin> {
        let params = self.plugin_params(key, table, kind)?;
        Some(ResolvedPlugin { plugin: table.plugin.clone(), params })
    }
}

impl ResolvedWorkflow {
    /// Resolves defaults and checks the workflow against the plugins: unknown keys, unknown
    /// plugins, wrong parameter types, missing files and inconsistent methods are all reported.
    pub fn resolve(file: &Path, workflow: Workflow, registry: &Registry) -> Result<ResolvedWorkflow, Problems> {
        let base = Workflow::base_dir(file);
        let mut c = Checker { file: file.display().to_string(), registry, problems: Vec::new() };
        let (backbone, checkpoint) = c.resolve_backbone(&base, workflow.backbone);
        let run = c.resolve_run(&base, workflow.run);
        let data = c.resolve_data(&base, workflow.data, &workflow.datasets);
        let datasets = c.resolve_datasets(&base, workflow.datasets);
        let methods = c.resolve_methods(&workflow.methods);
        let evaluator_params = c.plugin_params("evaluator", &workflow.evaluator, PluginKind::Evaluator);
        let evaluator =
            ResolvedPlugin { plugin: workflow.evaluator.plugin, params: evaluator_params.unwrap_or_default() };
        if !c.problems.is_empty() {
            return Err(Problems(c.problems));
        }
        Ok(ResolvedWorkflow { file: file.to_path_buf(), run, backbone, checkpoint, data, datasets, methods, evaluator })
    }

    /// The workflow as run: every default and plugin parameter written out.
    pub fn to_toml(&self) -> String {
        let mut backbone = self.backbone.table();
        backbone.params.insert("checkpoint".to_string(), toml::Value::String(self.checkpoint.display().to_string()));
        let workflow = Workflow {
            run: self.run.clone(),
            backbone,
            data: self.data.clone(),
            datasets: self.datasets.clone(),
            methods: self.methods.iter().map(|(name, kind)| kind.table(name)).collect(),
            evaluator: self.evaluator.table(),
        };
        toml::to_string_pretty(&workflow).unwrap_or_else(|e| format!("# could not serialise the workflow: {e}\n"))
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

    #[test]
    fn every_problem_is_reported_in_the_order_of_the_file() {
        let text = r#"
[run]
device = "gpu"
memory_budget_mb = 0

[backbone]
plugin = "backbone-x"

[data]
roots = ["no-such-root"]
size = 700
train = ["hESC"]
test = ["hESC", "toy"]
validation_fraction = 1.0

[[dataset]]
name = "toy"
expression = "toy.csv"
tfs = "toy_tfs.txt"

[[method]]
name = "Ens"
ensemble = ["VVP"]

[[method]]
name = "Ens"
probe = { plugin = "probe-x" }
"#;
        let workflow = Workflow::parse(text, "wf.toml").unwrap();
        let problems = ResolvedWorkflow::resolve(Path::new("wf.toml"), workflow, &Registry::default()).unwrap_err();
        let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "backbone.checkpoint",
                "backbone.plugin",
                "run.device",
                "run.memory_budget_mb",
                "data.roots",
                "data.size",
                "data.test",
                "data.validation_fraction",
                "dataset[0].expression",
                "dataset[0].tfs",
                "method[0] (Ens).ensemble",
                "method[1] (Ens)",
                "method[1] (Ens)",
                "evaluator.plugin",
            ]
        );
        assert_eq!(problems.0[1].reason, "unknown backbone plugin `backbone-x` (available: none found)");
        assert_eq!(
            problems.0[12].reason,
            "a method is either `probe` + `translator`, `probe` + `score`, or `ensemble`"
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
