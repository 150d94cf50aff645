//! The leave-dataset-out experiment: for each network, train every method's translator on the
//! training datasets and apply it zero-shot to each test dataset, then evaluate.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ugrn_sdk::{DatasetView, Features, LabeledFeatures, LoadRequest, ModelOracle, Pair, ProbeRequest};

use crate::cache::{BackboneKey, CacheKey, FeatureCache, Lookup};
use crate::data::{self, Dataset, PairSet};
use crate::oracle::BatchedOracle;
use crate::plugin::{Hosted, Registry};
use crate::report::{Outcome, Report, ReportWriter, Row};
use crate::workflow::{DirectScore, MethodKind, ResolvedPlugin, ResolvedWorkflow};

pub struct RunOptions {
    pub output: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
}

/// A dataset prepared for one network: pairs whose genes the model knows, with counts.
struct Prepared {
    dataset: Dataset,
    set: PairSet,
    notes: Vec<String>,
}

struct Runner<'a> {
    workflow: &'a ResolvedWorkflow,
    registry: &'a Registry,
    oracle: BatchedOracle,
    cache: FeatureCache,
    backbone_key: BackboneKey,
    quiet: bool,
    timings: Vec<(String, f64)>,
    log: Vec<String>,
    /// A component plugin that broke its sandbox (trap, fuel, memory, output shape) stops the
    /// whole run, unlike an ordinary failure, which fails one table cell.
    stopped: Option<ugrn_sdk::Error>,
}

impl<'a> Runner<'a> {
    /// The table cell for a failed plugin call: not applicable when the plugin says so (one
    /// cell, not the run), else failed; a sandbox stop is remembered to end the run.
    fn outcome(&mut self, e: anyhow::Error) -> Outcome {
        match e.downcast_ref::<ugrn_sdk::Error>() {
            Some(ugrn_sdk::Error::NotApplicable(reason)) => Outcome::NotApplicable(reason.clone()),
            Some(stop @ ugrn_sdk::Error::Trap { .. }) => {
                self.stopped.get_or_insert_with(|| stop.clone());
                Outcome::Failed(format!("{e:#}"))
            }
            _ => Outcome::Failed(format!("{e:#}")),
        }
    }

    /// Ends the run after a sandbox stop; the report's staging folder is dropped unwritten.
    fn check_stopped(&mut self) -> anyhow::Result<()> {
        match self.stopped.take() {
            Some(stop) => Err(anyhow::Error::from(stop).context("a component plugin broke its sandbox; run stopped")),
            None => Ok(()),
        }
    }

    /// A line for the run log, also shown on stderr (tracing at info, hidden by `--quiet`).
    fn note(&mut self, line: String) {
        tracing::info!("{line}");
        self.log.push(line);
    }

    /// Loads a dataset and samples its pairs among the genes in the model's vocabulary.
    fn prepare(&mut self, network: &str, name: &str) -> anyhow::Result<Prepared> {
        let wf = self.workflow;
        let dataset = match wf.datasets.iter().find(|d| d.name == name) {
            Some(spec) => data::load_user_dataset(spec)?,
            None => data::BeelineSource { roots: wf.data.roots.clone() }.load(network, name, wf.data.size)?,
        };
        let tokens = self.oracle.token_ids(&dataset.genes);
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
            self.note(format!("{network} / {name}: {n}"));
        }
        Ok(Prepared { dataset, set, notes })
    }

    /// Features of `pairs`, from the cache when the same inputs were computed before. A
    /// computation is timed as `{timed_as}: features {dataset}`, `timed_as` naming the tested
    /// network and the method (two methods may share a probe, and one run tests many networks).
    fn features(
        &mut self,
        timed_as: &str,
        probe_name: &str,
        params: &ugrn_sdk::Params,
        dataset: &Dataset,
        pairs: &[Pair],
    ) -> anyhow::Result<Features> {
        let probe = self.registry.probe(probe_name)?;
        let info = probe.describe();
        let needs_expression = probe.needs_expression(params);
        let key = CacheKey::for_features(&self.backbone_key, &info, params, dataset, pairs, needs_expression)?;
        match self.cache.get(&key) {
            Lookup::Hit(f) => {
                self.note(format!(
                    "{probe_name} on {}: {} pairs from the feature cache, nothing recomputed",
                    dataset.name,
                    pairs.len()
                ));
                return Ok(f);
            }
            Lookup::Corrupt(reason) => self.note(format!("feature cache entry refused ({reason}); recomputing")),
            Lookup::Miss => {}
        }
        let start = Instant::now();
        let progress = crate::progress::Bar::new(self.quiet, &format!("{probe_name} {}", dataset.name), "pairs");
        // The matrix goes only to probes that read it, as the cache key assumes; a component is
        // then sent it without being asked again.
        let view = dataset.view();
        let view = DatasetView { expression: view.expression.filter(|_| needs_expression), ..view };
        let request = ProbeRequest { params, dataset: view, pairs };
        let features = probe.features(&request, &self.oracle, &progress)?;
        progress.finish();
        if features.values.rows != pairs.len() {
            bail!("{probe_name} returned {} rows for {} pairs", features.values.rows, pairs.len());
        }
        let secs = start.elapsed().as_secs_f64();
        self.timings.push((format!("{timed_as}: features {}", dataset.name), secs));
        self.note(format!(
            "{probe_name} on {}: {} pairs in {secs:.1} s ({:.0} pairs/s)",
            dataset.name,
            pairs.len(),
            pairs.len() as f64 / secs.max(1e-9)
        ));
        if let Err(e) = self.cache.put(&key, &features) {
            self.note(format!("could not write the feature cache: {e}"));
        }
        Ok(features)
    }
}

/// Runs the workflow and writes its report.
pub fn run(workflow: &ResolvedWorkflow, registry: &Registry, options: &RunOptions) -> anyhow::Result<Report> {
    let wf = workflow;
    let started = Instant::now();
    let folder = options
        .output
        .clone()
        .or_else(|| wf.run.output.clone())
        .unwrap_or_else(|| PathBuf::from("runs").join(&wf.run.name));
    let writer = ReportWriter::begin(&folder, options.force)?;

    let backbone = registry.backbone(&wf.backbone.plugin)?;
    let device = crate::devices::resolve_device(&wf.run.device)?;
    let requested_device = device.clone();
    let load_start = Instant::now();
    let oracle = backbone
        .load(&LoadRequest {
            checkpoint: workflow.checkpoint.clone(),
            device,
            dtype: wf.run.dtype.clone(),
            params: workflow.backbone.params.clone(),
        })
        .with_context(|| format!("loading {}", workflow.checkpoint.display()))?;
    let budget = crate::devices::memory_budget(&requested_device, wf.run.memory_budget_mb);
    let oracle = BatchedOracle::new(backbone.child(oracle), budget);
    let backbone_version = registry.get(&wf.backbone.plugin).map_or("?", |p| p.info.version.as_str());
    let backbone_key =
        BackboneKey::new(&wf.backbone.plugin, backbone_version, &workflow.backbone.params, oracle.info())?;
    let cache = FeatureCache::new(wf.run.cache.clone().unwrap_or_else(|| PathBuf::from(".ugrn-cache")));
    let mut runner = Runner {
        workflow,
        registry,
        oracle,
        cache,
        backbone_key,
        quiet: options.quiet,
        timings: vec![("load backbone".into(), load_start.elapsed().as_secs_f64())],
        log: Vec::new(),
        stopped: None,
    };
    let info = runner.oracle.info().clone();
    runner.note(format!(
        "backbone {} from {} on {} ({} layers, {} wide), checkpoint sha256 {}",
        info.family, info.checkpoint, info.device, info.layers, info.embedding_dim, info.checkpoint_sha256
    ));

    let evaluator = registry.evaluator(&wf.evaluator.plugin)?;

    let mut rows = Vec::new();
    for network in &wf.data.networks {
        let mut train = Vec::new();
        let train_network = wf.data.train_network.as_deref().unwrap_or(network);
        for name in &wf.data.train {
            train.push(runner.prepare(train_network, name)?);
        }
        let train_genes: BTreeSet<&str> = train
            .iter()
            .flat_map(|p| {
                p.set.pairs.iter().flat_map(|pair| [pair.source, pair.target]).map(|g| p.dataset.genes[g].as_str())
            })
            .collect();
        let mut tests = Vec::new();
        for name in &wf.data.test {
            let mut prepared = runner.prepare(network, name)?;
            if wf.data.exclude_train_genes {
                let genes = &prepared.dataset.genes;
                let dropped = prepared.set.retain(|p| {
                    !train_genes.contains(genes[p.source].as_str()) && !train_genes.contains(genes[p.target].as_str())
                });
                let line =
                    format!("{dropped} test pairs dropped: they use a gene seen in training (exclude_train_genes)");
                runner.note(format!("{network} / {name}: {line}"));
                prepared.notes.push(line);
            }
            tests.push(prepared);
        }
        // Per training dataset: (train, validation) split of its pairs.
        let splits: Vec<(PairSet, PairSet)> =
            train.iter().map(|p| data::split_validation(&p.set, wf.data.validation_fraction, wf.run.seed)).collect();

        // logits[test index][method] for the ensemble.
        let mut logits: Vec<BTreeMap<String, Vec<f32>>> = vec![BTreeMap::new(); tests.len()];
        let mut outcomes: Vec<BTreeMap<String, Outcome>> = vec![BTreeMap::new(); tests.len()];
        // Ensembles last, whatever their place in the file: they average their members' logits.
        let ordered = workflow
            .methods
            .iter()
            .filter(|(_, k)| !matches!(k, MethodKind::Ensemble { .. }))
            .chain(workflow.methods.iter().filter(|(_, k)| matches!(k, MethodKind::Ensemble { .. })));
        for (method, kind) in ordered {
            runner.check_stopped()?;
            let timed_as = format!("{network} / {method}");
            match kind {
                MethodKind::Translated {
                    probe: ResolvedPlugin { plugin: probe, params: probe_params },
                    translator: ResolvedPlugin { plugin: translator, params: translator_params },
                } => {
                    let fitted = fit_translator(
                        &mut runner,
                        &timed_as,
                        &train,
                        &splits,
                        probe,
                        probe_params,
                        translator,
                        translator_params,
                    );
                    for (t, test) in tests.iter().enumerate() {
                        if runner.stopped.is_some() {
                            break;
                        }
                        let result = fitted.as_ref().map_err(|e| e.clone()).and_then(|(state, handle)| {
                            let f = runner
                                .features(&timed_as, probe, probe_params, &test.dataset, &test.set.pairs)
                                .map_err(|e| runner.outcome(e))?;
                            let scores =
                                handle.predict(translator_params, state, &f).map_err(|e| runner.outcome(e.into()))?;
                            if scores.len() != test.set.pairs.len() {
                                return Err(Outcome::Failed(format!(
                                    "{translator} returned {} scores for {} pairs",
                                    scores.len(),
                                    test.set.pairs.len()
                                )));
                            }
                            Ok(scores)
                        });
                        match result {
                            Ok(scores) => {
                                logits[t].insert(method.clone(), scores.clone());
                                outcomes[t].insert(method.clone(), Outcome::Scores(scores));
                            }
                            Err(o) => {
                                outcomes[t].insert(method.clone(), o);
                            }
                        }
                    }
                }
                MethodKind::Direct { probe: ResolvedPlugin { plugin: probe, params: probe_params }, score } => {
                    for (t, test) in tests.iter().enumerate() {
                        if runner.stopped.is_some() {
                            break;
                        }
                        let outcome =
                            match runner.features(&timed_as, probe, probe_params, &test.dataset, &test.set.pairs) {
                                Ok(f) if f.values.cols == 1 => Outcome::Scores(
                                    f.values
                                        .data
                                        .iter()
                                        .map(|&v| if *score == DirectScore::AbsFeature { v.abs() } else { v })
                                        .collect(),
                                ),
                                Ok(f) => Outcome::NotApplicable(format!(
                                    "{probe} gives {} feature columns; a direct score needs exactly one",
                                    f.values.cols
                                )),
                                Err(e) => runner.outcome(e),
                            };
                        outcomes[t].insert(method.clone(), outcome);
                    }
                }
                MethodKind::Ensemble { members } => {
                    for t in 0..tests.len() {
                        let parts: Vec<&Vec<f32>> = members.iter().filter_map(|m| logits[t].get(m)).collect();
                        let outcome = if parts.len() == members.len() {
                            let n = parts[0].len();
                            Outcome::Scores(
                                (0..n).map(|i| parts.iter().map(|p| p[i]).sum::<f32>() / parts.len() as f32).collect(),
                            )
                        } else {
                            Outcome::NotApplicable(format!(
                                "needs every member ({}) to have scores",
                                members.join(", ")
                            ))
                        };
                        outcomes[t].insert(method.clone(), outcome);
                    }
                }
            }
        }
        runner.check_stopped()?;
        for (test, outcome) in tests.into_iter().zip(outcomes) {
            let mut evaluations = BTreeMap::new();
            for (method, o) in outcome {
                if runner.stopped.is_some() {
                    break;
                }
                let evaluated = match o {
                    Outcome::Scores(scores) => {
                        match evaluator.evaluate(&workflow.evaluator.params, &scores, &test.set.labels) {
                            Ok(e) => (Outcome::Scores(scores), Some(e)),
                            Err(e) => {
                                let outcome = match runner.outcome(e.into()) {
                                    Outcome::NotApplicable(reason) => {
                                        Outcome::NotApplicable(format!("evaluation: {reason}"))
                                    }
                                    Outcome::Failed(reason) => Outcome::Failed(format!("evaluation failed: {reason}")),
                                    other => other,
                                };
                                (outcome, None)
                            }
                        }
                    }
                    other => (other, None),
                };
                evaluations.insert(method, evaluated);
            }
            runner.check_stopped()?;
            rows.push(Row {
                network: network.clone(),
                dataset: test.dataset,
                set: test.set,
                notes: test.notes,
                evaluations,
            });
        }
        for (p, (tr, va)) in train.iter().zip(&splits) {
            runner.log.push(format!(
                "{network} / {} (train): {} training pairs, {} validation pairs; {:?}",
                p.dataset.name,
                tr.pairs.len(),
                va.pairs.len(),
                p.set.counts
            ));
        }
    }
    runner.timings.push(("total".into(), started.elapsed().as_secs_f64()));
    let methods: Vec<String> = workflow.methods.iter().map(|(n, _)| n.clone()).collect();
    writer.finish(workflow, registry, &info, methods, rows, runner.timings, runner.log)
}

type Fitted<'a> = Result<(Vec<u8>, &'a Hosted<dyn ugrn_sdk::Translator>), Outcome>;

/// Fits `translator` on the training datasets' features, timed as `{timed_as}: fit` (see
/// [`Runner::features`]).
fn fit_translator<'a>(
    runner: &mut Runner<'a>,
    timed_as: &str,
    train: &[Prepared],
    splits: &[(PairSet, PairSet)],
    probe: &str,
    probe_params: &ugrn_sdk::Params,
    translator: &str,
    translator_params: &ugrn_sdk::Params,
) -> Fitted<'a> {
    let handle = runner.registry.translator(translator).map_err(|e| Outcome::Failed(e.to_string()))?;
    let mut train_parts = Vec::new();
    let mut valid_parts = Vec::new();
    for (p, (tr, va)) in train.iter().zip(splits) {
        let all: Vec<Pair> = tr.pairs.iter().chain(&va.pairs).copied().collect();
        let f =
            runner.features(timed_as, probe, probe_params, &p.dataset, &all).map_err(|e| match runner.outcome(e) {
                Outcome::NotApplicable(r) => Outcome::NotApplicable(format!("training set {}: {r}", p.dataset.name)),
                o => o,
            })?;
        let n = tr.pairs.len();
        train_parts
            .push(LabeledFeatures { features: f.select_rows(&(0..n).collect::<Vec<_>>()), labels: tr.labels.clone() });
        valid_parts.push(LabeledFeatures {
            features: f.select_rows(&(n..all.len()).collect::<Vec<_>>()),
            labels: va.labels.clone(),
        });
    }
    let stack = |parts: Vec<LabeledFeatures>| -> Result<LabeledFeatures, Outcome> {
        let columns = parts.first().map(|p| p.features.columns.clone()).unwrap_or_default();
        let values = ugrn_sdk::Matrix::vstack(&parts.iter().map(|p| p.features.values.clone()).collect::<Vec<_>>())
            .map_err(|e| Outcome::Failed(e.to_string()))?;
        Ok(LabeledFeatures {
            features: Features { columns, values },
            labels: parts.into_iter().flat_map(|p| p.labels).collect(),
        })
    };
    let (train_set, valid_set) = (stack(train_parts)?, stack(valid_parts)?);
    let start = Instant::now();
    let fitted = handle.fit(translator_params, &train_set, &valid_set).map_err(|e| runner.outcome(e.into()))?;
    runner.timings.push((format!("{timed_as}: fit"), start.elapsed().as_secs_f64()));
    for line in &fitted.log {
        runner.log.push(format!("{translator} on {probe}: {line}"));
    }
    Ok((fitted.state, handle))
}
