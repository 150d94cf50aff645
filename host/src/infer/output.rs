//! What an inference writes: `edges.tsv` (arboreto/pySCENIC adjacency convention, with the
//! probability and the logit), BEELINE's `rankedEdges.csv`, `summary.md`, the score
//! distribution plot and, on request, `grn.h5ad` (scPRINT's `varp["GRN"]` convention).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::Inference;
use crate::data::Dataset;
use crate::grn_h5ad::{GrnEdge, write_grn_h5ad};
use crate::translators::SavedKind;

/// How many of the best edges the summary's regulator table counts when `--top` is not given.
const SUMMARY_TOP: usize = 1000;

fn write_file(path: &Path, contents: String) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// Writes every output into `dir`; returns the summary's headline for the command line.
pub(super) fn write(
    dir: &Path,
    inference: &Inference<'_>,
    dataset: &Dataset,
    base: &str,
    logits: &[f32],
    timings: &[(String, f64)],
) -> anyhow::Result<String> {
    let genes = &dataset.genes;
    let pairs = &inference.candidates.pairs;
    // Best first; equal logits in gene-name order, so the file does not depend on pair order.
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| {
        let name = |i: usize| (&genes[pairs[i].source], &genes[pairs[i].target]);
        logits[b].total_cmp(&logits[a]).then_with(|| name(a).cmp(&name(b)))
    });
    let written = inference.options.top.map_or(order.len(), |k| k.min(order.len()));
    let order = &order[..written];

    let mut edges = String::from("TF\ttarget\tscore\tlogit\trank\n");
    let mut ranked = String::from("Gene1\tGene2\tEdgeWeight\n");
    for (rank, &i) in order.iter().enumerate() {
        let (tf, target) = (&genes[pairs[i].source], &genes[pairs[i].target]);
        let _ = writeln!(edges, "{tf}\t{target}\t{:.6}\t{}\t{}", sigmoid(logits[i]), logits[i], rank + 1);
        let _ = writeln!(ranked, "{tf}\t{target}\t{}", logits[i]);
    }
    write_file(&dir.join("edges.tsv"), edges)?;
    write_file(&dir.join("rankedEdges.csv"), ranked)?;
    if inference.options.h5ad {
        let edges: Vec<GrnEdge> = order
            .iter()
            .map(|&i| GrnEdge {
                source: pairs[i].source,
                target: pairs[i].target,
                score: sigmoid(logits[i]) as f32,
                logit: logits[i],
            })
            .collect();
        write_grn_h5ad(&dir.join("grn.h5ad"), genes, &edges)?;
    }

    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    let scores: Vec<f64> = logits.iter().map(|&l| sigmoid(l)).collect();
    crate::plots::histogram(
        &plots.join("score_distribution"),
        &format!("{}: scores of {} pairs", inference.manifest.method, pairs.len()),
        "P(TF regulates target)",
        &scores,
    )
    .map_err(|e| anyhow::anyhow!("plotting the score distribution: {e}"))?;

    let summary = summary(inference, dataset, base, logits, order, timings);
    let headline = summary.lines().skip(2).take_while(|l| !l.starts_with("## ")).collect::<Vec<_>>().join("\n");
    write_file(&dir.join("summary.md"), summary)?;
    Ok(headline.trim().to_string())
}

fn summary(
    inference: &Inference<'_>,
    dataset: &Dataset,
    base: &str,
    logits: &[f32],
    order: &[usize],
    timings: &[(String, f64)],
) -> String {
    let Inference { options, manifest, members, tfs, candidates, known, checkpoint, other_checkpoint } = inference;
    let known_genes = known.iter().filter(|&&k| k).count();
    let genes = &dataset.genes;
    let pairs = &candidates.pairs;
    let mut md = String::new();
    let _ = writeln!(md, "# ugrn infer: {}\n", dataset.name);
    let _ = writeln!(
        md,
        "Scored {} pairs of {} with the saved method **{}** ({}); best {} written to edges.tsv and \
         rankedEdges.csv{}.\n",
        pairs.len(),
        options.expression.display(),
        manifest.method,
        options.translator.display(),
        order.len(),
        if options.h5ad { " and grn.h5ad (varp[\"GRN\"], uns[\"grn_edges\"])" } else { "" }
    );

    let _ = writeln!(md, "## Input\n");
    let unknown: Vec<&str> = (0..genes.len()).filter(|&g| !known[g]).take(10).map(|g| genes[g].as_str()).collect();
    let _ = writeln!(
        md,
        "- genes: {} in the expression file ({} cells), {known_genes} in the model's vocabulary, {} not{}",
        genes.len(),
        dataset.expression.as_ref().map_or(0, |e| e.cell_names.len()),
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
                pairs.len(),
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
                pairs.len()
            );
        }
    }
    let _ = writeln!(md, "- cells the source was changed in: {base}\n");

    let _ = writeln!(md, "## Top edges\n");
    let _ = writeln!(md, "| rank | TF | target | score | logit |\n|---:|---|---|---:|---:|");
    for (rank, &i) in order.iter().take(20).enumerate() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.4} | {:.3} |",
            rank + 1,
            genes[pairs[i].source],
            genes[pairs[i].target],
            sigmoid(logits[i]),
            logits[i]
        );
    }
    let k = options.top.unwrap_or(SUMMARY_TOP).min(order.len());
    let mut out_degree: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in &order[..k] {
        *out_degree.entry(genes[pairs[i].source].as_str()).or_default() += 1;
    }
    let mut regulators: Vec<(&str, usize)> = out_degree.into_iter().collect();
    regulators.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let _ = writeln!(md, "\n## Top regulators\n\nOut-degree among the best {k} edges:\n");
    let _ = writeln!(md, "| TF | targets |\n|---|---:|");
    for (tf, n) in regulators.iter().take(20) {
        let _ = writeln!(md, "| {tf} | {n} |");
    }

    let mut sorted: Vec<f64> = logits.iter().map(|&l| sigmoid(l)).collect();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    let _ = writeln!(
        md,
        "\n## Score distribution\n\nAll {} pairs: min {:.4}, 25% {:.4}, median {:.4}, 75% {:.4}, max {:.4}; \
         {} above 0.5.\n\n![score distribution](plots/score_distribution.svg)\n",
        sorted.len(),
        q(0.0),
        q(0.25),
        q(0.5),
        q(0.75),
        q(1.0),
        sorted.iter().filter(|&&s| s > 0.5).count()
    );

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
    let _ = writeln!(md, "\n## Timings\n");
    for (k, v) in timings {
        let _ = writeln!(md, "- {k}: {v:.2} s");
    }
    md
}
