//! The labelled TF→gene pairs a method is trained and evaluated on.
//!
//! Candidates are every TF→gene pair inside the dataset's genes, self-pairs excluded. Every
//! ground-truth edge among them whose genes are both eligible (e.g. in the model's vocabulary) is
//! a positive; negatives are drawn without replacement from the other eligible candidates, in
//! one of three ways ([`NegativeSet`]). With one negative per positive a random scorer has
//! AUPRC 0.5.
use serde::Serialize;
use ugrn_sdk::Pair;

use super::Dataset;

/// How many non-edge candidates become negatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Negatives {
    /// Negatives per positive, rounded to the nearest count; capped at the non-edges there are.
    Ratio(f64),
    /// Every non-edge candidate.
    All,
}

/// Which non-edges are a test set's negatives. Each removes a shortcut the one before allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NegativeSet {
    /// Uniform over every eligible non-edge candidate: a score that knows only which TFs are
    /// hubs already does well.
    Uniform,
    /// For each source TF, as many of its own non-edges as it has edges (times the ratio):
    /// every source is as often positive as negative, so source degree tells nothing.
    BySource,
    /// The reverse (j → i) of each true edge i → j, where j is a TF, both genes are eligible
    /// and j → i is no edge: tests direction. At most one per positive.
    Reversed,
}

impl NegativeSet {
    pub fn as_str(self) -> &'static str {
        match self {
            NegativeSet::Uniform => "uniform",
            NegativeSet::BySource => "by-source",
            NegativeSet::Reversed => "reversed",
        }
    }
}

/// What a pair set was drawn from and holds. `positives` and `negatives` describe the set
/// itself (and follow `retain` and `split_validation`); the other counts describe the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PairCounts {
    /// TF→gene pairs inside the gene set, self-pairs excluded, eligible or not.
    pub candidates: usize,
    pub positives: usize,
    pub negatives: usize,
    /// Eligible non-edge candidates there were to draw negatives from.
    pub non_edges: usize,
    /// Ground-truth edges that are no candidate (self-loops, or a source outside the TF list).
    pub edges_not_candidates: usize,
    /// Candidate ground-truth edges left out because a gene of theirs is not eligible.
    pub edges_not_eligible: usize,
}

/// Pairs sorted by source then target, with a label each (true = ground-truth edge).
#[derive(Debug, Clone, PartialEq)]
pub struct PairSet {
    pub pairs: Vec<Pair>,
    pub labels: Vec<bool>,
    pub counts: PairCounts,
    /// What sampling left out or could not do, for the run report.
    pub notes: Vec<String>,
}

impl PairSet {
    /// Keeps the pairs `keep` accepts, in order; returns how many were dropped.
    pub fn retain(&mut self, keep: impl Fn(&Pair) -> bool) -> usize {
        let before = self.pairs.len();
        let (pairs, labels): (Vec<Pair>, Vec<bool>) =
            self.pairs.iter().zip(&self.labels).filter(|(p, _)| keep(p)).map(|(p, l)| (*p, *l)).unzip();
        self.counts.positives = labels.iter().filter(|&&l| l).count();
        self.counts.negatives = labels.len() - self.counts.positives;
        self.pairs = pairs;
        self.labels = labels;
        before - self.pairs.len()
    }

    /// The pairs at `rows` (ascending), with counts for them.
    fn subset(&self, rows: &[usize]) -> PairSet {
        let pairs: Vec<Pair> = rows.iter().map(|&r| self.pairs[r]).collect();
        let labels: Vec<bool> = rows.iter().map(|&r| self.labels[r]).collect();
        let positives = labels.iter().filter(|&&l| l).count();
        let counts = PairCounts { positives, negatives: labels.len() - positives, ..self.counts };
        PairSet { pairs, labels, counts, notes: self.notes.clone() }
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014). Home-made on purpose: its stream is fixed by this
/// code, not by a crate version, so a seed names the same sample in every build.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` for n > 0, without modulo bias (Lemire's multiply-and-reject).
    fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let reject_under = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if product as u64 >= reject_under {
                return (product >> 64) as usize;
            }
        }
    }

    /// Moves a uniform random `k`-subset of `items` to its front (partial Fisher–Yates).
    fn choose_front<T>(&mut self, items: &mut [T], k: usize) {
        for i in 0..k.min(items.len()) {
            let j = i + self.below(items.len() - i);
            items.swap(i, j);
        }
    }
}

/// Every positive and the requested negatives of `dataset` among pairs of genes `eligible`
/// accepts (by index into `dataset.genes`), sorted by (source, target). Ineligible genes are
/// left out before negatives are drawn, so the ratio holds among what is kept. The same dataset,
/// `negatives`, `set`, `seed` and eligible genes give the same sample; with every gene
/// eligible, the sample is the one drawn from the whole dataset.
///
/// # Panics
/// If a `Ratio` is negative or NaN (the workflow checks it before).
pub fn sample_pairs(
    dataset: &Dataset,
    negatives: Negatives,
    set: NegativeSet,
    seed: u64,
    eligible: impl Fn(usize) -> bool,
) -> PairSet {
    let genes = dataset.genes.len();
    let mut is_tf = vec![false; genes];
    for &t in &dataset.tfs {
        is_tf[t] = true;
    }
    let is_eligible: Vec<bool> = (0..genes).map(eligible).collect();
    let (edges, not_candidates): (Vec<Pair>, Vec<Pair>) =
        dataset.edges.iter().partition(|e| e.source != e.target && is_tf[e.source]);
    let (positives, not_eligible): (Vec<Pair>, Vec<Pair>) =
        edges.iter().partition(|e| is_eligible[e.source] && is_eligible[e.target]);
    let candidates = dataset.tfs.len() * genes.saturating_sub(1);
    // Sorted (sources ascending, then targets), as `dataset.edges` and so `positives` are.
    let mut pool = Vec::with_capacity(candidates - edges.len());
    for &source in dataset.tfs.iter().filter(|&&s| is_eligible[s]) {
        for target in (0..genes).filter(|&t| t != source && is_eligible[t]) {
            let pair = Pair { source, target };
            if positives.binary_search(&pair).is_err() {
                pool.push(pair);
            }
        }
    }
    let non_edges = pool.len();

    let mut notes = Vec::new();
    if !not_candidates.is_empty() {
        let self_loops = not_candidates.iter().filter(|e| e.source == e.target).count();
        notes.push(format!(
            "{} ground-truth edges are no TF→gene candidates, so unused: {self_loops} self-loops, {} from non-TFs",
            not_candidates.len(),
            not_candidates.len() - self_loops
        ));
    }
    let wanted = |positives: usize| match negatives {
        Negatives::All => usize::MAX,
        Negatives::Ratio(ratio) => {
            assert!(ratio >= 0.0, "negative ratio must be ≥ 0, got {ratio}");
            // A float-to-int `as` saturates.
            (ratio * positives as f64).round() as usize
        }
    };
    let mut rng = SplitMix64(seed);
    let chosen: Vec<Pair> = match set {
        NegativeSet::Uniform => {
            let want = wanted(positives.len());
            if want > non_edges && negatives != Negatives::All {
                notes.push(format!(
                    "only {non_edges} non-edge candidates for the {want} negatives a ratio of {} asks: all taken",
                    ratio_text(negatives)
                ));
            }
            take(&mut rng, pool, want)
        }
        NegativeSet::BySource => {
            let mut chosen = Vec::new();
            let mut short = 0;
            for group in pool.chunk_by(|a, b| a.source == b.source) {
                let source = group[0].source;
                let own = positives.iter().filter(|p| p.source == source).count();
                let want = wanted(own);
                if want > group.len() && negatives != Negatives::All {
                    short += want - group.len();
                }
                chosen.extend(take(&mut rng, group.to_vec(), want));
            }
            if short > 0 {
                notes.push(format!(
                    "by-source negatives: {short} fewer than asked, as some sources have fewer non-edges than \
                     {} per edge",
                    ratio_text(negatives)
                ));
            }
            chosen
        }
        NegativeSet::Reversed => {
            let reversed: Vec<Pair> = positives
                .iter()
                .map(|p| Pair { source: p.target, target: p.source })
                .filter(|r| is_tf[r.source] && pool.binary_search(r).is_ok())
                .collect();
            if reversed.len() < positives.len() {
                notes.push(format!(
                    "reversed negatives: {} of the {} positives have a reverse that is a candidate non-edge \
                     (target a TF, reverse no edge); the set is not balanced",
                    reversed.len(),
                    positives.len()
                ));
            }
            reversed
        }
    };

    let mut labelled: Vec<(Pair, bool)> =
        positives.iter().map(|&p| (p, true)).chain(chosen.iter().map(|&p| (p, false))).collect();
    labelled.sort_unstable();
    let (pairs, labels) = labelled.into_iter().unzip();
    let counts = PairCounts {
        candidates,
        positives: positives.len(),
        negatives: chosen.len(),
        non_edges,
        edges_not_candidates: not_candidates.len(),
        edges_not_eligible: not_eligible.len(),
    };
    PairSet { pairs, labels, counts, notes }
}

fn ratio_text(negatives: Negatives) -> String {
    match negatives {
        Negatives::Ratio(r) => r.to_string(),
        Negatives::All => "all".into(),
    }
}

/// A uniform random `want`-subset of `items` (all of them when there are fewer), in any order.
fn take(rng: &mut SplitMix64, mut items: Vec<Pair>, want: usize) -> Vec<Pair> {
    if want < items.len() {
        rng.choose_front(&mut items, want);
        items.truncate(want);
    }
    items
}

/// Splits `set` into (training, validation): `fraction` of the positives and of the negatives
/// (each rounded) go to validation, chosen at random for `seed`; both keep the input order.
///
/// # Panics
/// If `fraction` is outside [0, 1].
pub fn split_validation(set: &PairSet, fraction: f64, seed: u64) -> (PairSet, PairSet) {
    assert!((0.0..=1.0).contains(&fraction), "validation fraction must be in [0, 1], got {fraction}");
    let mut rng = SplitMix64(seed);
    let mut in_validation = vec![false; set.pairs.len()];
    for label in [true, false] {
        let mut rows: Vec<usize> = (0..set.labels.len()).filter(|&r| set.labels[r] == label).collect();
        let k = (fraction * rows.len() as f64).round() as usize;
        rng.choose_front(&mut rows, k);
        for &r in &rows[..k] {
            in_validation[r] = true;
        }
    }
    let (validation, training): (Vec<usize>, Vec<usize>) = (0..set.pairs.len()).partition(|&r| in_validation[r]);
    (set.subset(&training), set.subset(&validation))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Six genes, TFs 0 and 1: 10 candidates, 3 of them edges; plus a self-loop and an edge
    /// from a non-TF, which are no candidates.
    fn dataset() -> Dataset {
        let edge = |source, target| Pair { source, target };
        Dataset {
            name: "toy".into(),
            network: "custom".into(),
            size: None,
            genes: ["A", "B", "C", "D", "E", "F"].iter().map(|s| s.to_string()).collect(),
            tfs: vec![0, 1],
            edges: vec![edge(0, 0), edge(0, 2), edge(1, 0), edge(1, 5), edge(3, 4)],
            expression: None,
            expression_source: String::new(),
            notes: vec![],
        }
    }

    #[test]
    fn balanced_sampling_counts_and_labels() {
        let set = sample_pairs(&dataset(), Negatives::Ratio(1.0), NegativeSet::Uniform, 7, |_| true);
        let counts = PairCounts {
            candidates: 10,
            positives: 3,
            negatives: 3,
            non_edges: 7,
            edges_not_candidates: 2,
            edges_not_eligible: 0,
        };
        assert_eq!(set.counts, counts);
        assert_eq!(set.pairs.len(), 6);
        let positives: Vec<Pair> = set.pairs.iter().zip(&set.labels).filter(|(_, l)| **l).map(|(p, _)| *p).collect();
        assert_eq!(
            positives,
            vec![Pair { source: 0, target: 2 }, Pair { source: 1, target: 0 }, Pair { source: 1, target: 5 }]
        );
        assert!(set.pairs.windows(2).all(|w| w[0] < w[1]), "sorted and distinct: {:?}", set.pairs);
        for (p, &label) in set.pairs.iter().zip(&set.labels) {
            assert!(p.source != p.target && p.source <= 1);
            assert_eq!(label, dataset().edges.contains(p));
        }
        assert_eq!(
            set.notes,
            vec!["2 ground-truth edges are no TF→gene candidates, so unused: 1 self-loops, 1 from non-TFs"]
        );
    }

    #[test]
    fn sampling_is_deterministic_per_seed_and_varies_across_seeds() {
        let d = dataset();
        let a = sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, 1, |_| true);
        assert_eq!(a, sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, 1, |_| true));
        let distinct: BTreeSet<Vec<Pair>> =
            (0..20).map(|s| sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, s, |_| true).pairs).collect();
        assert!(distinct.len() > 5, "only {} different samples from 20 seeds", distinct.len());
    }

    #[test]
    fn negatives_are_uniform_over_non_edges() {
        // 7 non-edges, 3 drawn per seed: each should be drawn 3/7 of the time.
        let d = dataset();
        let mut drawn = std::collections::BTreeMap::<Pair, usize>::new();
        let runs = 7000;
        for seed in 0..runs {
            let set = sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, seed, |_| true);
            for (p, _) in set.pairs.iter().zip(&set.labels).filter(|(_, l)| !**l) {
                *drawn.entry(*p).or_default() += 1;
            }
        }
        assert_eq!(drawn.len(), 7);
        for (pair, n) in drawn {
            assert!((2700..=3300).contains(&n), "{pair:?} drawn {n} times of {runs}, expected about 3000");
        }
    }

    #[test]
    fn ineligible_genes_are_left_out_before_negatives_are_drawn() {
        // Gene F (5) ineligible: TF 1 → F (an edge) is left out, and the eligible candidates are
        // TF 0 → B, C, D, E and TF 1 → A, C, D, E, of which 0 → C and 1 → A are edges, so 6
        // non-edges remain to draw from.
        let d = dataset();
        for seed in 0..50 {
            let set = sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::Uniform, seed, |g| g != 5);
            let counts = PairCounts {
                candidates: 10,
                positives: 2,
                negatives: 2,
                non_edges: 6,
                edges_not_candidates: 2,
                edges_not_eligible: 1,
            };
            assert_eq!(set.counts, counts);
            assert_eq!(set.labels.iter().filter(|&&l| l).count(), 2);
            assert_eq!(set.labels.iter().filter(|&&l| !l).count(), 2);
            assert!(set.pairs.iter().all(|p| p.source != 5 && p.target != 5), "{:?}", set.pairs);
            let positives: Vec<Pair> =
                set.pairs.iter().zip(&set.labels).filter(|(_, l)| **l).map(|(p, _)| *p).collect();
            assert_eq!(positives, vec![Pair { source: 0, target: 2 }, Pair { source: 1, target: 0 }]);
        }
        // An ineligible TF takes all its pairs along: only TF 1 → C, D, E remain, none an edge.
        let all = sample_pairs(&d, Negatives::All, NegativeSet::Uniform, 0, |g| g != 0 && g != 5);
        let counts = PairCounts {
            candidates: 10,
            positives: 0,
            negatives: 3,
            non_edges: 3,
            edges_not_candidates: 2,
            edges_not_eligible: 3,
        };
        assert_eq!(all.counts, counts);
        let pair = |source, target| Pair { source, target };
        assert_eq!(all.pairs, vec![pair(1, 2), pair(1, 3), pair(1, 4)]);
    }

    #[test]
    fn ratio_all_and_shortfall() {
        let d = dataset();
        assert_eq!(sample_pairs(&d, Negatives::Ratio(2.0), NegativeSet::Uniform, 0, |_| true).counts.negatives, 6);
        assert_eq!(sample_pairs(&d, Negatives::Ratio(0.5), NegativeSet::Uniform, 0, |_| true).counts.negatives, 2);
        let all = sample_pairs(&d, Negatives::All, NegativeSet::Uniform, 0, |_| true);
        assert_eq!((all.counts.negatives, all.pairs.len()), (7, 10));
        assert_eq!(all.notes.len(), 1);
        let short = sample_pairs(&d, Negatives::Ratio(3.0), NegativeSet::Uniform, 0, |_| true);
        assert_eq!(short.counts.negatives, 7);
        assert_eq!(short.notes[1], "only 7 non-edge candidates for the 9 negatives a ratio of 3 asks: all taken");
    }

    #[test]
    fn validation_split_is_stratified_and_deterministic() {
        let d = Dataset { tfs: vec![0, 1, 2, 3, 4, 5], ..dataset() };
        let set = sample_pairs(&d, Negatives::Ratio(2.0), NegativeSet::Uniform, 3, |_| true);
        assert_eq!((set.counts.positives, set.counts.negatives), (4, 8));
        let (train, validation) = split_validation(&set, 0.25, 9);
        assert_eq!((validation.counts.positives, validation.counts.negatives), (1, 2));
        assert_eq!((train.counts.positives, train.counts.negatives), (3, 6));
        assert_eq!(validation.labels.iter().filter(|&&l| l).count(), 1);
        assert_eq!(train.counts.candidates, set.counts.candidates);
        let mut union: Vec<Pair> = train.pairs.iter().chain(&validation.pairs).copied().collect();
        union.sort_unstable();
        assert_eq!(union, set.pairs);
        assert!(train.pairs.windows(2).all(|w| w[0] < w[1]) && validation.pairs.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(split_validation(&set, 0.25, 9), (train, validation));
        let (all_train, none) = split_validation(&set, 0.0, 9);
        assert_eq!((all_train.pairs, none.pairs.len()), (set.pairs.clone(), 0));
    }

    #[test]
    fn retain_drops_and_recounts() {
        let d = dataset();
        let mut set = sample_pairs(&d, Negatives::All, NegativeSet::Uniform, 0, |_| true);
        let dropped = set.retain(|p| p.target != 0);
        // Only TF 1 → gene 0 (an edge) goes: TF 0 has no self-pair to lose.
        assert_eq!(dropped, 1);
        assert_eq!((set.counts.positives, set.counts.negatives), (2, 7));
        assert_eq!(set.pairs.len(), set.labels.len());
        assert!(set.pairs.iter().all(|p| p.target != 0));
    }

    #[test]
    fn lemire_bound_stays_in_range() {
        let mut rng = SplitMix64(42);
        assert!((0..1000).all(|_| rng.below(3) < 3));
        assert_eq!(rng.below(1), 0);
    }

    fn negatives_of(set: &PairSet) -> Vec<Pair> {
        set.pairs.iter().zip(&set.labels).filter(|(_, l)| !**l).map(|(p, _)| *p).collect()
    }

    #[test]
    fn by_source_negatives_give_each_source_as_many_non_edges_as_edges() {
        // TF 0 has one edge (0 → C), TF 1 two (1 → A, 1 → F).
        let d = dataset();
        let mut seen = BTreeSet::new();
        for seed in 0..200 {
            let set = sample_pairs(&d, Negatives::Ratio(1.0), NegativeSet::BySource, seed, |_| true);
            let negatives = negatives_of(&set);
            assert_eq!(negatives.iter().filter(|p| p.source == 0).count(), 1, "{negatives:?}");
            assert_eq!(negatives.iter().filter(|p| p.source == 1).count(), 2, "{negatives:?}");
            assert!(negatives.iter().all(|p| !d.edges.contains(p) && p.source != p.target));
            assert_eq!((set.counts.positives, set.counts.negatives), (3, 3));
            seen.extend(negatives);
        }
        // Every non-edge of each source is drawn sometimes: 0 → B, D, E, F and 1 → C, D, E.
        assert_eq!(seen.len(), 7, "{seen:?}");
        // Twice the edges asks more than TF 1 has (3 non-edges for 4): all taken, and said.
        let short = sample_pairs(&d, Negatives::Ratio(2.0), NegativeSet::BySource, 0, |_| true);
        assert_eq!(short.counts.negatives, 2 + 3);
        assert_eq!(
            short.notes[1],
            "by-source negatives: 1 fewer than asked, as some sources have fewer non-edges than 2 per edge"
        );
    }

    #[test]
    fn reversed_negatives_are_the_reverse_of_edges_whose_target_is_a_tf() {
        // Of 0 → C, 1 → A and 1 → F only 1 → A has a TF target, and A → B (0 → 1) is no edge.
        let set = sample_pairs(&dataset(), Negatives::Ratio(1.0), NegativeSet::Reversed, 0, |_| true);
        assert_eq!(negatives_of(&set), vec![Pair { source: 0, target: 1 }]);
        assert_eq!((set.counts.positives, set.counts.negatives), (3, 1));
        assert_eq!(
            set.notes[1],
            "reversed negatives: 1 of the 3 positives have a reverse that is a candidate non-edge (target a \
             TF, reverse no edge); the set is not balanced"
        );
        // An ineligible gene takes its reverse along.
        let without_b = sample_pairs(&dataset(), Negatives::Ratio(1.0), NegativeSet::Reversed, 0, |g| g != 1);
        assert!(negatives_of(&without_b).is_empty());
    }
}
