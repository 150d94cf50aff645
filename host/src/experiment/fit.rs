//! Fit and predict: a method's translator trained on the training sets' features, then applied
//! zero-shot to each test set.
use std::time::Instant;

use ugrn_sdk::{Features, LabeledFeatures, Matrix, Pair, Translator};

use super::Runner;
use super::prepare::{NetworkData, Prepared};
use crate::plugin::Hosted;
use crate::report::Outcome;
use crate::translators::{TrainingRecord, TrainingSet};
use crate::workflow::ResolvedPlugin;

/// A fitted translator: its state, the plugin that reads it, and what the saved method records.
pub(super) struct Fitted<'a> {
    pub state: Vec<u8>,
    handle: &'a Hosted<dyn Translator>,
    pub columns: Vec<String>,
    pub training: TrainingRecord,
}

/// The logits `translator` gives each test set after fitting on `probe`'s features of the
/// training sets (a failed fit fails every test set), and the fit itself. Stops early after a
/// sandbox stop.
pub(super) fn translated<'a>(
    runner: &mut Runner<'a>,
    timed_as: &str,
    data: &NetworkData,
    probe: &ResolvedPlugin,
    translator: &ResolvedPlugin,
) -> (Vec<Outcome>, Option<Fitted<'a>>) {
    let fitted = fit(runner, timed_as, data, probe, translator);
    let mut outcomes = Vec::new();
    for test in &data.tests {
        if runner.stopped.is_some() {
            break;
        }
        let scores = fitted
            .as_ref()
            .map_err(Outcome::clone)
            .and_then(|f| predict(runner, timed_as, test, probe, translator, &f.state, f.handle));
        outcomes.push(scores.map_or_else(|o| o, Outcome::Scores));
    }
    (outcomes, fitted.ok())
}

/// Fits `translator` on the training datasets' features, timed as `{timed_as}: fit` (see
/// [`Runner::features`]).
fn fit<'a>(
    runner: &mut Runner<'a>,
    timed_as: &str,
    data: &NetworkData,
    probe: &ResolvedPlugin,
    translator: &ResolvedPlugin,
) -> Result<Fitted<'a>, Outcome> {
    let training = &data.training;
    let handle = runner.registry.translator(&translator.plugin).map_err(|e| Outcome::Failed(e.to_string()))?;
    let mut train_parts = Vec::new();
    let mut valid_parts = Vec::new();
    for t in training {
        let dataset = &t.prepared.dataset;
        let all: Vec<Pair> = t.train.pairs.iter().chain(&t.validation.pairs).copied().collect();
        let f = runner.features(timed_as, probe, dataset, &all).map_err(|e| match runner.outcome(e) {
            Outcome::NotApplicable(r) => Outcome::NotApplicable(format!("training set {}: {r}", dataset.name)),
            o => o,
        })?;
        let n = t.train.pairs.len();
        train_parts.push(LabeledFeatures {
            features: f.select_rows(&(0..n).collect::<Vec<_>>()),
            labels: t.train.labels.clone(),
        });
        valid_parts.push(LabeledFeatures {
            features: f.select_rows(&(n..all.len()).collect::<Vec<_>>()),
            labels: t.validation.labels.clone(),
        });
    }
    let (train_set, valid_set) = (stack(train_parts)?, stack(valid_parts)?);
    let start = Instant::now();
    let fitted = handle.fit(&translator.params, &train_set, &valid_set).map_err(|e| runner.outcome(e.into()))?;
    runner.timings.push((format!("{timed_as}: fit"), start.elapsed().as_secs_f64()));
    for line in &fitted.log {
        runner.log.push(format!("{} on {}: {line}", translator.plugin, probe.plugin));
    }
    let positives = |labels: &[bool]| labels.iter().filter(|&&l| l).count();
    let datasets = training
        .iter()
        .map(|t| TrainingSet {
            dataset: t.prepared.dataset.name.clone(),
            train_pairs: t.train.pairs.len(),
            train_positives: positives(&t.train.labels),
            validation_pairs: t.validation.pairs.len(),
            validation_positives: positives(&t.validation.labels),
        })
        .collect();
    let wf = runner.workflow;
    let training = TrainingRecord { network: data.train_network.clone(), datasets, seed: wf.run.seed, log: fitted.log };
    Ok(Fitted { state: fitted.state, handle, columns: train_set.features.columns, training })
}

/// The training sets' features and labels as one set.
fn stack(parts: Vec<LabeledFeatures>) -> Result<LabeledFeatures, Outcome> {
    let columns = parts.first().map(|p| p.features.columns.clone()).unwrap_or_default();
    let values = Matrix::vstack(&parts.iter().map(|p| p.features.values.clone()).collect::<Vec<_>>())
        .map_err(|e| Outcome::Failed(e.to_string()))?;
    Ok(LabeledFeatures {
        features: Features { columns, values },
        labels: parts.into_iter().flat_map(|p| p.labels).collect(),
    })
}

/// The fitted translator's logits for `test`'s pairs, one per pair.
fn predict(
    runner: &mut Runner<'_>,
    timed_as: &str,
    test: &Prepared,
    probe: &ResolvedPlugin,
    translator: &ResolvedPlugin,
    state: &[u8],
    handle: &Hosted<dyn Translator>,
) -> Result<Vec<f32>, Outcome> {
    let pairs = &test.set.pairs;
    let f = runner.features(timed_as, probe, &test.dataset, pairs).map_err(|e| runner.outcome(e))?;
    let scores = handle.predict(&translator.params, state, &f).map_err(|e| runner.outcome(e.into()))?;
    if scores.len() != pairs.len() {
        return Err(Outcome::Failed(format!(
            "{} returned {} scores for {} pairs",
            translator.plugin,
            scores.len(),
            pairs.len()
        )));
    }
    Ok(scores)
}
