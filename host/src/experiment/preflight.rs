//! Check against the model: what a run's cells would refuse once the backbone is loaded, found
//! before any cell is computed. `ugrn check` runs it after the file's own checks pass.
use std::collections::BTreeMap;

use ugrn_sdk::{ModelInfo, ModelOracle};

use super::prepare;
use crate::data::Dataset;
use crate::plugin::Registry;
use crate::workflow::{MethodKind, Problem, Problems, ResolvedPlugin, ResolvedWorkflow};

/// Every problem of `workflow` against its loaded model: a probe's parameters the model cannot
/// take (e.g. an attention layer it does not have), a direct score on a probe of several
/// columns, and datasets with more vocabulary genes than the model's context for probes in
/// `dataset` context (listed per method, with each dataset's count).
pub fn against_model(workflow: &ResolvedWorkflow, registry: &Registry, oracle: &dyn ModelOracle) -> Problems {
    let file = workflow.file.display().to_string();
    let info = oracle.info();
    let mut problems = Vec::new();
    let mut problem = |key: String, reason: String| problems.push(Problem { file: file.clone(), key, reason });
    let mut counts: Option<Result<VocabularyGenes, String>> = None;
    let mut load_failure_reported = false;
    for (i, (name, kind)) in workflow.methods.iter().enumerate() {
        let key = format!("method[{i}] ({name})");
        let (probe, direct) = match kind {
            MethodKind::Translated { probe, .. } => (probe, false),
            MethodKind::Direct { probe, .. } => (probe, true),
            MethodKind::Ensemble { .. } | MethodKind::Reference(_) => continue,
        };
        match probe_columns(registry, probe, info) {
            Err(reason) => problem(format!("{key}.probe"), format!("{reason} [plugin {}]", probe.plugin)),
            Ok(Some(columns)) if direct && columns.len() != 1 => problem(
                format!("{key}.score"),
                format!(
                    "a direct score needs a probe with one feature column; {} gives {} ({}) on this model: \
                     give it a translator",
                    probe.plugin,
                    columns.len(),
                    shortened(&columns)
                ),
            ),
            Ok(_) => {}
        }
        if probe.params.str("context").ok() != Some("dataset") {
            continue;
        }
        match counts.get_or_insert_with(|| vocabulary_genes(workflow, oracle)) {
            Err(e) if !load_failure_reported => {
                load_failure_reported = true;
                problem("data".into(), e.clone());
            }
            Err(_) => {}
            Ok(counts) => {
                // A direct method computes features of the test datasets only.
                let probed = if direct { vec![&counts.test] } else { vec![&counts.train, &counts.test] };
                let mut most: BTreeMap<&str, usize> = BTreeMap::new();
                for (dataset, &n) in probed.into_iter().flatten() {
                    let m = most.entry(dataset.as_str()).or_insert(0);
                    *m = n.max(*m);
                }
                let over: Vec<String> = most
                    .iter()
                    .filter(|&(_, &n)| n > info.max_context)
                    .map(|(dataset, n)| format!("{dataset} has {n}"))
                    .collect();
                if !over.is_empty() {
                    problem(
                        format!("{key}.probe.context"),
                        format!(
                            "`dataset` context puts every vocabulary gene of a dataset in one cell, but the model \
                             takes at most {} genes and {}; use context = \"pair\" or a model with a longer context",
                            info.max_context,
                            over.join(", ")
                        ),
                    );
                }
            }
        }
    }
    Problems(problems)
}

fn probe_columns(registry: &Registry, probe: &ResolvedPlugin, info: &ModelInfo) -> Result<Option<Vec<String>>, String> {
    let plugin = registry.probe(&probe.plugin).map_err(|e| e.to_string())?;
    plugin.columns(&probe.params, info).map_err(|e| e.to_string())
}

/// The most genes in the model's vocabulary of each training and each test dataset, over the
/// workflow's networks.
struct VocabularyGenes {
    train: BTreeMap<String, usize>,
    test: BTreeMap<String, usize>,
}

fn vocabulary_genes(workflow: &ResolvedWorkflow, oracle: &dyn ModelOracle) -> Result<VocabularyGenes, String> {
    let data = &workflow.data;
    let mut counts = VocabularyGenes { train: BTreeMap::new(), test: BTreeMap::new() };
    for network in &data.networks {
        let train_network = data.train_network.as_deref().unwrap_or(network);
        let named = data
            .train
            .iter()
            .map(|d| (train_network, d, true))
            .chain(data.test.iter().map(|d| (network.as_str(), d, false)));
        for (network, name, training) in named {
            let dataset: Dataset = prepare::load(workflow, network, name).map_err(|e| format!("{e:#}"))?;
            let known = oracle.token_ids(&dataset.genes).iter().filter(|t| t.is_some()).count();
            let table = if training { &mut counts.train } else { &mut counts.test };
            let most = table.entry(name.clone()).or_insert(0);
            *most = known.max(*most);
        }
    }
    Ok(counts)
}

/// The first columns and how many follow.
fn shortened(columns: &[String]) -> String {
    match columns {
        [a, b, c, _, ..] => format!("{a}, {b}, {c}, … {} more", columns.len() - 3),
        _ => columns.join(", "),
    }
}
