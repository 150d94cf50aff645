//! Resolution: a parsed workflow checked against the plugins, with every default and plugin
//! parameter filled in and paths taken relative to the file.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ugrn_sdk::{ParamSpec, Params, PluginKind};

use super::{
    DataSection, DirectScore, Method, PluginTable, Problem, Problems, Reference, RunSection, Workflow,
    default_data_roots, param_to_toml, toml_to_param,
};
use crate::data::{BEELINE_DATASETS, BEELINE_NETWORKS, UserDatasetSpec};
use crate::plugin::Registry;
use crate::translators::folder_name;

/// The network name of a workflow whose datasets are all `[[dataset]]` tables: each is labelled
/// by its own `edges` (as it is under any network name).
pub const OWN_NETWORK: &str = "own";

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
    Reference(Reference),
}

impl MethodKind {
    /// The `[[method]]` table this method is written as.
    fn table(&self, name: &str) -> Method {
        let mut method = Method {
            name: name.to_string(),
            probe: None,
            translator: None,
            score: None,
            ensemble: Vec::new(),
            reference: None,
        };
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
            MethodKind::Reference(reference) => method.reference = Some(*reference),
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
        if let Err(reason) = crate::translators::check_folder_name(&run.name) {
            self.problem("run.name", format!("{:?} {reason}: it names the folder runs/<name>", run.name));
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
        if data.negative_sets.is_empty() {
            self.problem("data.negative_sets", "needs at least one of uniform, by-source, reversed");
        }
        let mut sets = data.negative_sets.clone();
        sets.sort();
        sets.dedup();
        if sets.len() < data.negative_sets.len() {
            self.problem("data.negative_sets", "lists a negative set twice");
        }
        data.roots = if data.roots.is_empty() {
            default_data_roots()
        } else {
            data.roots.iter().map(|r| base.join(r)).collect()
        };
        if data.roots.is_empty() {
            self.problem(
                "data.roots",
                format!(
                    "not given, and this ugrn finds no shipped data/beeline above its executable or in \
                     <prefix>/share/ugrn: set data.roots, or {} to the folder holding data/",
                    crate::install::HOME_ENV
                ),
            );
        } else if !data.roots.iter().any(|r| r.is_dir()) {
            let roots: Vec<String> = data.roots.iter().map(|r| r.display().to_string()).collect();
            self.problem("data.roots", format!("none of these folders exists: {}", roots.join(", ")));
        }
        if data.networks.is_empty() {
            self.problem("data.networks", "needs at least one network");
        }
        let mut own_checked = false;
        for net in data.networks.iter().chain(&data.train_network) {
            if net == OWN_NETWORK {
                let beeline = data.train.iter().chain(&data.test).find(|n| !datasets.iter().any(|d| &d.name == *n));
                if let Some(name) = beeline.filter(|_| !own_checked) {
                    self.problem(
                        "data.networks",
                        format!(
                            "network {OWN_NETWORK:?} is each [[dataset]]'s own `edges`, but {name:?} is not a [[dataset]] table"
                        ),
                    );
                }
                own_checked = true;
            } else if !BEELINE_NETWORKS.contains(&net.as_str()) {
                self.problem(
                    "data.networks",
                    format!(
                        "unknown network {net:?} (known: {}, or {OWN_NETWORK:?} for [[dataset]] edges)",
                        BEELINE_NETWORKS.join(", ")
                    ),
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
            for (i, name) in list.iter().enumerate() {
                if list[..i].contains(name) {
                    self.problem(key, format!("lists {name:?} twice"));
                }
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

    /// `[[dataset]]` tables with their files taken relative to the workflow file; they must exist,
    /// and each name must say which dataset it is.
    fn resolve_datasets(&mut self, base: &Path, mut datasets: Vec<UserDatasetSpec>) -> Vec<UserDatasetSpec> {
        for i in 0..datasets.len() {
            let name = datasets[i].name.clone();
            let key = format!("dataset[{i}].name");
            if name.trim().is_empty() {
                self.problem(&key, "is empty");
            } else if BEELINE_DATASETS.contains(&name.as_str()) {
                self.problem(&key, format!("{name:?} is a BEELINE dataset's name; give yours another"));
            } else if datasets[..i].iter().any(|d| d.name == name) {
                self.problem(&key, format!("{name:?} names an earlier [[dataset]] too"));
            }
        }
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
            if methods[..i].iter().any(|o| o.name == m.name) {
                self.problem(&key, "duplicate method name");
            } else if m.name.trim().is_empty() {
                self.problem(&key, "empty method name");
            } else if let Some(other) =
                methods[..i].iter().map(|o| &o.name).find(|n| folder_name(n) == folder_name(&m.name))
            {
                self.problem(
                    &key,
                    format!(
                        "its report folder `{}` would be the same as method {other:?}'s: rename one",
                        folder_name(&m.name)
                    ),
                );
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

    /// One method, `key` naming it: probe + translator, probe + score, an ensemble of other
    /// `methods` with translators, or a reference score.
    fn resolve_method(&mut self, key: &str, m: &Method, methods: &[Method]) -> Option<MethodKind> {
        if let Some(reference) = m.reference {
            if m.probe.is_none() && m.translator.is_none() && m.score.is_none() && m.ensemble.is_empty() {
                return Some(MethodKind::Reference(reference));
            }
            self.problem(key, "a `reference` method takes no `probe`, `translator`, `score` or `ensemble`");
            return None;
        }
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
                self.problem(
                    key,
                    "a method is either `probe` + `translator`, `probe` + `score`, `ensemble`, or `reference`",
                );
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

    /// The workflow as run: every default and plugin parameter written out, and every path
    /// absolute, so that the file reruns as it is from any folder.
    pub fn to_toml(&self) -> String {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut backbone = self.backbone.table();
        let checkpoint = absolute(&self.checkpoint).display().to_string();
        backbone.params.insert("checkpoint".to_string(), toml::Value::String(checkpoint));
        let mut run = self.run.clone();
        run.output = run.output.as_deref().map(absolute);
        run.cache = run.cache.as_deref().map(absolute);
        run.plugin_dirs = run.plugin_dirs.iter().map(|d| absolute(d)).collect();
        let mut data = self.data.clone();
        data.roots = data.roots.iter().map(|r| absolute(r)).collect();
        let mut datasets = self.datasets.clone();
        for d in &mut datasets {
            d.expression = absolute(&d.expression);
            d.tfs = absolute(&d.tfs);
            d.edges = d.edges.as_deref().map(absolute);
        }
        let workflow = Workflow {
            run,
            backbone,
            data,
            datasets,
            methods: self.methods.iter().map(|(name, kind)| kind.table(name)).collect(),
            evaluator: self.evaluator.table(),
        };
        toml::to_string_pretty(&workflow).unwrap_or_else(|e| format!("# could not serialise the workflow: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            "a method is either `probe` + `translator`, `probe` + `score`, `ensemble`, or `reference`"
        );
    }

    /// The problems of `key` in a workflow with this `[run]` body and these method names.
    fn problems_of(run: &str, methods: &[&str], key: &str) -> Vec<String> {
        let mut text =
            format!("[run]\n{run}\n[backbone]\nplugin = \"b\"\n[data]\ntrain = [\"hESC\"]\ntest = [\"mDC\"]\n");
        for m in methods {
            text.push_str(&format!("[[method]]\nname = {m:?}\nprobe = {{ plugin = \"p\" }}\nscore = \"feature\"\n"));
        }
        let workflow = Workflow::parse(&text, "wf.toml").unwrap();
        let problems = ResolvedWorkflow::resolve(Path::new("wf.toml"), workflow, &Registry::default()).unwrap_err();
        problems.0.iter().filter(|p| p.key == key).map(|p| format!("{}: {}", p.key, p.reason)).collect()
    }

    /// The problems of `data.networks` with these networks, hESC trained on and `mine` (a
    /// `[[dataset]]` table) tested.
    fn network_problems(networks: &str, train: &str) -> Vec<String> {
        let text = format!(
            "[backbone]\nplugin = \"b\"\n[data]\nnetworks = {networks}\ntrain = [{train}]\ntest = [\"mine\"]\n\
             [[dataset]]\nname = \"mine\"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
             [[dataset]]\nname = \"other\"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
             [[method]]\nname = \"M\"\nprobe = {{ plugin = \"p\" }}\nscore = \"feature\"\n"
        );
        let workflow = Workflow::parse(&text, "wf.toml").unwrap();
        let problems = ResolvedWorkflow::resolve(Path::new("wf.toml"), workflow, &Registry::default()).unwrap_err();
        problems.0.iter().filter(|p| p.key == "data.networks").map(|p| p.reason.clone()).collect()
    }

    /// Repeated or empty lists and [[dataset]] names that say nothing or the wrong thing.
    #[test]
    fn data_lists_and_dataset_names_are_checked() {
        let text = "[backbone]\nplugin = \"b\"\n[data]\nnetworks = []\ntrain = [\"hESC\", \"hESC\"]\ntest = [\"mine\"]\n\
                    [[dataset]]\nname = \"mine\"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
                    [[dataset]]\nname = \"mine\"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
                    [[dataset]]\nname = \"mDC\"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
                    [[dataset]]\nname = \" \"\nexpression = \"e.csv\"\ntfs = \"t.txt\"\n\
                    [[method]]\nname = \"M\"\nprobe = { plugin = \"p\" }\nscore = \"feature\"\n";
        let workflow = Workflow::parse(text, "wf.toml").unwrap();
        let problems = ResolvedWorkflow::resolve(Path::new("wf.toml"), workflow, &Registry::default()).unwrap_err();
        let got: Vec<String> = problems
            .0
            .iter()
            .filter(|p| p.key.starts_with("data.") || p.key.ends_with(".name"))
            .map(|p| format!("{}: {}", p.key, p.reason))
            .collect();
        assert_eq!(
            got,
            [
                "data.networks: needs at least one network",
                "data.train: lists \"hESC\" twice",
                "dataset[1].name: \"mine\" names an earlier [[dataset]] too",
                "dataset[2].name: \"mDC\" is a BEELINE dataset's name; give yours another",
                "dataset[3].name: is empty",
            ]
        );
    }

    #[test]
    fn a_reference_method_stands_alone_and_is_written_back() {
        let text = |extra: &str| {
            format!(
                "[backbone]\nplugin = \"b\"\n[data]\ntrain = [\"hESC\"]\ntest = [\"mDC\"]\n\
                 [[method]]\nname = \"Degree prior\"\nreference = \"degree-prior\"\n{extra}"
            )
        };
        let resolve = |text: &str| {
            let workflow = Workflow::parse(text, "wf.toml").unwrap();
            ResolvedWorkflow::resolve(Path::new("wf.toml"), workflow, &Registry::default())
        };
        // No plugins are registered, so other problems are reported; none names the method.
        let problems = resolve(&text("")).unwrap_err();
        assert!(problems.0.iter().all(|p| !p.key.starts_with("method")), "{problems}");
        let problems = resolve(&text("score = \"feature\"\n")).unwrap_err();
        let method: Vec<String> =
            problems.0.iter().filter(|p| p.key.starts_with("method")).map(|p| p.to_string()).collect();
        assert_eq!(
            method,
            [
                "wf.toml: method[0] (Degree prior): a `reference` method takes no `probe`, `translator`, `score` or `ensemble`"
            ]
        );
        let kind = MethodKind::Reference(Reference::DegreePrior);
        let table = toml::to_string(&kind.table("Degree prior")).unwrap();
        assert_eq!(table, "name = \"Degree prior\"\nensemble = []\nreference = \"degree-prior\"\n");
    }

    #[test]
    fn the_own_network_needs_every_dataset_to_be_a_table() {
        assert!(network_problems("[\"own\"]", "\"other\"").is_empty());
        assert_eq!(
            network_problems("[\"own\"]", "\"hESC\""),
            ["network \"own\" is each [[dataset]]'s own `edges`, but \"hESC\" is not a [[dataset]] table"]
        );
        assert_eq!(
            network_problems("[\"STRNG\"]", "\"other\""),
            [
                "unknown network \"STRNG\" (known: STRING, Non-Specific, Specific, Lofgof, or \"own\" for [[dataset]] edges)"
            ]
        );
    }

    #[test]
    fn a_run_name_is_one_folder_name() {
        for (name, reason) in [
            ("", "is empty"),
            ("..", "leaves its folder"),
            ("../wf", "is not one folder name (it holds a path separator)"),
            ("/abs", "is not one folder name (it holds a path separator)"),
        ] {
            assert_eq!(
                problems_of(&format!("name = {name:?}"), &["M"], "run.name"),
                [format!("run.name: {name:?} {reason}: it names the folder runs/<name>")]
            );
        }
        assert!(problems_of("name = \"my-run 2\"", &["M"], "run.name").is_empty());
    }

    #[test]
    fn method_names_are_not_empty_and_their_folders_do_not_collide() {
        assert_eq!(
            problems_of("", &["E/b", "E_b"], "method[1] (E_b)"),
            ["method[1] (E_b): its report folder `E_b` would be the same as method \"E/b\"'s: rename one"]
        );
        assert_eq!(problems_of("", &[" "], "method[0] ( )"), ["method[0] ( ): empty method name"]);
    }
}
