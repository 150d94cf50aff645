//! Scored pairs on disk: each block of sources is written as one sorted run of fixed-size
//! records, and the runs (of one process or of many shards) are merged as a stream, so an
//! inference holds one block in memory however many pairs it scores.
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One scored pair: gene indices into the dataset's genes and the logit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub source: u32,
    pub target: u32,
    pub logit: f32,
}

/// Bytes per record: the logit's bits, source, target, little-endian.
const RECORD: usize = 12;

/// The output order: best logit first; equal logits by the genes' names (then their indices,
/// for files that repeat a name), so the files depend neither on pair order nor on how the
/// pairs were split into blocks or shards.
pub struct Ranking {
    /// Per gene: its position among the genes sorted by name.
    name_rank: Vec<u32>,
}

type Key = (Reverse<i32>, u32, u32);

impl Ranking {
    pub fn new(genes: &[String]) -> anyhow::Result<Self> {
        if u32::try_from(genes.len()).is_err() {
            bail!("{} genes: more than 2^32, which the score records index", genes.len());
        }
        let mut by_name: Vec<usize> = (0..genes.len()).collect();
        by_name.sort_by(|&a, &b| genes[a].cmp(&genes[b]).then(a.cmp(&b)));
        let mut name_rank = vec![0u32; genes.len()];
        for (rank, &g) in by_name.iter().enumerate() {
            name_rank[g] = rank as u32;
        }
        Ok(Ranking { name_rank })
    }

    fn key(&self, s: &Scored) -> Key {
        (Reverse(ordered(s.logit)), self.name_rank[s.source as usize], self.name_rank[s.target as usize])
    }

    /// Sorts `scores` into the output order.
    pub fn sort(&self, scores: &mut [Scored]) {
        scores.sort_by_cached_key(|s| self.key(s));
    }
}

/// An integer that orders as `f32::total_cmp` orders the floats.
fn ordered(x: f32) -> i32 {
    let bits = x.to_bits() as i32;
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// Writes `scores`, already in the output order, as the run `path` (whole or not at all).
pub fn write_run(path: &Path, scores: &[Scored]) -> anyhow::Result<()> {
    let temp = path.with_extension("tmp");
    let file = File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    let mut out = BufWriter::new(file);
    for s in scores {
        out.write_all(&s.logit.to_bits().to_le_bytes())?;
        out.write_all(&s.source.to_le_bytes())?;
        out.write_all(&s.target.to_le_bytes())?;
    }
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
}

struct Run {
    path: PathBuf,
    reader: BufReader<File>,
}

impl Run {
    fn next(&mut self, genes: usize) -> anyhow::Result<Option<Scored>> {
        let mut buf = [0u8; RECORD];
        let mut filled = 0;
        while filled < RECORD {
            let n = self.reader.read(&mut buf[filled..]).with_context(|| format!("reading {}", self.path.display()))?;
            if n == 0 {
                if filled == 0 {
                    return Ok(None);
                }
                bail!("{}: ends inside a record (a shard was cut off while writing?)", self.path.display());
            }
            filled += n;
        }
        let word = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        let s = Scored { logit: f32::from_bits(word(0)), source: word(4), target: word(8) };
        if s.source as usize >= genes || s.target as usize >= genes {
            bail!(
                "{}: a record names gene {} or {}, but there are {genes} genes",
                self.path.display(),
                s.source,
                s.target
            );
        }
        Ok(Some(s))
    }
}

/// The records of many runs as one stream in the output order.
pub struct Merged<'a> {
    ranking: &'a Ranking,
    runs: Vec<Run>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    heads: Vec<Option<Scored>>,
    /// The last record given, to check each run is in order.
    last: Option<Key>,
}

impl<'a> Merged<'a> {
    pub fn open(ranking: &'a Ranking, paths: &[PathBuf]) -> anyhow::Result<Self> {
        let genes = ranking.name_rank.len();
        let mut merged = Merged { ranking, runs: Vec::new(), heap: BinaryHeap::new(), heads: Vec::new(), last: None };
        for path in paths {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut run = Run { path: path.clone(), reader: BufReader::with_capacity(1 << 16, file) };
            let head = run.next(genes)?;
            if let Some(s) = &head {
                merged.heap.push(Reverse((ranking.key(s), merged.runs.len())));
            }
            merged.heads.push(head);
            merged.runs.push(run);
        }
        Ok(merged)
    }

    /// The next record in the output order, or `None` after the last.
    pub fn next(&mut self) -> anyhow::Result<Option<Scored>> {
        let Some(Reverse((key, i))) = self.heap.pop() else { return Ok(None) };
        let scored = self.heads[i].take().expect("a run in the heap has a head");
        if self.last.is_some_and(|last| last > key) {
            bail!("{}: records out of order (not written by this version of ugrn?)", self.runs[i].path.display());
        }
        self.last = Some(key);
        let genes = self.ranking.name_rank.len();
        if let Some(next) = self.runs[i].next(genes)? {
            self.heap.push(Reverse((self.ranking.key(&next), i)));
            self.heads[i] = Some(next);
        }
        Ok(Some(scored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genes(n: usize) -> Vec<String> {
        // Names not in index order, so the tie-break by name is exercised.
        (0..n).map(|i| format!("G{}", (i * 7) % n)).collect()
    }

    #[test]
    fn ordered_keys_sort_as_total_cmp() {
        let values = [f32::NEG_INFINITY, -3.5, -0.0, 0.0, 1e-30, 2.0, f32::INFINITY];
        for w in values.windows(2) {
            assert!(ordered(w[0]) < ordered(w[1]), "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn merged_runs_give_the_full_sort_and_its_top_k() {
        let genes = genes(50);
        let ranking = Ranking::new(&genes).unwrap();
        // Many ties (logits on a coarse grid), so names decide much of the order.
        let mut all: Vec<Scored> = (0..50u32)
            .flat_map(|s| (0..50u32).filter(move |&t| t != s).map(move |t| (s, t)))
            .map(|(s, t)| Scored { source: s, target: t, logit: (((s * 31 + t * 17) % 13) as f32 - 6.0) / 4.0 })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (b, block) in all.chunks(300).enumerate() {
            let mut block = block.to_vec();
            ranking.sort(&mut block);
            let path = dir.path().join(format!("block-{b}.bin"));
            write_run(&path, &block).unwrap();
            paths.push(path);
        }
        // Runs given in any order merge the same.
        paths.reverse();
        let mut merged = Merged::open(&ranking, &paths).unwrap();
        let mut streamed = Vec::new();
        while let Some(s) = merged.next().unwrap() {
            streamed.push(s);
        }
        let name = |s: &Scored| (genes[s.source as usize].clone(), genes[s.target as usize].clone());
        all.sort_by(|a, b| b.logit.total_cmp(&a.logit).then_with(|| name(a).cmp(&name(b))));
        assert_eq!(streamed.len(), 50 * 49);
        assert_eq!(streamed, all);
        assert_eq!(streamed[..25], all[..25], "top 25");
    }

    #[test]
    fn a_cut_run_or_a_foreign_gene_is_refused_by_name() {
        let ranking = Ranking::new(&genes(3)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.bin");
        std::fs::write(&cut, [0u8; RECORD + 5]).unwrap();
        let mut m = Merged::open(&ranking, std::slice::from_ref(&cut)).unwrap();
        let e = m.next().and_then(|_| m.next()).unwrap_err().to_string();
        assert_eq!(e, format!("{}: ends inside a record (a shard was cut off while writing?)", cut.display()));
        let foreign = dir.path().join("foreign.bin");
        write_run(&foreign, &[Scored { source: 0, target: 9, logit: 1.0 }]).unwrap();
        let e = Merged::open(&ranking, std::slice::from_ref(&foreign)).err().unwrap().to_string();
        assert_eq!(e, format!("{}: a record names gene 0 or 9, but there are 3 genes", foreign.display()));
    }
}
