//! Check against the model: what a run's cells would refuse once the backbone is loaded, found
//! before any cell is computed. `ugrn check` runs it after the file's own checks pass.
use ugrn_sdk::{ModelInfo, ModelOracle};

use crate::plugin::Registry;
use crate::workflow::{MethodKind, Problem, Problems, ResolvedPlugin, ResolvedWorkflow};

/// Every problem of `workflow` against its loaded model: a probe's parameters the model cannot
/// take (e.g. an attention layer it does not have) and a direct score on a probe of several
/// columns. A `dataset` context longer than the model's runs tiled, so it is no problem.
pub fn against_model(workflow: &ResolvedWorkflow, registry: &Registry, oracle: &dyn ModelOracle) -> Problems {
    let file = workflow.file.display().to_string();
    let info = oracle.info();
    let mut problems = Vec::new();
    let mut problem = |key: String, reason: String| problems.push(Problem { file: file.clone(), key, reason });
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
    }
    Problems(problems)
}

fn probe_columns(registry: &Registry, probe: &ResolvedPlugin, info: &ModelInfo) -> Result<Option<Vec<String>>, String> {
    let plugin = registry.probe(&probe.plugin).map_err(|e| e.to_string())?;
    plugin.columns(&probe.params, info).map_err(|e| e.to_string())
}

/// The first columns and how many follow.
fn shortened(columns: &[String]) -> String {
    match columns {
        [a, b, c, _, ..] => format!("{a}, {b}, {c}, … {} more", columns.len() - 3),
        _ => columns.join(", "),
    }
}
