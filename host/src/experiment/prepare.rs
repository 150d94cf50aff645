//! Prepare data: a network's training and test datasets, loaded, with their pairs sampled among
//! the genes the model knows.
use std::collections::BTreeSet;

use ugrn_sdk::ModelOracle;

use super::Runner;
use crate::data::{self, Dataset, PairSet};

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
/// `network`. With `exclude_train_genes`, test pairs using a gene of any training pair are
/// dropped.
pub(super) fn network(runner: &mut Runner<'_>, network: &str) -> anyhow::Result<NetworkData> {
    let wf = runner.workflow;
    let data = &wf.data;
    let train_network = data.train_network.as_deref().unwrap_or(network);
    let mut train = Vec::new();
    for name in &data.train {
        train.push(dataset(runner, train_network, name)?);
    }
    let train_genes: BTreeSet<&str> = train
        .iter()
        .flat_map(|p| {
            p.set.pairs.iter().flat_map(|pair| [pair.source, pair.target]).map(|g| p.dataset.genes[g].as_str())
        })
        .collect();
    let mut tests = Vec::new();
    for name in &data.test {
        let mut prepared = dataset(runner, network, name)?;
        if data.exclude_train_genes {
            let genes = &prepared.dataset.genes;
            let dropped = prepared.set.retain(|p| {
                !train_genes.contains(genes[p.source].as_str()) && !train_genes.contains(genes[p.target].as_str())
            });
            let line = format!("{dropped} test pairs dropped: they use a gene seen in training (exclude_train_genes)");
            runner.note(format!("{network} / {name}: {line}"));
            prepared.notes.push(line);
        }
        tests.push(prepared);
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

/// Loads a dataset and samples its pairs among the genes in the model's vocabulary.
fn dataset(runner: &mut Runner<'_>, network: &str, name: &str) -> anyhow::Result<Prepared> {
    let wf = runner.workflow;
    let dataset = match wf.datasets.iter().find(|d| d.name == name) {
        Some(spec) => data::load_user_dataset(spec)?,
        None => data::BeelineSource { roots: wf.data.roots.clone() }.load(network, name, wf.data.size)?,
    };
    let tokens = runner.oracle.token_ids(&dataset.genes);
    let set = data::sample_pairs(&dataset, wf.data.negatives.into(), wf.run.seed, |g| tokens[g].is_some());
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
    let left_out = set.counts.edges_not_eligible;
    if left_out > 0 {
        notes.push(format!(
            "{left_out} ground-truth edges left out because a gene is not in the vocabulary; \
             negatives are drawn among the genes that are"
        ));
    }
    for n in &notes {
        runner.note(format!("{network} / {name}: {n}"));
    }
    Ok(Prepared { dataset, set, notes })
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
