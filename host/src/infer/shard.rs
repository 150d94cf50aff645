//! Shards of an inference: `--shard k/N` scores the blocks of sources of shard k and writes
//! them, unmerged, with everything the outputs say (`shard.json`); `ugrn merge` combines the N
//! shard folders into exactly the files one process writes. Shards share only their read-only
//! inputs, so any scheduler can run them.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::Inferred;
use super::output::{Part, finish};
use crate::report::StagedFolder;

/// What a shard folder holds; `FORMAT` changes with any change to it or to the score records.
const FORMAT: &str = "ugrn-infer-shard/1";
pub const MANIFEST: &str = "shard.json";
pub const TIMINGS: &str = "timings.tsv";

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let parsed = s.split_once('/').and_then(|(k, n)| Some((k.trim().parse().ok()?, n.trim().parse().ok()?)));
        match parsed {
            Some((index, count)) if (1..=count).contains(&index) => Ok(Shard { index, count }),
            _ => Err(format!("{s:?}: expected k/N with 1 ≤ k ≤ N (e.g. 2/4)")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The whole inference as one shard.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// This shard's blocks of `blocks`: contiguous, in order, sizes differing by at most one.
    pub fn blocks(self, blocks: usize) -> Range<usize> {
        (self.index - 1) * blocks / self.count..self.index * blocks / self.count
    }
}

/// The run file of block `block` of a part, under `scores`.
pub fn run_path(scores: &Path, part: &Part, block: usize) -> PathBuf {
    scores.join(&part.folder).join(format!("block-{block:06}.bin"))
}

/// `shard.json`: which shard, which blocks, and the parts' outputs before scoring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    pub format: String,
    /// ugrn's version and commit: shards of different builds may score differently.
    pub ugrn: String,
    pub shard: usize,
    pub shards: usize,
    /// Blocks of the whole inference, and this shard's.
    pub blocks: usize,
    pub own_blocks: Range<usize>,
    pub block_pairs: usize,
    /// `groups.tsv` of a `--groupby` inference.
    pub groups: Option<String>,
    pub parts: Vec<Part>,
}

impl ShardManifest {
    pub fn new(shard: Shard, blocks: usize, block_pairs: usize, groups: Option<String>, parts: Vec<Part>) -> Self {
        ShardManifest {
            format: FORMAT.into(),
            ugrn: build(),
            shard: shard.index,
            shards: shard.count,
            blocks,
            own_blocks: shard.blocks(blocks),
            block_pairs,
            groups,
            parts,
        }
    }

    fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: not a shard folder (written by `ugrn infer --shard k/N`)", path.display()))?;
        let manifest: ShardManifest =
            serde_json::from_str(&text).with_context(|| format!("{}: not a shard manifest", path.display()))?;
        if manifest.format != FORMAT {
            bail!("{}: format {:?}; this ugrn merges {FORMAT:?}", path.display(), manifest.format);
        }
        let own = Shard { index: manifest.shard, count: manifest.shards };
        if !(1..=manifest.shards).contains(&manifest.shard) || manifest.own_blocks != own.blocks(manifest.blocks) {
            bail!("{}: shard {own} does not hold the blocks its number says", path.display());
        }
        Ok(manifest)
    }
}

fn build() -> String {
    format!("{} ({})", env!("CARGO_PKG_VERSION"), env!("UGRN_GIT_COMMIT"))
}

/// Writes `timings` (step, seconds; repeated steps summed, in first-seen order) as a TSV.
pub fn write_timings(path: &Path, timings: &[(String, f64)]) -> anyhow::Result<()> {
    let mut summed: Vec<(&str, f64)> = Vec::new();
    for (step, secs) in timings {
        match summed.iter_mut().find(|(s, _)| s == step) {
            Some((_, total)) => *total += secs,
            None => summed.push((step, *secs)),
        }
    }
    let mut tsv = String::from("step\tseconds\n");
    for (step, secs) in summed {
        let _ = writeln!(tsv, "{step}\t{secs:.3}");
    }
    std::fs::write(path, tsv).with_context(|| format!("writing {}", path.display()))
}

/// Writes every part's files into `dir` from the runs of `shards` (folder, manifest), and
/// `groups.tsv`; returns the headline.
pub fn finish_parts(dir: &Path, shards: &[(PathBuf, ShardManifest)]) -> anyhow::Result<String> {
    let first = &shards[0].1;
    let mut headlines = Vec::new();
    for (p, part) in first.parts.iter().enumerate() {
        let mut runs = Vec::new();
        for (folder, manifest) in shards {
            for block in manifest.own_blocks.clone() {
                let run = run_path(&folder.join("scores"), &manifest.parts[p], block);
                if !run.is_file() {
                    bail!(
                        "{}: block {block} of shard {}/{} is missing",
                        run.display(),
                        manifest.shard,
                        manifest.shards
                    );
                }
                runs.push(run);
            }
        }
        let out = dir.join(&part.folder);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        headlines.push(finish(&out, part, &runs)?);
    }
    if let Some(index) = &first.groups {
        let file = dir.join("groups.tsv");
        std::fs::write(&file, index).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(headlines.join("\n"))
}

/// `ugrn merge`: the shard folders `folders` (every shard of one inference, in any order) into
/// `output`, the files one unsharded `ugrn infer` writes.
pub fn merge(folders: &[PathBuf], output: &Path, force: bool) -> anyhow::Result<Inferred> {
    if folders.is_empty() {
        bail!("ugrn merge: no shard folder given");
    }
    let mut shards: BTreeMap<usize, (PathBuf, ShardManifest)> = BTreeMap::new();
    for folder in folders {
        let manifest = ShardManifest::read(folder)?;
        if let Some((other, _)) = shards.get(&manifest.shard) {
            bail!("{} and {} are both shard {}/{}", other.display(), folder.display(), manifest.shard, manifest.shards);
        }
        shards.insert(manifest.shard, (folder.clone(), manifest));
    }
    let (first_dir, first) = shards.values().next().expect("at least one shard");
    // Shards of one inference differ only in their number and blocks.
    let common = |m: &ShardManifest| ShardManifest { shard: 0, own_blocks: 0..0, ..m.clone() };
    for (dir, m) in shards.values() {
        if common(m) != common(first) {
            bail!(
                "{} and {}: shards of different inferences (inputs, options, build or shard count differ)",
                first_dir.display(),
                dir.display()
            );
        }
    }
    let missing: Vec<String> =
        (1..=first.shards).filter(|k| !shards.contains_key(k)).map(|k| format!("{k}/{}", first.shards)).collect();
    if !missing.is_empty() {
        bail!("ugrn merge: shard {} not given (every shard of the inference is needed)", missing.join(", "));
    }
    for folder in folders {
        if std::fs::canonicalize(output).is_ok_and(|o| std::fs::canonicalize(folder).is_ok_and(|f| f.starts_with(o))) {
            bail!("--output {}: holds the shard {}; merge into another folder", output.display(), folder.display());
        }
    }
    let shards: Vec<(PathBuf, ShardManifest)> = shards.into_values().collect();
    let staged = StagedFolder::begin(output, force)?;
    let headline = finish_parts(staged.path(), &shards)?;
    let mut timings = Vec::new();
    for (dir, m) in &shards {
        let text = std::fs::read_to_string(dir.join(TIMINGS)).unwrap_or_default();
        for line in text.lines().skip(1) {
            if let Some((step, secs)) = line.split_once('\t') {
                timings.push((format!("shard {}/{}: {step}", m.shard, m.shards), secs.parse().unwrap_or(f64::NAN)));
            }
        }
    }
    write_timings(&staged.path().join(TIMINGS), &timings)?;
    let pairs = shards[0].1.parts.first().map_or(0, |p| p.pairs);
    let folder = staged.target().to_path_buf();
    staged.publish()?;
    Ok(Inferred { folder, pairs, headline })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_blocks_evenly() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0"] {
            assert_eq!(
                bad.parse::<Shard>().unwrap_err(),
                format!("{bad:?}: expected k/N with 1 ≤ k ≤ N (e.g. 2/4)"),
                "{bad}"
            );
        }
        let split: Vec<Range<usize>> = (1..=4).map(|k| Shard { index: k, count: 4 }.blocks(10)).collect();
        assert_eq!(split, vec![0..2, 2..5, 5..7, 7..10]);
        let sparse: Vec<Range<usize>> = (1..=3).map(|k| Shard { index: k, count: 3 }.blocks(2)).collect();
        assert_eq!(sparse, vec![0..0, 0..1, 1..2], "more shards than blocks: some are empty");
        assert_eq!(Shard::WHOLE.blocks(7), 0..7);
    }

    #[test]
    fn timings_sum_repeated_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tsv");
        let t = |s: &str, v: f64| (s.to_string(), v);
        write_timings(&path, &[t("load", 1.0), t("features", 0.25), t("features", 0.5)]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step\tseconds\nload\t1.000\nfeatures\t0.750\n");
    }
}
