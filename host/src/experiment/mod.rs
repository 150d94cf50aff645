//! The leave-dataset-out experiment: for each network, train every method's translator on the
//! training datasets and apply it zero-shot to each test dataset, then evaluate.
//!
//! A run is a sequence of phases, one module each: `prepare` (datasets and their pair sets),
//! `fit` (a translator per method, fitted and applied, its features through the session's
//! cache; `direct` for methods without one), `ensemble` (mean of the members' logits),
//! `evaluate` (the evaluator on every outcome), then the report, which keeps every fitted
//! translator for `ugrn infer`; `reference` scores need no model (the degree prior).
//! `preflight` checks a workflow against its loaded model
//! without running it (`ugrn check`).
mod direct;
mod ensemble;
mod evaluate;
mod fit;
mod preflight;
mod prepare;
mod reference;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use ugrn_sdk::ModelOracle;

use crate::plugin::Registry;
use crate::report::{Outcome, Report, ReportWriter};
use crate::session::{BackboneSetup, Session};
use crate::translators::{self, BackboneRecord, Manifest, PluginRecord, SavedKind, SavedMethod};
use crate::workflow::{MethodKind, Problem, Problems, Reference, ResolvedPlugin, ResolvedWorkflow};
use prepare::NetworkData;

pub struct RunOptions {
    pub output: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
}

/// Loads the workflow's backbone and lists what a run would refuse about the model (a model
/// that does not load is the one problem then).
pub fn check_against_model(workflow: &ResolvedWorkflow, registry: &Registry) -> Problems {
    match Runner::start(workflow, registry, true) {
        Ok(runner) => preflight::against_model(workflow, registry, &runner.oracle),
        Err(e) => Problems(vec![Problem {
            file: workflow.file.display().to_string(),
            key: "backbone".into(),
            reason: format!("{e:#}"),
        }]),
    }
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
    let mut saved = Vec::new();
    for network in &workflow.data.networks {
        let data = prepare::network(&mut runner, network)?;
        let (outcomes, fitted) = score_methods(&mut runner, network, &data)?;
        saved.extend(fitted);
        rows.extend(evaluate::rows(&mut runner, evaluator, network, data.tests, outcomes)?);
        prepare::log_training_splits(&mut runner, network, &data.training);
    }
    runner.timings.push(("total".into(), started.elapsed().as_secs_f64()));
    let model = runner.oracle.info().clone();
    let methods: Vec<String> = workflow.methods.iter().map(|(n, _)| n.clone()).collect();
    let Runner { session, .. } = runner;
    writer.finish(workflow, registry, &model, methods, rows, &saved, session.timings, session.log)
}

/// What the methods gave on each of one network's test sets, by method: translated and direct
/// methods first, then ensembles, whatever their place in the file, as they average their
/// members' logits. Also every fitted method, and every ensemble of fitted members, to save.
fn score_methods(
    runner: &mut Runner<'_>,
    network: &str,
    data: &NetworkData,
) -> anyhow::Result<(Vec<BTreeMap<String, Outcome>>, Vec<SavedMethod>)> {
    let mut saved: Vec<SavedMethod> = Vec::new();
    let mut outcomes: Vec<BTreeMap<String, Outcome>> = vec![BTreeMap::new(); data.tests.len()];
    // The translated methods' scores, which are the logits ensembles average.
    let mut logits: Vec<BTreeMap<String, Vec<f32>>> = vec![BTreeMap::new(); data.tests.len()];
    let (ensembles, others): (Vec<_>, Vec<_>) =
        runner.workflow.methods.iter().partition(|(_, kind)| matches!(kind, MethodKind::Ensemble { .. }));
    for (method, kind) in others.into_iter().chain(ensembles) {
        runner.check_stopped()?;
        let timed_as = format!("{network} / {method}");
        let per_test = match kind {
            MethodKind::Translated { probe, translator } => {
                let (outcomes, fitted) = fit::translated(runner, &timed_as, data, probe, translator);
                if let Some(fitted) = fitted {
                    saved.push(save_translated(runner, network, method, probe, translator, fitted));
                }
                outcomes
            }
            MethodKind::Direct { probe, score } => direct::scores(runner, &timed_as, &data.tests, probe, *score),
            MethodKind::Reference(Reference::DegreePrior) => reference::degree_prior(data),
            MethodKind::Ensemble { members } => {
                if members.iter().all(|m| saved.iter().any(|s| &s.manifest.method == m)) {
                    let kind = SavedKind::Ensemble { members: members.clone() };
                    saved.push(SavedMethod { manifest: manifest(runner, network, method, kind), state: None });
                }
                ensemble::mean(members, &logits)
            }
        };
        for (t, outcome) in per_test.into_iter().enumerate() {
            if let (MethodKind::Translated { .. }, Outcome::Scores(scores)) = (kind, &outcome) {
                logits[t].insert(method.clone(), scores.clone());
            }
            outcomes[t].insert(method.clone(), outcome);
        }
    }
    runner.check_stopped()?;
    Ok((outcomes, saved))
}

/// A fitted method as `ugrn infer` reads it back.
fn save_translated(
    runner: &Runner<'_>,
    network: &str,
    method: &str,
    probe: &ResolvedPlugin,
    translator: &ResolvedPlugin,
    fitted: fit::Fitted<'_>,
) -> SavedMethod {
    let kind = SavedKind::Translated {
        probe: PluginRecord::new(probe, runner.registry),
        translator: PluginRecord::new(translator, runner.registry),
        columns: fitted.columns,
        state_sha256: translators::sha256(&fitted.state),
        training: fitted.training,
    };
    SavedMethod { manifest: manifest(runner, network, method, kind), state: Some(fitted.state) }
}

fn manifest(runner: &Runner<'_>, network: &str, method: &str, method_kind: SavedKind) -> Manifest {
    let wf = runner.workflow;
    let info = runner.oracle.info();
    let checkpoint = std::fs::canonicalize(&wf.checkpoint).unwrap_or_else(|_| wf.checkpoint.clone());
    Manifest {
        format: translators::FORMAT,
        method: method.to_string(),
        network: network.to_string(),
        ugrn_version: env!("CARGO_PKG_VERSION").to_string(),
        backbone: BackboneRecord {
            plugin: PluginRecord::new(&wf.backbone, runner.registry),
            family: info.family.clone(),
            dtype: wf.run.dtype.clone(),
            checkpoint,
            checkpoint_sha256: info.checkpoint_sha256.clone(),
        },
        method_kind,
    }
}

/// The state of one run, shared by its phases: the workflow and the session (loaded backbone,
/// feature cache, timings and log).
struct Runner<'a> {
    workflow: &'a ResolvedWorkflow,
    session: Session<'a>,
}

impl<'a> Runner<'a> {
    /// Loads the workflow's backbone on its device, under the memory budget.
    fn start(workflow: &'a ResolvedWorkflow, registry: &'a Registry, quiet: bool) -> anyhow::Result<Runner<'a>> {
        let setup = BackboneSetup {
            backbone: &workflow.backbone,
            checkpoint: &workflow.checkpoint,
            device: &workflow.run.device,
            dtype: &workflow.run.dtype,
            memory_budget_mb: workflow.run.memory_budget_mb,
            cache: workflow.run.cache.clone().unwrap_or_else(|| PathBuf::from(".ugrn-cache")),
        };
        Ok(Runner { workflow, session: Session::start(registry, &setup, quiet)? })
    }
}

impl<'a> std::ops::Deref for Runner<'a> {
    type Target = Session<'a>;
    fn deref(&self) -> &Session<'a> {
        &self.session
    }
}

impl std::ops::DerefMut for Runner<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.session
    }
}
