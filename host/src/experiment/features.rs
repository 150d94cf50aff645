//! Features: a probe on a dataset's pairs, through the feature cache.
use std::time::Instant;

use anyhow::bail;
use ugrn_sdk::{DatasetView, Features, Pair, ProbeRequest};

use super::Runner;
use crate::cache::{CacheKey, Lookup};
use crate::data::Dataset;
use crate::workflow::ResolvedPlugin;

impl Runner<'_> {
    /// `probe`'s features of `pairs` (one row each), from the cache when the same inputs were
    /// computed before. A computation is timed as `{timed_as}: features {dataset}`, `timed_as`
    /// naming the tested network and the method (two methods may share a probe, and one run
    /// tests many networks).
    pub(super) fn features(
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
