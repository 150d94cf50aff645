//! What an inference writes: `edges.tsv` (arboreto/pySCENIC adjacency convention, with the
//! probability and the logit), BEELINE's `rankedEdges.csv`, `summary.md`, the score
//! distribution plot and, on request, `grn.h5ad` (scPRINT's `varp["GRN"]` convention). The
//! files are written from the merged stream of scored pairs (`scores`), so the edge files hold
//! any number of pairs in bounded memory.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::Inference;
use super::scores::{Merged, Ranking};
use crate::data::Dataset;
use crate::grn_h5ad::{GrnEdge, write_grn_h5ad};
use crate::translators::SavedKind;

/// How many of the best edges the summary's regulator table counts when `--top` is not given.
const SUMMARY_TOP: usize = 1000;

/// The most edges `grn.h5ad` holds: it is assembled in memory (a genes × genes CSR and the
/// edge table), unlike the streamed text files.
pub const MAX_H5AD_EDGES: usize = 1 << 24;

/// Bins of the score histogram.
const HISTOGRAM_BINS: usize = 50;

fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// One network's outputs before it is scored: everything its files say that does not depend
/// on the scores, rendered once where the inputs are known, so that a merge of shards writes
/// exactly what one process would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Where the files go in the output folder: `""`, or `groups/<value>`.
    pub folder: String,
    /// The group and its cells (`T (12 cells)`), prefixing its headline.
    pub label: Option<String>,
    pub genes: Vec<String>,
    pub pairs: usize,
    pub top: Option<usize>,
    pub h5ad: bool,
    pub method: String,
    /// summary.md before its top edges: title, what was scored, the input.
    pub head: String,
    /// summary.md's translator section.
    pub translator: String,
}

impl Part {
    /// Edges written: all, or the best `--top`.
    fn written(&self) -> usize {
        self.top.map_or(self.pairs, |k| k.min(self.pairs))
    }
}

/// The part of `dataset` (the whole dataset, or one group) as `inference` scores it.
pub(super) fn part(
    inference: &Inference<'_>,
    dataset: &Dataset,
    cells: usize,
    base: &str,
    folder: String,
    label: Option<String>,
) -> Part {
    let options = inference.options;
    let pairs = inference.candidates.count();
    let mut part = Part {
        folder,
        label,
        genes: dataset.genes.clone(),
        pairs,
        top: options.top,
        h5ad: options.h5ad,
        method: inference.manifest.method.clone(),
        head: String::new(),
        translator: translator_section(inference),
    };
    part.head = head(inference, dataset, cells, base, part.written());
    part
}

/// Writes a part's files into `dir` from its scored pairs, the sorted `runs`; returns the
/// summary's headline for the command line.
pub(super) fn finish(dir: &Path, part: &Part, runs: &[PathBuf]) -> anyhow::Result<String> {
    let genes = &part.genes;
    let ranking = Ranking::new(genes)?;
    let mut merged = Merged::open(&ranking, runs)?;
    let written = part.written();
    let regulators_of = part.top.unwrap_or(SUMMARY_TOP).min(written);
    // Quantiles of the scores, ascending, at these ranks from the best (the stream's order).
    let quantiles = [0.0, 0.25, 0.5, 0.75, 1.0];
    let at: Vec<usize> = quantiles
        .iter()
        .map(|p| part.pairs.saturating_sub(1) - ((part.pairs.saturating_sub(1)) as f64 * p).round() as usize)
        .collect();
    let mut quantile_values = [0.0f64; 5];
    let mut above_half = 0usize;
    let mut histogram = vec![0usize; HISTOGRAM_BINS];
    let mut top_rows = Vec::new();
    let mut out_degree: BTreeMap<&str, usize> = BTreeMap::new();
    let mut h5ad_edges = Vec::new();

    let create = |name: &str| -> anyhow::Result<BufWriter<File>> {
        let path = dir.join(name);
        Ok(BufWriter::new(File::create(&path).with_context(|| format!("creating {}", path.display()))?))
    };
    let mut edges = create("edges.tsv")?;
    let mut ranked = create("rankedEdges.csv")?;
    writeln!(edges, "TF\ttarget\tscore\tlogit\trank")?;
    writeln!(ranked, "Gene1\tGene2\tEdgeWeight")?;
    let mut count = 0usize;
    while let Some(s) = merged.next()? {
        let score = sigmoid(s.logit);
        let (tf, target) = (&genes[s.source as usize], &genes[s.target as usize]);
        if count < written {
            writeln!(edges, "{tf}\t{target}\t{score:.6}\t{}\t{}", s.logit, count + 1)?;
            writeln!(ranked, "{tf}\t{target}\t{}", s.logit)?;
            if top_rows.len() < 20 {
                top_rows.push((tf.as_str(), target.as_str(), score, s.logit));
            }
            if part.h5ad {
                h5ad_edges.push(GrnEdge {
                    source: s.source as usize,
                    target: s.target as usize,
                    score: score as f32,
                    logit: s.logit,
                });
            }
        }
        if count < regulators_of {
            *out_degree.entry(tf.as_str()).or_default() += 1;
        }
        for (q, &rank) in at.iter().enumerate() {
            if rank == count {
                quantile_values[q] = score;
            }
        }
        above_half += usize::from(score > 0.5);
        histogram[((score.clamp(0.0, 1.0) * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1)] += 1;
        count += 1;
    }
    if count != part.pairs {
        bail!("{}: {count} scored pairs in the score runs, but {} candidates", dir.display(), part.pairs);
    }
    for (name, file) in [("edges.tsv", edges), ("rankedEdges.csv", ranked)] {
        file.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(|| format!("writing {}", dir.join(name).display()))?;
    }
    if part.h5ad {
        write_grn_h5ad(&dir.join("grn.h5ad"), genes, &h5ad_edges)?;
    }

    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    crate::plots::histogram(
        &plots.join("score_distribution"),
        &format!("{}: scores of {} pairs", part.method, part.pairs),
        "P(TF regulates target)",
        &histogram,
    )
    .map_err(|e| anyhow::anyhow!("plotting the score distribution: {e}"))?;

    let mut md = part.head.clone();
    let _ = writeln!(md, "## Top edges\n");
    let _ = writeln!(md, "| rank | TF | target | score | logit |\n|---:|---|---|---:|---:|");
    for (rank, (tf, target, score, logit)) in top_rows.iter().enumerate() {
        let _ = writeln!(md, "| {} | {tf} | {target} | {score:.4} | {logit:.3} |", rank + 1);
    }
    let mut regulators: Vec<(&str, usize)> = out_degree.into_iter().collect();
    regulators.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(md, "\n## Top regulators\n\nOut-degree among the best {regulators_of} edges:\n");
    let _ = writeln!(md, "| TF | targets |\n|---|---:|");
    for (tf, n) in regulators.iter().take(20) {
        let _ = writeln!(md, "| {tf} | {n} |");
    }
    let [min, q1, median, q3, max] = quantile_values;
    let _ = writeln!(
        md,
        "\n## Score distribution\n\nAll {} pairs: min {min:.4}, 25% {q1:.4}, median {median:.4}, 75% {q3:.4}, \
         max {max:.4}; {above_half} above 0.5.\n\n![score distribution](plots/score_distribution.svg)\n",
        part.pairs,
    );
    md.push_str(&part.translator);
    let headline = md.lines().skip(2).take_while(|l| !l.starts_with("## ")).collect::<Vec<_>>().join("\n");
    let path = dir.join("summary.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    let headline = headline.trim();
    Ok(match &part.label {
        Some(label) => format!("{label}: {headline}"),
        None => headline.to_string(),
    })
}

/// summary.md's title, what was scored and its input section.
fn head(inference: &Inference<'_>, dataset: &Dataset, cells: usize, base: &str, written: usize) -> String {
    let Inference { options, manifest, tfs, candidates, known, .. } = inference;
    let known_genes = known.iter().filter(|&&k| k).count();
    let genes = &dataset.genes;
    let pairs = candidates.count();
    let mut md = String::new();
    let _ = writeln!(md, "# ugrn infer: {}\n", dataset.name);
    let _ = writeln!(
        md,
        "Scored {} pairs of {} with the saved method **{}** ({}); best {} written to edges.tsv and \
         rankedEdges.csv{}.\n",
        pairs,
        options.expression.display(),
        manifest.method,
        options.translator.display(),
        written,
        if options.h5ad { " and grn.h5ad (varp[\"GRN\"], uns[\"grn_edges\"])" } else { "" }
    );

    let _ = writeln!(md, "## Input\n");
    let unknown: Vec<&str> = (0..genes.len()).filter(|&g| !known[g]).take(10).map(|g| genes[g].as_str()).collect();
    let _ = writeln!(
        md,
        "- genes: {} in the expression file ({} cells), {known_genes} in the model's vocabulary, {} not{}",
        genes.len(),
        cells,
        genes.len() - known_genes,
        if unknown.is_empty() { String::new() } else { format!(" (first: {})", unknown.join(", ")) }
    );
    let first_unmatched: Vec<&str> = tfs.unmatched.iter().take(10).map(String::as_str).collect();
    let _ = writeln!(
        md,
        "- TFs: {} listed in {}, {} among the genes, {} not{}",
        tfs.listed,
        tfs.source,
        tfs.indices.len(),
        tfs.unmatched.len(),
        if first_unmatched.is_empty() { String::new() } else { format!(" (first: {})", first_unmatched.join(", ")) }
    );
    match &options.pairs {
        Some(file) => {
            let _ = writeln!(
                md,
                "- pairs: the {} listed in {} whose genes the model knows ({} left out; {} with a source \
                 that is not a matched TF)",
                pairs,
                file.display(),
                candidates.unknown,
                candidates.non_tf_sources
            );
            for note in &candidates.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        None => {
            let _ = writeln!(
                md,
                "- pairs: every TF→gene candidate among the genes the model knows, self-pairs excluded: {}",
                pairs
            );
        }
    }
    let _ = writeln!(md, "- cells the source was changed in: {base}\n");
    md
}

/// summary.md's translator section: the saved method's provenance and the checkpoint used.
fn translator_section(inference: &Inference<'_>) -> String {
    let Inference { manifest, members, checkpoint, other_checkpoint, .. } = inference;
    let mut md = String::new();
    let _ = writeln!(md, "## Translator\n");
    let b = &manifest.backbone;
    let _ = writeln!(
        md,
        "- method {} (saved by a run on {}), ugrn {}",
        manifest.method, manifest.network, manifest.ugrn_version
    );
    if let SavedKind::Ensemble { members } = &manifest.method_kind {
        let _ = writeln!(md, "- ensemble: the mean of the logits of {}", members.join(", "));
    }
    for member in members.iter() {
        let params: Vec<String> = member.probe.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        let _ = writeln!(
            md,
            "- {}: probe {} ({}), translator {}, {} feature columns",
            member.method,
            member.probe.plugin,
            params.join(", "),
            member.translator.plugin,
            member.columns.len()
        );
    }
    if let SavedKind::Translated { training, .. } = &manifest.method_kind {
        for d in &training.datasets {
            let _ = writeln!(
                md,
                "- trained on {} ({} labels): {} pairs ({} positive), validation {} ({} positive), seed {}",
                d.dataset,
                training.network,
                d.train_pairs,
                d.train_positives,
                d.validation_pairs,
                d.validation_positives,
                training.seed
            );
        }
        for line in &training.log {
            let _ = writeln!(md, "  - {line}");
        }
    }
    let _ = writeln!(
        md,
        "- backbone {} {} ({}), checkpoint {} (sha256 {})",
        b.plugin.plugin,
        b.plugin.version,
        b.family,
        checkpoint.display(),
        other_checkpoint.as_deref().unwrap_or(&b.checkpoint_sha256)
    );
    if let Some(found) = other_checkpoint {
        let _ = writeln!(
            md,
            "- **another checkpoint than the translator's** (--allow-other-checkpoint): this one's sha256 \
             is {found}, the translator was trained on {} (sha256 {}); scores are not those the \
             translator was validated on",
            b.checkpoint.display(),
            b.checkpoint_sha256
        );
    }
    md
}
