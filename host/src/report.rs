//! Run reports. Everything is written into a staging folder beside the target and renamed into
//! place at the end, so a report folder is either complete or absent.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::json;
use ugrn_sdk::{Evaluation, ModelInfo};

use crate::data::{Dataset, PairSet};
use crate::plugin::Registry;
use crate::staging;
use crate::translators::{SavedMethod, folder_name};
use crate::workflow::ResolvedWorkflow;

/// What one method produced on one test dataset.
#[derive(Debug, Clone)]
pub enum Outcome {
    Scores(Vec<f32>),
    /// The method does not apply here (e.g. it needs an expression matrix); the reason is shown.
    NotApplicable(String),
    Failed(String),
}

/// One row of the results table: a test dataset under one network.
pub struct Row {
    pub network: String,
    pub dataset: Dataset,
    pub set: PairSet,
    pub notes: Vec<String>,
    pub evaluations: BTreeMap<String, (Outcome, Option<Evaluation>)>,
}

/// The finished report.
pub struct Report {
    pub folder: PathBuf,
    pub methods: Vec<String>,
    /// (row label, per method: AUPRC or a short status)
    pub table: Vec<(String, Vec<String>)>,
    /// Per row: the test set's chance AUPRC (positives / pairs) with its counts.
    pub chance: Vec<String>,
    /// (row label, per method: AUROC or a short status)
    pub auroc: Vec<(String, Vec<String>)>,
    pub footnotes: Vec<String>,
}

impl Report {
    /// How many table cells hold an evaluated result (an AUPRC).
    pub fn evaluated_cells(&self) -> usize {
        self.table.iter().flat_map(|(_, cells)| cells).filter(|c| c.parse::<f64>().is_ok_and(f64::is_finite)).count()
    }

    /// The datasets × methods AUPRC table as Markdown, as the paper's Table 1, with each test
    /// set's chance level (a random scorer's AUPRC: positives / pairs) beside it.
    pub fn table_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "| network / dataset | chance | {} |", self.methods.join(" | "));
        let _ = writeln!(s, "|---|---|{}", "---|".repeat(self.methods.len()));
        for ((label, cells), chance) in self.table.iter().zip(&self.chance) {
            let _ = writeln!(s, "| {label} | {chance} | {} |", cells.join(" | "));
        }
        if !self.footnotes.is_empty() {
            s.push('\n');
            for f in &self.footnotes {
                let _ = writeln!(s, "{f}");
            }
        }
        s
    }
}

/// A folder written whole or not at all: everything goes into a staging folder beside the
/// target, renamed into place by `publish`; dropped unpublished, the staging folder is removed.
pub struct StagedFolder {
    folder: PathBuf,
    staging: tempfile::TempDir,
    force: bool,
}

/// The file that marks a folder as ugrn's output, the only kind `--force` may replace.
pub const MARKER: &str = ".ugrn-output";

impl StagedFolder {
    /// Creates the staging folder; refuses an existing `folder` unless forced, and even then
    /// unless it is a folder ugrn wrote (it holds [`MARKER`]): `--force` never removes a user's
    /// folder or file.
    pub fn begin(folder: &Path, force: bool) -> anyhow::Result<StagedFolder> {
        if folder.exists() || folder.is_symlink() {
            if !force {
                bail!("{} already exists: pass --force to replace it, or --output NEW_FOLDER", folder.display());
            }
            if !folder.join(MARKER).is_file() || folder.is_symlink() {
                bail!(
                    "{} exists and is not a folder ugrn wrote (no {MARKER} in it): --force replaces only \
                     ugrn's own output; choose another --output",
                    folder.display()
                );
            }
        }
        let parent = match folder.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        staging::remove_stale(&parent, staging::STAGING);
        let staging = tempfile::Builder::new()
            .prefix(&staging::prefix(staging::STAGING))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
        std::fs::write(staging.path().join(MARKER), "written by ugrn; `--force` may replace this folder\n")
            .with_context(|| format!("writing in {}", staging.path().display()))?;
        Ok(StagedFolder { folder: folder.to_path_buf(), staging, force })
    }

    /// Where to write.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// The folder it becomes.
    pub fn target(&self) -> &Path {
        &self.folder
    }

    /// Moves the staging folder into place (replacing an old one only when forced).
    pub fn publish(self) -> anyhow::Result<()> {
        let staging = self.staging.keep();
        if self.folder.exists() {
            if !self.force {
                // Renamed out of the staging names that a later run cleans up.
                let kept = staging.with_extension("kept");
                let stays = if std::fs::rename(&staging, &kept).is_ok() { kept } else { staging };
                bail!("{} appeared during the run; the output stays in {}", self.folder.display(), stays.display());
            }
            let old = staging.with_extension("old");
            std::fs::rename(&self.folder, &old).with_context(|| format!("moving {} aside", self.folder.display()))?;
            if let Err(e) = std::fs::rename(&staging, &self.folder) {
                // Put the old folder back: a failed replacement must not lose it.
                let _ = std::fs::rename(&old, &self.folder);
                return Err(e).with_context(|| format!("moving {} to {}", staging.display(), self.folder.display()));
            }
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        } else {
            std::fs::rename(&staging, &self.folder)
                .with_context(|| format!("moving {} to {}", staging.display(), self.folder.display()))?;
        }
        Ok(())
    }
}

/// A run's report, staged until it is complete.
pub struct ReportWriter {
    staged: StagedFolder,
}

impl ReportWriter {
    pub fn begin(folder: &Path, force: bool) -> anyhow::Result<ReportWriter> {
        Ok(ReportWriter { staged: StagedFolder::begin(folder, force)? })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        self,
        workflow: &ResolvedWorkflow,
        registry: &Registry,
        model: &ModelInfo,
        methods: Vec<String>,
        rows: Vec<Row>,
        saved: &[SavedMethod],
        timings: Vec<(String, f64)>,
        log: Vec<String>,
    ) -> anyhow::Result<Report> {
        let dir = self.staged.path();
        for method in saved {
            let m = &method.manifest;
            method.write(&dir.join("translators").join(folder_name(&m.network)).join(folder_name(&m.method)))?;
        }
        const METRICS: [&str; 7] = ["AUPRC", "AUROC", "AUPRC ratio", "EP", "EPR", "positives", "negatives"];

        let mut table = Vec::new();
        let mut chance = Vec::new();
        let mut auroc = Vec::new();
        let mut footnotes: Vec<String> = Vec::new();
        let mut csv = csv::Writer::from_path(dir.join("results.csv"))?;
        let mut header = vec!["network", "dataset", "method", "status"];
        header.extend(METRICS);
        header.push("reason");
        csv.write_record(&header)?;
        let mut json_rows = Vec::new();
        for row in &rows {
            let label = format!("{} / {}", row.network, row.dataset.name);
            let mut cells = Vec::new();
            let mut json_methods = serde_json::Map::new();
            for method in &methods {
                let (status, reason, evaluation) = match row.evaluations.get(method) {
                    Some((Outcome::Scores(_), Some(e))) => ("ok", String::new(), Some(e)),
                    Some((Outcome::Scores(_), None)) => ("failed", "not evaluated".to_string(), None),
                    Some((Outcome::NotApplicable(r), _)) => ("n/a", r.clone(), None),
                    Some((Outcome::Failed(r), _)) => ("failed", r.clone(), None),
                    None => ("n/a", "not run".to_string(), None),
                };
                let cell = match evaluation.and_then(|e| e.metric("AUPRC")) {
                    Some(v) => format!("{v:.3}"),
                    None => {
                        footnotes.push(format!("[{}] {label}, {method}: {status}: {reason}", footnotes.len() + 1));
                        format!("{status} [{}]", footnotes.len())
                    }
                };
                cells.push(cell);
                let mut record =
                    vec![row.network.clone(), row.dataset.name.clone(), method.clone(), status.to_string()];
                for m in METRICS {
                    record.push(evaluation.and_then(|e| e.metric(m)).map(|v| v.to_string()).unwrap_or_default());
                }
                record.push(reason.clone());
                csv.write_record(&record)?;
                json_methods.insert(
                    method.clone(),
                    json!({
                        "status": status,
                        "reason": reason,
                        "metrics": evaluation.map(|e| e.metrics.iter().map(|m| (m.name.clone(), json!(m.value))).collect::<serde_json::Map<_, _>>()),
                    }),
                );
                if let Some((Outcome::Scores(scores), _)) = row.evaluations.get(method) {
                    write_ranked_edges(
                        &dir.join("edges").join(folder_name(&row.network)).join(folder_name(&row.dataset.name)),
                        method,
                        row,
                        scores,
                    )?;
                }
            }
            let positives = row.set.labels.iter().filter(|&&l| l).count();
            let pairs = row.set.labels.len();
            // Each method's curve, named with its AUPRC, over the set's chance level.
            let series: Vec<crate::plots::Series<'_>> = methods
                .iter()
                .filter_map(|m| {
                    let (_, e) = row.evaluations.get(m)?;
                    let e = e.as_ref()?;
                    let curve = e.curves.iter().find(|c| c.name == "PR")?;
                    let name = match e.metric("AUPRC") {
                        Some(auprc) => format!("{m} (AUPRC {auprc:.3})"),
                        None => m.clone(),
                    };
                    Some(crate::plots::Series { name, points: curve.points.as_slice() })
                })
                .collect();
            if !series.is_empty() {
                let plots = dir.join("plots");
                std::fs::create_dir_all(&plots)?;
                let chance = (pairs > 0).then(|| positives as f64 / pairs as f64);
                crate::plots::precision_recall(
                    &plots.join(format!("{}_{}_pr", folder_name(&row.network), folder_name(&row.dataset.name))),
                    &format!("{label}: precision-recall"),
                    &series,
                    chance,
                )
                .map_err(|e| anyhow::anyhow!("plotting {label}: {e}"))?;
            }
            chance.push(format!("{:.3} ({positives}/{pairs})", positives as f64 / pairs.max(1) as f64));
            let auroc_cells: Vec<String> = methods
                .iter()
                .map(|m| match row.evaluations.get(m).and_then(|(_, e)| e.as_ref()).and_then(|e| e.metric("AUROC")) {
                    Some(v) => format!("{v:.3}"),
                    None => "–".to_string(),
                })
                .collect();
            auroc.push((label.clone(), auroc_cells));
            table.push((label, cells));
            json_rows.push(json!({
                "network": row.network,
                "dataset": row.dataset.name,
                "expression": row.dataset.expression_source,
                "pairs": {
                    "evaluated": row.set.pairs.len(),
                    "positives": row.set.labels.iter().filter(|&&l| l).count(),
                    "negatives": row.set.labels.iter().filter(|&&l| !l).count(),
                    "counts": row.set.counts,
                },
                "notes": row.notes,
                "methods": json_methods,
            }));
        }
        csv.flush()?;

        let plugins: Vec<serde_json::Value> = registry
            .plugins()
            .map(|p| json!({"name": p.info.name, "kind": p.info.kind, "version": p.info.version, "file": p.file.display().to_string()}))
            .collect();
        let results = json!({
            "ugrn_version": env!("CARGO_PKG_VERSION"),
            "git_commit": env!("UGRN_GIT_COMMIT"),
            "workflow": workflow.file.display().to_string(),
            "model": model,
            "plugins": plugins,
            "methods": methods,
            "rows": json_rows,
            "timings_seconds": timings.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&results)?)?;
        std::fs::write(dir.join("workflow.resolved.toml"), workflow.to_toml())?;
        std::fs::write(dir.join("run.log"), log.join("\n") + "\n")?;

        let report = Report { folder: self.staged.target().to_path_buf(), methods, table, chance, auroc, footnotes };
        let mut md = String::new();
        let _ = writeln!(md, "# ugrn results: {}\n", workflow.run.name);
        let _ = writeln!(
            md,
            "Backbone `{}` ({}), checkpoint `{}` (sha256 `{}`), device {}.\n\nAUPRC per test dataset (rows) and method (columns); the translator is trained on {} and applied zero-shot.\n",
            model.family,
            workflow.backbone.plugin,
            model.checkpoint,
            model.checkpoint_sha256,
            model.device,
            workflow.data.train.join(", ")
        );
        md.push_str(&report.table_markdown());
        let _ = writeln!(
            md,
            "\nCompare a method with its row's chance level: with one negative per positive it is 0.5 (the paper's balanced sets).\n\n## AUROC\n"
        );
        let _ = writeln!(md, "| network / dataset | {} |", report.methods.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(report.methods.len()));
        for (label, cells) in &report.auroc {
            let _ = writeln!(md, "| {label} | {} |", cells.join(" | "));
        }
        let _ = writeln!(md, "\n## Pairs\n");
        let _ = writeln!(
            md,
            "| network / dataset | positives | negatives | candidates | eligible non-edges | edges not candidates | edges not eligible |\n|---|---:|---:|---:|---:|---:|---:|"
        );
        for row in &rows {
            let c = &row.set.counts;
            let _ = writeln!(
                md,
                "| {} / {} | {} | {} | {} | {} | {} | {} |",
                row.network,
                row.dataset.name,
                c.positives,
                c.negatives,
                c.candidates,
                c.non_edges,
                c.edges_not_candidates,
                c.edges_not_eligible
            );
        }
        for row in rows.iter().filter(|r| !r.notes.is_empty()) {
            let _ = writeln!(md, "\n{} / {}:\n", row.network, row.dataset.name);
            for n in &row.notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(md, "\n## Timings\n");
        for (k, v) in &timings {
            let _ = writeln!(md, "- {k}: {v:.2} s");
        }
        std::fs::write(dir.join("results.md"), md)?;

        self.staged.publish()?;
        Ok(report)
    }
}

/// BEELINE's `rankedEdges.csv`: tab-separated Gene1, Gene2, EdgeWeight, best first.
fn write_ranked_edges(dir: &Path, method: &str, row: &Row, scores: &[f32]) -> anyhow::Result<()> {
    let dir = dir.join(folder_name(method));
    std::fs::create_dir_all(&dir)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = String::from("Gene1\tGene2\tEdgeWeight\n");
    for i in order {
        let p = row.set.pairs[i];
        let _ = writeln!(out, "{}\t{}\t{}", row.dataset.genes[p.source], row.dataset.genes[p.target], scores[i]);
    }
    std::fs::write(dir.join("rankedEdges.csv"), out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(folder: &Path, file: &str, force: bool) -> anyhow::Result<()> {
        let staged = StagedFolder::begin(folder, force)?;
        std::fs::write(staged.path().join(file), "x")?;
        staged.publish()
    }

    #[test]
    fn force_replaces_only_a_folder_ugrn_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write(&out, "a", false).unwrap();
        assert!(out.join(MARKER).is_file() && out.join("a").is_file());
        let e = write(&out, "b", false).unwrap_err().to_string();
        assert_eq!(e, format!("{} already exists: pass --force to replace it, or --output NEW_FOLDER", out.display()));
        write(&out, "b", true).unwrap();
        assert!(out.join("b").is_file() && !out.join("a").exists());

        // A user's folder or file is never replaced, forced or not.
        let mine = dir.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("keep"), "data").unwrap();
        let afile = dir.path().join("afile");
        std::fs::write(&afile, "data").unwrap();
        for target in [&mine, &afile] {
            let e = write(target, "b", true).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "{} exists and is not a folder ugrn wrote (no {MARKER} in it): --force replaces only \
                     ugrn's own output; choose another --output",
                    target.display()
                )
            );
        }
        assert_eq!(std::fs::read_to_string(mine.join("keep")).unwrap(), "data");
        assert_eq!(std::fs::read_to_string(&afile).unwrap(), "data");
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        left.sort();
        assert_eq!(left, ["afile", "mine", "out"], "no staging folder left");
    }
}
