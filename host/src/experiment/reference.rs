//! Reference scores that need no model, from the training labels only (no plugin sees them):
//! what gene identity carried from training to test datasets is worth.
use std::collections::{BTreeSet, HashMap};

use super::prepare::NetworkData;
use crate::data::Dataset;
use crate::report::Outcome;

/// The degree prior of every test pair: the source's out-degree plus the target's in-degree in
/// the training datasets' networks, genes matched by upper-cased name (human and mouse symbols
/// alike), 0 for genes those networks lack. Each distinct edge of each training dataset counts
/// once; self-loops do not count.
pub(super) fn degree_prior(data: &NetworkData) -> Vec<Outcome> {
    let mut out_degree: HashMap<String, u32> = HashMap::new();
    let mut in_degree: HashMap<String, u32> = HashMap::new();
    for training in &data.training {
        let dataset = &training.prepared.dataset;
        for (source, target) in named_edges(dataset) {
            *out_degree.entry(source).or_default() += 1;
            *in_degree.entry(target).or_default() += 1;
        }
    }
    data.tests
        .iter()
        .map(|test| {
            let name = |g: usize| test.dataset.genes[g].to_uppercase();
            let degree = |table: &HashMap<String, u32>, g: usize| table.get(&name(g)).copied().unwrap_or(0);
            let scores = test
                .set
                .pairs
                .iter()
                .map(|p| (degree(&out_degree, p.source) + degree(&in_degree, p.target)) as f32)
                .collect();
            Outcome::Scores(scores)
        })
        .collect()
}

/// `dataset`'s ground-truth edges by upper-cased gene name, distinct, without self-loops.
fn named_edges(dataset: &Dataset) -> BTreeSet<(String, String)> {
    dataset
        .edges
        .iter()
        .map(|e| (dataset.genes[e.source].to_uppercase(), dataset.genes[e.target].to_uppercase()))
        .filter(|(s, t)| s != t)
        .collect()
}

#[cfg(test)]
mod tests {
    use ugrn_sdk::Pair;

    use super::*;
    use crate::data::PairSet;
    use crate::experiment::prepare::{Prepared, Training};

    fn dataset(genes: &[&str], edges: &[(usize, usize)]) -> Dataset {
        Dataset {
            name: "toy".into(),
            network: "custom".into(),
            size: None,
            genes: genes.iter().map(|g| g.to_string()).collect(),
            tfs: Vec::new(),
            edges: edges.iter().map(|&(source, target)| Pair { source, target }).collect(),
            expression: None,
            expression_source: String::new(),
            notes: Vec::new(),
        }
    }

    fn prepared(dataset: Dataset, pairs: &[(usize, usize)]) -> Prepared {
        let pairs: Vec<Pair> = pairs.iter().map(|&(source, target)| Pair { source, target }).collect();
        let set = PairSet { labels: vec![false; pairs.len()], pairs, counts: Default::default(), notes: Vec::new() };
        Prepared { dataset, set, notes: Vec::new() }
    }

    #[test]
    fn degree_prior_adds_the_training_out_and_in_degrees_by_name() {
        // Training: A→B, A→C, B→C, a self-loop C→C (not counted), and A→B again in a second
        // dataset with mouse-cased names. Out: A 3, B 1; in: B 2, C 2.
        let train = [dataset(&["A", "B", "C"], &[(0, 1), (0, 2), (1, 2), (2, 2)]), dataset(&["a", "b"], &[(0, 1)])];
        let training = train
            .into_iter()
            .map(|d| Training {
                prepared: prepared(d, &[]),
                train: prepared(dataset(&[], &[]), &[]).set,
                validation: prepared(dataset(&[], &[]), &[]).set,
            })
            .collect();
        // Test pairs over genes the training networks name in another case, and one they lack.
        let test = prepared(dataset(&["c", "B", "a", "Z"], &[]), &[(2, 0), (1, 0), (0, 2), (3, 1), (2, 3)]);
        let data = NetworkData { train_network: "custom".into(), training, tests: vec![test] };
        let outcomes = degree_prior(&data);
        let [Outcome::Scores(scores)] = outcomes.as_slice() else { panic!("one test set scored: {outcomes:?}") };
        // a→c: 3 + 2; B→c: 1 + 2; c→a: 0 + 0; Z→B: 0 + 2; a→Z: 3 + 0.
        assert_eq!(*scores, [5.0, 3.0, 0.0, 2.0, 3.0]);
    }
}
