//! Prepare data: a network's training and test datasets, loaded, with their pairs sampled among
//! the genes the model knows (and, for test sets, that no training pair uses).
use std::collections::BTreeSet;

use ugrn_sdk::ModelOracle;

use super::Runner;
use crate::data::{self, Dataset, NegativeSet, PairSet};
use crate::workflow::ResolvedWorkflow;

/// A dataset prepared for one network: pairs whose genes the model knows, with counts.
pub(super) struct Prepared {
    pub dataset: Dataset,
    pub set: PairSet,
    /// What loading and sampling left out, for the report's row.
    pub notes: Vec<String>,
}

/// A training dataset with its pairs split into training and validation (early stopping).
pub(super) struct Training {
    pub prepared: Prepared,
    pub train: PairSet,
    pub validation: PairSet,
}

/// One network's data: what translators train on and what every method is tested on.
pub(super) struct NetworkData {
    /// The network the training labels are from.
    pub train_network: String,
    pub training: Vec<Training>,
    pub tests: Vec<Prepared>,
}

/// The training datasets (labelled by `data.train_network` when set) and the test datasets of
/// `network`, one test set per negative set. With `exclude_train_genes` (the default), every
/// gene a training pair uses is left out of the test datasets before their pairs are drawn, so
/// test pairs share no gene with training pairs and each test set stays balanced.
pub(super) fn network(runner: &mut Runner<'_>, network: &str) -> anyhow::Result<NetworkData> {
    let wf = runner.workflow;
    let data = &wf.data;
    let train_network = data.train_network.as_deref().unwrap_or(network);
    let mut train = Vec::new();
    for name in &data.train {
        let dataset = load(wf, train_network, name)?;
        train.push(prepare(runner, train_network, dataset, NegativeSet::Uniform, &BTreeSet::new()));
    }
    let train_genes: BTreeSet<String> = train
        .iter()
        .flat_map(|p| {
            p.set.pairs.iter().flat_map(|pair| [pair.source, pair.target]).map(|g| p.dataset.genes[g].clone())
        })
        .collect();
    let excluded = if data.exclude_train_genes { train_genes } else { BTreeSet::new() };
    let mut tests = Vec::new();
    for name in &data.test {
        let dataset = load(wf, network, name)?;
        for &set in &data.negative_sets {
            let mut dataset = dataset.clone();
            if set != NegativeSet::Uniform {
                dataset.name = format!("{name} [{}]", set.as_str());
            }
            tests.push(prepare(runner, network, dataset, set, &excluded));
        }
    }
    let training = train
        .into_iter()
        .map(|prepared| {
            let (train, validation) = data::split_validation(&prepared.set, data.validation_fraction, wf.run.seed);
            Training { prepared, train, validation }
        })
        .collect();
    Ok(NetworkData { train_network: train_network.to_string(), training, tests })
}

/// Dataset `name` as labelled by `network`: a `[[dataset]]` table or a BEELINE dataset.
pub(super) fn load(wf: &ResolvedWorkflow, network: &str, name: &str) -> anyhow::Result<Dataset> {
    Ok(match wf.datasets.iter().find(|d| d.name == name) {
        Some(spec) => data::load_user_dataset(spec)?,
        None => data::BeelineSource { roots: wf.data.roots.clone() }.load(network, name, wf.data.size)?,
    })
}

/// Samples a dataset's pairs among the genes in the model's vocabulary and not in `excluded`.
fn prepare(
    runner: &mut Runner<'_>,
    network: &str,
    dataset: Dataset,
    negative_set: NegativeSet,
    excluded: &BTreeSet<String>,
) -> Prepared {
    let wf = runner.workflow;
    let tokens = runner.oracle.token_ids(&dataset.genes);
    let known = |g: usize| tokens[g].is_some();
    let eligible = |g: usize| known(g) && !excluded.contains(&dataset.genes[g]);
    let set = data::sample_pairs(&dataset, wf.data.negatives.into(), negative_set, wf.run.seed, eligible);
    let mut notes: Vec<String> = dataset.notes.iter().chain(&set.notes).cloned().collect();
    let missing: Vec<&str> =
        dataset.genes.iter().zip(&tokens).filter(|(_, t)| t.is_none()).map(|(g, _)| g.as_str()).collect();
    if !missing.is_empty() {
        let first: Vec<&str> = missing.iter().take(8).copied().collect();
        notes.push(format!(
            "{} of {} genes are not in the model's vocabulary (first: {})",
            missing.len(),
            dataset.genes.len(),
            first.join(", ")
        ));
    }
    if !excluded.is_empty() {
        let genes = (0..dataset.genes.len()).filter(|&g| known(g) && !eligible(g)).count();
        let edges = dataset
            .edges
            .iter()
            .filter(|e| e.source != e.target && dataset.tfs.binary_search(&e.source).is_ok())
            .filter(|e| known(e.source) && known(e.target) && !(eligible(e.source) && eligible(e.target)))
            .count();
        notes.push(format!(
            "exclude_train_genes: {genes} of its vocabulary genes are used by training pairs and left out \
             before sampling, with the {edges} ground-truth edges that use them"
        ));
    }
    let left_out = set.counts.edges_not_eligible;
    if left_out > 0 {
        notes.push(format!(
            "{left_out} ground-truth edges left out because a gene is not eligible (outside the \
             vocabulary or excluded); negatives are drawn among the genes that are"
        ));
    }
    for n in &notes {
        runner.note(format!("{network} / {}: {n}", dataset.name));
    }
    Prepared { dataset, set, notes }
}

/// The run log's account of how `network`'s training pairs were split.
pub(super) fn log_training_splits(runner: &mut Runner<'_>, network: &str, training: &[Training]) {
    for t in training {
        runner.log.push(format!(
            "{network} / {} (train): {} training pairs, {} validation pairs; {:?}",
            t.prepared.dataset.name,
            t.train.pairs.len(),
            t.validation.pairs.len(),
            t.prepared.set.counts
        ));
    }
}
