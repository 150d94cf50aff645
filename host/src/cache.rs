//! The feature cache: probe outputs stored on disk, content-addressed by everything that
//! determines them (checkpoint hash, probe name and version, its parameters, the dataset's genes
//! and expression, and the pair list). A translator-only change therefore recomputes nothing.
//!
//! Entries are JSON written to a temporary file and renamed into place, with a SHA-256 of the
//! payload inside; an entry that fails to parse or whose checksum disagrees is reported and
//! recomputed, never used.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ugrn_sdk::{Features, Matrix, ModelInfo, Pair, Params, PluginInfo};

use crate::data::Dataset;

pub struct FeatureCache {
    dir: PathBuf,
}

/// What went into a cache key, kept beside the entry for inspection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheKey {
    pub checkpoint_sha256: String,
    /// Backbone plugin, version, load parameters and dtype: they change the oracle's answers
    /// without changing the checkpoint.
    pub backbone: String,
    pub probe: String,
    pub probe_version: String,
    pub params: String,
    pub dataset: String,
    pub inputs_sha256: String,
}

/// The loaded backbone as it enters every key of a run.
pub struct BackboneKey {
    checkpoint_sha256: String,
    /// See [`CacheKey::backbone`].
    backbone: String,
}

impl BackboneKey {
    /// The backbone plugin `plugin` at `version`, loaded with `params` as `model`.
    pub fn new(plugin: &str, version: &str, params: &Params, model: &ModelInfo) -> serde_json::Result<BackboneKey> {
        Ok(BackboneKey {
            checkpoint_sha256: model.checkpoint_sha256.clone(),
            backbone: format!("{plugin} {version} {} {}", serde_json::to_string(params)?, model.dtype),
        })
    }
}

impl CacheKey {
    /// The key of the features `probe` computes with `params` for `pairs` of `dataset`. The
    /// expression matrix enters it only `with_expression`, when the probe reads it.
    pub fn for_features(
        backbone: &BackboneKey,
        probe: &PluginInfo,
        params: &Params,
        dataset: &Dataset,
        pairs: &[Pair],
        with_expression: bool,
    ) -> serde_json::Result<CacheKey> {
        Ok(CacheKey {
            checkpoint_sha256: backbone.checkpoint_sha256.clone(),
            backbone: backbone.backbone.clone(),
            probe: probe.name.clone(),
            probe_version: probe.version.clone(),
            params: serde_json::to_string(params)?,
            dataset: dataset.name.clone(),
            inputs_sha256: inputs_sha256(dataset, pairs, with_expression),
        })
    }

    pub fn digest(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(json.as_bytes()))
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: CacheKey,
    payload_sha256: String,
    columns: Vec<String>,
    rows: usize,
    cols: usize,
    values: Vec<f32>,
}

/// SHA-256 of a probe's inputs: the dataset's genes, the pairs and, `with_expression`, the
/// expression values.
fn inputs_sha256(dataset: &Dataset, pairs: &[Pair], with_expression: bool) -> String {
    let mut h = Sha256::new();
    for g in &dataset.genes {
        h.update(g.as_bytes());
        h.update([0]);
    }
    for p in pairs {
        h.update((p.source as u64).to_le_bytes());
        h.update((p.target as u64).to_le_bytes());
    }
    if with_expression && let Some(e) = &dataset.expression {
        for v in &e.values.data {
            h.update(v.to_le_bytes());
        }
    }
    hex(&h.finalize())
}

fn payload_digest(columns: &[String], rows: usize, cols: usize, values: &[f32]) -> String {
    let mut h = Sha256::new();
    for c in columns {
        h.update(c.as_bytes());
        h.update([0]);
    }
    h.update(rows.to_le_bytes());
    h.update(cols.to_le_bytes());
    for v in values {
        h.update(v.to_le_bytes());
    }
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    Hit(Features),
    Miss,
    /// An entry existed but was unreadable or failed its checksum; it was removed.
    Corrupt(String),
}

impl FeatureCache {
    /// The cache in `dir`; entries a killed run was writing are removed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        crate::staging::remove_stale(&dir, crate::staging::TEMPORARY);
        FeatureCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.features.json", key.digest()))
    }

    pub fn get(&self, key: &CacheKey) -> Lookup {
        let path = self.path(key);
        let Ok(bytes) = std::fs::read(&path) else { return Lookup::Miss };
        let problem = match serde_json::from_slice::<Entry>(&bytes) {
            Err(e) => format!("unreadable: {e}"),
            Ok(entry) if &entry.key != key => "key mismatch".to_string(),
            Ok(entry) => {
                let ok = entry.values.len() == entry.rows * entry.cols
                    && payload_digest(&entry.columns, entry.rows, entry.cols, &entry.values) == entry.payload_sha256;
                if ok {
                    if let Ok(values) = Matrix::new(entry.rows, entry.cols, entry.values)
                        && let Ok(f) = Features::new(entry.columns, values)
                    {
                        return Lookup::Hit(f);
                    }
                    "inconsistent shape".to_string()
                } else {
                    "checksum mismatch".to_string()
                }
            }
        };
        let _ = std::fs::remove_file(&path);
        Lookup::Corrupt(format!("{}: {problem}", path.display()))
    }

    pub fn put(&self, key: &CacheKey, features: &Features) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let v = &features.values;
        let entry = Entry {
            key: key.clone(),
            payload_sha256: payload_digest(&features.columns, v.rows, v.cols, &v.data),
            columns: features.columns.clone(),
            rows: v.rows,
            cols: v.cols,
            values: v.data.clone(),
        };
        let path = self.path(key);
        write_atomically(&path, &serde_json::to_vec(&entry).map_err(std::io::Error::other)?)?;
        Ok(path)
    }
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, so a reader never
/// sees a partial file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp =
        tempfile::Builder::new().prefix(&crate::staging::prefix(crate::staging::TEMPORARY)).tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            checkpoint_sha256: "abc".into(),
            backbone: "backbone-scgpt 0.1.0 {} f32".into(),
            probe: "probe-vvp".into(),
            probe_version: "0.1.0".into(),
            params: "{}".into(),
            dataset: "mDC".into(),
            inputs_sha256: "def".into(),
        }
    }

    fn features() -> Features {
        Features::new(vec!["a".into(), "b".into()], Matrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.5]).unwrap()).unwrap()
    }

    #[test]
    fn round_trip_and_key_sensitivity() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        assert!(matches!(cache.get(&key()), Lookup::Miss));
        cache.put(&key(), &features()).unwrap();
        match cache.get(&key()) {
            Lookup::Hit(f) => assert_eq!(f, features()),
            other => panic!("expected a hit, got {other:?}"),
        }
        let mut other = key();
        other.params = "{\"background\":2.0}".into();
        assert!(matches!(cache.get(&other), Lookup::Miss));
    }

    #[test]
    fn corrupt_and_truncated_entries_are_refused_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeatureCache::new(dir.path());
        let path = cache.put(&key(), &features()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("4.5", "4.25")).unwrap();
        match cache.get(&key()) {
            Lookup::Corrupt(reason) => assert!(reason.ends_with("checksum mismatch"), "{reason}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
        assert!(!path.exists());
        let path = cache.put(&key(), &features()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(cache.get(&key()), Lookup::Corrupt(r) if r.contains("unreadable")));
    }

    #[test]
    fn expression_enters_the_inputs_hash_only_when_the_probe_reads_it() {
        let mut dataset = Dataset {
            name: "toy".into(),
            network: "custom".into(),
            size: None,
            genes: vec!["A".into(), "B".into()],
            tfs: vec![0],
            edges: vec![],
            expression: None,
            expression_source: String::new(),
            notes: vec![],
        };
        let pairs = [Pair { source: 0, target: 1 }];
        let without = inputs_sha256(&dataset, &pairs, true);
        let values = Matrix::new(2, 1, vec![1.0, 2.0]).unwrap();
        dataset.expression = Some(ugrn_sdk::Expression { cell_names: vec!["c".into()], values });
        assert_eq!(inputs_sha256(&dataset, &pairs, false), without);
        assert_ne!(inputs_sha256(&dataset, &pairs, true), without);
    }
}
