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
    let mut context_genes: Option<Result<BTreeMap<String, usize>, String>> = None;
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
        match context_genes.get_or_insert_with(|| vocabulary_genes(workflow, oracle)) {
            Err(e) => problem("data".into(), e.clone()),
            Ok(genes) => {
                let over: Vec<String> = genes
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

/// The most genes in the model's vocabulary of each dataset over the workflow's networks.
fn vocabulary_genes(workflow: &ResolvedWorkflow, oracle: &dyn ModelOracle) -> Result<BTreeMap<String, usize>, String> {
    let data = &workflow.data;
    let mut genes = BTreeMap::new();
    for network in &data.networks {
        let train_network = data.train_network.as_deref().unwrap_or(network);
        let named =
            data.train.iter().map(|d| (train_network, d)).chain(data.test.iter().map(|d| (network.as_str(), d)));
        for (network, name) in named {
            let dataset: Dataset = prepare::load(workflow, network, name).map_err(|e| format!("{e:#}"))?;
            let known = oracle.token_ids(&dataset.genes).iter().filter(|t| t.is_some()).count();
            let most = genes.entry(name.clone()).or_insert(0);
            *most = known.max(*most);
        }
    }
    Ok(genes)
}

/// The first columns and how many follow.
fn shortened(columns: &[String]) -> String {
    match columns {
        [a, b, c, _, ..] => format!("{a}, {b}, {c}, … {} more", columns.len() - 3),
        _ => columns.join(", "),
    }
}
