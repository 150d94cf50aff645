//! A loaded backbone with its feature cache: what every command that runs probes (`ugrn run`,
//! `ugrn infer`) works through, and what it keeps for its report (timings, log lines).
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use ugrn_sdk::{DatasetView, Features, LoadRequest, ModelOracle, Pair, ProbeRequest};

use crate::cache::{BackboneKey, CacheKey, FeatureCache, Lookup};
use crate::data::Dataset;
use crate::devices;
use crate::oracle::BatchedOracle;
use crate::plugin::Registry;
use crate::report::Outcome;
use crate::workflow::ResolvedPlugin;

/// Which backbone to load, where, and where its features are cached.
pub struct BackboneSetup<'a> {
    pub backbone: &'a ResolvedPlugin,
    pub checkpoint: &'a Path,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: &'a str,
    pub dtype: &'a str,
    pub memory_budget_mb: u64,
    pub cache: PathBuf,
}

pub struct Session<'a> {
    pub registry: &'a Registry,
    pub oracle: BatchedOracle,
    pub cache: FeatureCache,
    pub backbone_key: BackboneKey,
    pub quiet: bool,
    pub timings: Vec<(String, f64)>,
    pub log: Vec<String>,
    /// A component plugin that broke its sandbox (trap, fuel, memory, output shape) stops the
    /// whole command, unlike an ordinary failure, which fails one result.
    pub stopped: Option<ugrn_sdk::Error>,
}

impl<'a> Session<'a> {
    /// Loads the backbone on its device, under the memory budget, timed as `load backbone`.
    pub fn start(registry: &'a Registry, setup: &BackboneSetup<'_>, quiet: bool) -> anyhow::Result<Session<'a>> {
        let backbone = registry.backbone(&setup.backbone.plugin)?;
        let device = devices::resolve_device(setup.device)?;
        let budget_device = device.clone();
        let load_start = Instant::now();
        let oracle = backbone
            .load(&LoadRequest {
                checkpoint: setup.checkpoint.to_path_buf(),
                device,
                dtype: setup.dtype.to_string(),
                params: setup.backbone.params.clone(),
            })
            .with_context(|| format!("loading {}", setup.checkpoint.display()))?;
        let budget = devices::memory_budget(&budget_device, setup.memory_budget_mb);
        let oracle = BatchedOracle::new(backbone.child(oracle), budget);
        let backbone_key = BackboneKey::new(
            &setup.backbone.plugin,
            registry.version(&setup.backbone.plugin),
            &setup.backbone.params,
            oracle.info(),
        )?;
        let mut session = Session {
            registry,
            oracle,
            cache: FeatureCache::new(setup.cache.clone()),
            backbone_key,
            quiet,
            timings: vec![("load backbone".into(), load_start.elapsed().as_secs_f64())],
            log: Vec::new(),
            stopped: None,
        };
        let info = session.oracle.info().clone();
        session.note(format!(
            "backbone {} from {} on {} ({} layers, {} wide), checkpoint sha256 {}",
            info.family, info.checkpoint, info.device, info.layers, info.embedding_dim, info.checkpoint_sha256
        ));
        Ok(session)
    }

    /// `probe`'s features of `pairs` (one row each), from the cache when the same inputs were
    /// computed before. A computation is timed as `{timed_as}: features {dataset}`, `timed_as`
    /// naming what it serves (two methods may share a probe, and one run tests many networks).
    pub fn features(
        &mut self,
        timed_as: &str,
        probe: &ResolvedPlugin,
        dataset: &Dataset,
        pairs: &[Pair],
    ) -> anyhow::Result<Features> {
        let (probe_name, params) = (&probe.plugin, &probe.params);
        let probe = self.registry.probe(probe_name)?;
        let info = probe.describe();
        let needs_expression = probe.needs_expression(params);
        let key = CacheKey::for_features(&self.backbone_key, &info, params, dataset, pairs, needs_expression)?;
        self.note_tiling(probe_name, params, dataset);
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
        let non_finite = features.values.data.iter().filter(|v| !v.is_finite()).count();
        if non_finite > 0 {
            bail!(
                "{probe_name} gave {non_finite} non-finite feature values (NaN or infinite) on {}; \
                 the checkpoint's weights or the probe's parameters are broken, nothing was cached",
                dataset.name
            );
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
            let line = format!("could not write the feature cache {}: {e}", self.cache.dir().display());
            tracing::warn!("{line}");
            self.log.push(format!("warning: {line}"));
        }
        Ok(features)
    }

    /// Logs how a `dataset` context longer than the model's is tiled, as the probe kit the
    /// shipped probes build on lays it out: once per probe and dataset, not per network or
    /// inference block.
    fn note_tiling(&mut self, probe_name: &str, params: &ugrn_sdk::Params, dataset: &Dataset) {
        if params.str("context").ok() != Some("dataset") {
            return;
        }
        let genes = self.oracle.token_ids(&dataset.genes).iter().filter(|t| t.is_some()).count();
        let max_context = self.oracle.info().max_context;
        if let Ok(tiling) = ugrn_probe_kit::ContextTiling::new(genes, max_context)
            && tiling.is_tiled()
        {
            let line = format!(
                "{probe_name} on {}: dataset context beyond the model's {max_context} genes; {}",
                dataset.name,
                tiling.describe()
            );
            if !self.log.contains(&line) {
                self.note(line);
            }
        }
    }

    /// The result for a failed plugin call: not applicable when the plugin says so (one
    /// result, not the command), else failed; a sandbox stop is remembered to end the command.
    pub fn outcome(&mut self, e: anyhow::Error) -> Outcome {
        match e.downcast_ref::<ugrn_sdk::Error>() {
            Some(ugrn_sdk::Error::NotApplicable(reason)) => Outcome::NotApplicable(reason.clone()),
            Some(stop @ ugrn_sdk::Error::Trap { .. }) => {
                self.stopped.get_or_insert_with(|| stop.clone());
                Outcome::Failed(format!("{e:#}"))
            }
            _ => Outcome::Failed(format!("{e:#}")),
        }
    }

    /// Ends the command after a sandbox stop; its staging folder is dropped unwritten.
    pub fn check_stopped(&mut self) -> anyhow::Result<()> {
        match self.stopped.take() {
            Some(stop) => Err(anyhow::Error::from(stop).context("a component plugin broke its sandbox; run stopped")),
            None => Ok(()),
        }
    }

    /// A line for the log, also shown on stderr (tracing at info, hidden by `--quiet`).
    pub fn note(&mut self, line: String) {
        tracing::info!("{line}");
        self.log.push(line);
    }
}
