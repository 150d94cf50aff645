//! The leave-dataset-out experiment: for each network, train every method's translator on the
//! training datasets and apply it zero-shot to each test dataset, then evaluate.
//!
//! A run is a sequence of phases, one module each: `prepare` (datasets and their pair sets),
//! `features` (a probe on a dataset, through the feature cache), `fit` (a translator per
//! method, fitted and applied; `direct` for methods without one), `ensemble` (mean of the
//! members' logits), `evaluate` (the evaluator on every outcome), then the report.
mod direct;
mod ensemble;
mod evaluate;
mod features;
mod fit;
mod prepare;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use ugrn_sdk::{LoadRequest, ModelOracle};

use crate::cache::{BackboneKey, FeatureCache};
use crate::devices;
use crate::oracle::BatchedOracle;
use crate::plugin::Registry;
use crate::report::{Outcome, Report, ReportWriter};
use crate::workflow::{MethodKind, ResolvedWorkflow};
use prepare::NetworkData;

pub struct RunOptions {
    pub output: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
}

/// Runs the workflow and writes its report.
pub fn run(workflow: &ResolvedWorkflow, registry: &Registry, options: &RunOptions) -> anyhow::Result<Report> {
    let started = Instant::now();
    let folder = options
        .output
        .clone()
        .or_else(|| workflow.run.output.clone())
        .unwrap_or_else(|| PathBuf::from("runs").join(&workflow.run.name));
    let writer = ReportWriter::begin(&folder, options.force)?;
    let mut runner = Runner::start(workflow, registry, options.quiet)?;
    let evaluator = registry.evaluator(&workflow.evaluator.plugin)?;
    let mut rows = Vec::new();
    for network in &workflow.data.networks {
        let data = prepare::network(&mut runner, network)?;
        let outcomes = score_methods(&mut runner, network, &data)?;
        rows.extend(evaluate::rows(&mut runner, evaluator, network, data.tests, outcomes)?);
        prepare::log_training_splits(&mut runner, network, &data.training);
    }
    runner.timings.push(("total".into(), started.elapsed().as_secs_f64()));
    let model = runner.oracle.info().clone();
    let methods: Vec<String> = workflow.methods.iter().map(|(n, _)| n.clone()).collect();
    writer.finish(workflow, registry, &model, methods, rows, runner.timings, runner.log)
}

/// What the methods gave on each of one network's test sets, by method: translated and direct
/// methods first, then ensembles, whatever their place in the file, as they average their
/// members' logits.
fn score_methods(
    runner: &mut Runner<'_>,
    network: &str,
    data: &NetworkData,
) -> anyhow::Result<Vec<BTreeMap<String, Outcome>>> {
    let mut outcomes: Vec<BTreeMap<String, Outcome>> = vec![BTreeMap::new(); data.tests.len()];
    // The translated methods' scores, which are the logits ensembles average.
    let mut logits: Vec<BTreeMap<String, Vec<f32>>> = vec![BTreeMap::new(); data.tests.len()];
    let (ensembles, others): (Vec<_>, Vec<_>) =
        runner.workflow.methods.iter().partition(|(_, kind)| matches!(kind, MethodKind::Ensemble { .. }));
    for (method, kind) in others.into_iter().chain(ensembles) {
        runner.check_stopped()?;
        let timed_as = format!("{network} / {method}");
        let per_test = match kind {
            MethodKind::Translated { probe, translator } => fit::translated(runner, &timed_as, data, probe, translator),
            MethodKind::Direct { probe, score } => direct::scores(runner, &timed_as, &data.tests, probe, *score),
            MethodKind::Ensemble { members } => ensemble::mean(members, &logits),
        };
        for (t, outcome) in per_test.into_iter().enumerate() {
            if let (MethodKind::Translated { .. }, Outcome::Scores(scores)) = (kind, &outcome) {
                logits[t].insert(method.clone(), scores.clone());
            }
            outcomes[t].insert(method.clone(), outcome);
        }
    }
    runner.check_stopped()?;
    Ok(outcomes)
}

/// The state of one run, shared by its phases: the loaded backbone behind the oracle, the
/// feature cache, and what the report gets (timings, log lines).
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
    /// Loads the workflow's backbone on its device, under the memory budget, timed as
    /// `load backbone`.
    fn start(workflow: &'a ResolvedWorkflow, registry: &'a Registry, quiet: bool) -> anyhow::Result<Runner<'a>> {
        let backbone = registry.backbone(&workflow.backbone.plugin)?;
        let device = devices::resolve_device(&workflow.run.device)?;
        let budget_device = device.clone();
        let load_start = Instant::now();
        let oracle = backbone
            .load(&LoadRequest {
                checkpoint: workflow.checkpoint.clone(),
                device,
                dtype: workflow.run.dtype.clone(),
                params: workflow.backbone.params.clone(),
            })
            .with_context(|| format!("loading {}", workflow.checkpoint.display()))?;
        let budget = devices::memory_budget(&budget_device, workflow.run.memory_budget_mb);
        let oracle = BatchedOracle::new(backbone.child(oracle), budget);
        let backbone_version = registry.get(&workflow.backbone.plugin).map_or("?", |p| p.info.version.as_str());
        let backbone_key =
            BackboneKey::new(&workflow.backbone.plugin, backbone_version, &workflow.backbone.params, oracle.info())?;
        let cache = FeatureCache::new(workflow.run.cache.clone().unwrap_or_else(|| PathBuf::from(".ugrn-cache")));
        let mut runner = Runner {
            workflow,
            registry,
            oracle,
            cache,
            backbone_key,
            quiet,
            timings: vec![("load backbone".into(), load_start.elapsed().as_secs_f64())],
            log: Vec::new(),
            stopped: None,
        };
        let info = runner.oracle.info().clone();
        runner.note(format!(
            "backbone {} from {} on {} ({} layers, {} wide), checkpoint sha256 {}",
            info.family, info.checkpoint, info.device, info.layers, info.embedding_dim, info.checkpoint_sha256
        ));
        Ok(runner)
    }

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
}
