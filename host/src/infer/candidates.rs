//! Which pairs an inference scores: the TFs matched among the dataset's genes, and every
//! TF→gene candidate the model can score (or the pairs a file lists).
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::bail;
use ugrn_sdk::{GeneSymbol, Pair};

use crate::data::{Dataset, index_genes, read_edges, read_tf_names};

/// The TF lists shipped in `data/tfs/` (see its README for provenance), built into the binary
/// so an installed or moved `ugrn` needs no data folder.
const HUMAN_TFS: &str = include_str!("../../../data/tfs/human-lambert2018.txt");
const MOUSE_TFS: &str = include_str!("../../../data/tfs/mouse-mgi.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Species {
    /// Lambert et al. 2018, 1,639 human TFs.
    Human,
    /// MGI, 1,721 mouse TFs (as pySCENIC ships them).
    Mouse,
}

impl Species {
    fn list(self) -> (&'static str, &'static str) {
        match self {
            Species::Human => ("the human TF list (Lambert et al. 2018)", HUMAN_TFS),
            Species::Mouse => ("the mouse TF list (MGI)", MOUSE_TFS),
        }
    }
}

/// Where the TFs come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TfSource {
    File(PathBuf),
    Species(Species),
}

/// The TFs found among the dataset's genes (symbols matched case-insensitively).
#[derive(Debug, Clone)]
pub struct MatchedTfs {
    /// What the list was, for the summary.
    pub source: String,
    pub listed: usize,
    /// Ascending, distinct gene indices.
    pub indices: Vec<usize>,
    /// Listed TFs not among the genes, in list order.
    pub unmatched: Vec<String>,
}

pub fn match_tfs(source: &TfSource, genes: &[GeneSymbol]) -> anyhow::Result<MatchedTfs> {
    let (described, names) = match source {
        TfSource::File(path) => (path.display().to_string(), read_tf_names(path)?),
        TfSource::Species(species) => {
            let (described, text) = species.list();
            (described.to_string(), text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect())
        }
    };
    let by_upper: HashMap<String, usize> = genes.iter().enumerate().map(|(i, g)| (g.to_uppercase(), i)).collect();
    let mut indices = Vec::new();
    let mut unmatched = Vec::new();
    for name in &names {
        match by_upper.get(&name.to_uppercase()) {
            Some(&i) => indices.push(i),
            None => unmatched.push(name.clone()),
        }
    }
    indices.sort_unstable();
    indices.dedup();
    if indices.is_empty() {
        let first: Vec<&str> = genes.iter().take(5).map(String::as_str).collect();
        bail!(
            "{described}: none of its {} TFs is among the {} genes of the expression file (first genes: {}); \
             check the species, or the gene column (--gene-column) for an .h5ad",
            names.len(),
            genes.len(),
            first.join(", ")
        );
    }
    Ok(MatchedTfs { source: described, listed: names.len(), indices, unmatched })
}

/// The pairs to score, by source, with what was left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    /// Ascending, distinct gene indices.
    sources: Vec<usize>,
    targets: Targets,
    /// Listed pairs left out because a gene is not in the vocabulary (listed pairs only).
    pub unknown: usize,
    /// Listed pairs whose source is not a matched TF: scored all the same (listed pairs only).
    pub non_tf_sources: usize,
    /// What reading the list dropped (genes outside the dataset, repeats, self-pairs).
    pub notes: Vec<String>,
}

/// The targets of each source: every gene but itself (not materialised: tens of millions of
/// pairs would be), or the listed ones.
#[derive(Debug, Clone, PartialEq)]
enum Targets {
    /// Ascending gene indices; a source is not its own target.
    All(Vec<usize>),
    /// Sorted by source, then target; `starts[i]..starts[i + 1]` are source `i`'s.
    Listed { pairs: Vec<Pair>, starts: Vec<usize> },
}

impl Candidates {
    /// The pairs of source `i` (an index into the sources).
    fn count_of(&self, i: usize) -> usize {
        match &self.targets {
            Targets::All(targets) => targets.len() - usize::from(targets.binary_search(&self.sources[i]).is_ok()),
            Targets::Listed { starts, .. } => starts[i + 1] - starts[i],
        }
    }

    /// Every candidate.
    pub fn count(&self) -> usize {
        self.count_in(0..self.sources.len())
    }

    /// The pairs of the sources `block`.
    pub fn count_in(&self, block: Range<usize>) -> usize {
        block.map(|i| self.count_of(i)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The sources, cut in order into blocks of whole sources with at most `max_pairs` pairs
    /// each (a source with more is a block alone); ranges of source indices.
    pub fn blocks(&self, max_pairs: usize) -> Vec<Range<usize>> {
        let mut blocks = Vec::new();
        let (mut start, mut pairs) = (0, 0);
        for i in 0..self.sources.len() {
            let n = self.count_of(i);
            if pairs > 0 && pairs + n > max_pairs {
                blocks.push(start..i);
                (start, pairs) = (i, 0);
            }
            pairs += n;
        }
        if pairs > 0 {
            blocks.push(start..self.sources.len());
        }
        blocks
    }

    /// The pairs of the sources `block`, sources ascending, then targets.
    pub fn pairs_of(&self, block: Range<usize>) -> Vec<Pair> {
        match &self.targets {
            Targets::All(targets) => block
                .flat_map(|i| {
                    let source = self.sources[i];
                    targets.iter().filter(move |&&t| t != source).map(move |&target| Pair { source, target })
                })
                .collect(),
            Targets::Listed { pairs, starts } => pairs[starts[block.start]..starts[block.end]].to_vec(),
        }
    }
}

/// Every TF→gene pair, self-pairs excluded, among the genes `known` keeps; sources ascending,
/// then targets.
pub fn all(dataset: &Dataset, known: impl Fn(usize) -> bool) -> Candidates {
    let targets: Vec<usize> = (0..dataset.genes.len()).filter(|&g| known(g)).collect();
    let mut sources: Vec<usize> = dataset.tfs.iter().copied().filter(|&t| known(t)).collect();
    sources.sort_unstable();
    sources.dedup();
    Candidates { sources, targets: Targets::All(targets), unknown: 0, non_tf_sources: 0, notes: Vec::new() }
}

/// The pairs of a `Gene1,Gene2` CSV naming the dataset's genes (exact symbols), sorted and
/// distinct, without self-pairs and those `known` rejects.
pub fn listed(file: &Path, dataset: &Dataset, known: impl Fn(usize) -> bool) -> anyhow::Result<Candidates> {
    let index = index_genes(&dataset.genes);
    let (mut edges, mut notes) = read_edges(file, &index, &dataset.expression_source)?;
    let listed = edges.len();
    edges.retain(|p| p.source != p.target);
    if edges.len() < listed {
        notes.push(format!("{} self-pairs of {} left out", listed - edges.len(), file.display()));
    }
    let before = edges.len();
    let mut pairs: Vec<Pair> = edges.into_iter().filter(|p| known(p.source) && known(p.target)).collect();
    let non_tf_sources = pairs.iter().filter(|p| dataset.tfs.binary_search(&p.source).is_err()).count();
    if pairs.is_empty() {
        bail!("{}: none of its {before} pairs names two genes the model knows", file.display());
    }
    pairs.sort_unstable_by_key(|p| (p.source, p.target));
    let mut sources = Vec::new();
    let mut starts = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        if sources.last() != Some(&p.source) {
            sources.push(p.source);
            starts.push(i);
        }
    }
    starts.push(pairs.len());
    Ok(Candidates {
        unknown: before - pairs.len(),
        sources,
        targets: Targets::Listed { pairs, starts },
        non_tf_sources,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(genes: &[&str], tfs: Vec<usize>) -> Dataset {
        Dataset {
            name: "d".into(),
            network: "none".into(),
            size: None,
            genes: genes.iter().map(|g| g.to_string()).collect(),
            tfs,
            edges: Vec::new(),
            expression: None,
            expression_source: "expr.csv".into(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn species_lists_match_symbols_in_any_case() {
        let genes: Vec<String> = ["SOX2", "Pou5f1", "ACTB", "nanog"].iter().map(|g| g.to_string()).collect();
        let m = match_tfs(&TfSource::Species(Species::Mouse), &genes).unwrap();
        assert_eq!(m.indices, vec![0, 1, 3]);
        assert_eq!(m.listed, 1721);
        assert_eq!(m.unmatched.len(), 1721 - 3);
        let human = match_tfs(&TfSource::Species(Species::Human), &genes).unwrap();
        assert_eq!((human.listed, human.indices.clone()), (1639, vec![0, 1, 3]));
    }

    #[test]
    fn no_tf_among_the_genes_is_an_error_naming_the_list() {
        let genes: Vec<String> = vec!["ACTB".into(), "GAPDH".into()];
        let e = match_tfs(&TfSource::Species(Species::Human), &genes).unwrap_err().to_string();
        assert_eq!(
            e,
            "the human TF list (Lambert et al. 2018): none of its 1639 TFs is among the 2 genes of the \
             expression file (first genes: ACTB, GAPDH); check the species, or the gene column \
             (--gene-column) for an .h5ad"
        );
    }

    #[test]
    fn every_tf_to_known_gene_pair_without_self_pairs() {
        let d = dataset(&["A", "B", "C", "D"], vec![0, 2]);
        let c = all(&d, |g| g != 3);
        let pairs: Vec<(usize, usize)> = c.pairs_of(0..2).iter().map(|p| (p.source, p.target)).collect();
        assert_eq!(pairs, vec![(0, 1), (0, 2), (2, 0), (2, 1)]);
        assert_eq!(c.count(), 4);
    }

    #[test]
    fn listed_pairs_keep_known_genes_and_count_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pairs.csv");
        std::fs::write(&file, "Gene1,Gene2\nA,B\nB,C\nA,D\nA,B\nC,C\nA,Z\n").unwrap();
        let d = dataset(&["A", "B", "C", "D"], vec![0]);
        let c = listed(&file, &d, |g| g != 3).unwrap();
        assert_eq!(c.pairs_of(0..2), vec![Pair { source: 0, target: 1 }, Pair { source: 1, target: 2 }]);
        assert_eq!((c.unknown, c.non_tf_sources), (1, 1));
        assert_eq!(
            c.notes,
            [
                "1 edges of pairs.csv name genes outside expr.csv: dropped (A→Z)".to_string(),
                "1 repeated edges of pairs.csv counted once".to_string(),
                format!("1 self-pairs of {} left out", file.display()),
            ]
        );
    }

    #[test]
    fn blocks_hold_whole_sources_and_cover_every_pair_once() {
        let genes: Vec<String> = (0..10).map(|g| format!("g{g}")).collect();
        let names: Vec<&str> = genes.iter().map(String::as_str).collect();
        // Sources 1, 4, 5, 8 over 10 targets: 9 pairs each.
        let c = all(&dataset(&names, vec![8, 1, 4, 5]), |_| true);
        assert_eq!(c.count(), 36);
        assert_eq!(c.blocks(18), vec![0..2, 2..4]);
        assert_eq!(c.blocks(20), vec![0..2, 2..4]);
        assert_eq!(c.blocks(27), vec![0..3, 3..4]);
        assert_eq!(c.blocks(5), vec![0..1, 1..2, 2..3, 3..4], "a source with more pairs is a block alone");
        assert_eq!(c.blocks(1000), vec![0..4]);
        let mut joined: Vec<Pair> = c.blocks(10).into_iter().flat_map(|b| c.pairs_of(b)).collect();
        assert_eq!(joined, c.pairs_of(0..4));
        joined.dedup();
        assert_eq!(joined.len(), 36);
        assert!(joined.iter().all(|p| p.source != p.target && [1, 4, 5, 8].contains(&p.source)));
    }
}
