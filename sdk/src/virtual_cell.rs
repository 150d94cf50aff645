//! Cells for the counterfactual probes (VVP, GDT, Pert, Attn), built in one place.
//!
//! Every such probe asks the same question: for each pair (source i, target j), run a few cells
//! that differ only in the source's input value (the probe's [`Variant`]s) and read the model's
//! answer at the target. [`Probing`] resolves a request's genes to tokens once, lays the cells
//! out for the chosen [`ProbeContext`], splits the work into chunks (bounded memory, steady
//! progress) and puts each pair's values back in request order.
//!
//! - `dataset` context: every gene of the dataset that is in the vocabulary is in every cell.
//!   The cells of a source serve all of its targets, so a chunk holds one cell per (source,
//!   variant); the unchanged cell does not depend on the source and is shared by the chunk.
//! - `pair` context: a cell holds only the source and the target (only the source for a
//!   self-pair), so the pairs of a chunk pack into one batch of short cells.
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::oracle::{CellBatch, ModelOracle};
use crate::params::{ParamSpec, Params};
use crate::plugin::{ProbeRequest, Progress};
use crate::types::{DatasetView, Features, Matrix, Pair, TokenId};

/// Sources per chunk in `dataset` context: 16 sources × 8 variants is 128 full-length cells
/// (over 100k tokens at 900 genes), a full GPU batch, while progress still moves every few
/// minutes when a large model runs on a CPU.
pub const SOURCES_PER_CHUNK: usize = 16;

/// Pairs per chunk in `pair` context, where cells are two genes long.
pub const PAIRS_PER_CHUNK: usize = 4096;

/// Which genes a probe's cells hold besides the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeContext {
    /// The source and the target only (the backbone adds its special tokens).
    Pair,
    /// Every gene of the dataset that is in the vocabulary.
    Dataset,
}

impl ProbeContext {
    /// The parameter's name in probe tables.
    pub const PARAM: &'static str = "context";

    pub fn as_str(self) -> &'static str {
        match self {
            ProbeContext::Pair => "pair",
            ProbeContext::Dataset => "dataset",
        }
    }

    /// The `context` parameter with `default`.
    pub fn param_spec(default: ProbeContext) -> ParamSpec {
        ParamSpec::choice(
            Self::PARAM,
            &["dataset", "pair"],
            default.as_str(),
            "genes in each cell: `dataset` = every dataset gene in the vocabulary (the paper's \
             shared context; one set of cells per source serves all its targets), `pair` = the \
             source and the target only (much cheaper, but the model sees a two-gene cell)",
        )
    }

    pub fn from_params(params: &Params) -> Result<Self> {
        match params.str(Self::PARAM)? {
            "dataset" => Ok(ProbeContext::Dataset),
            "pair" => Ok(ProbeContext::Pair),
            other => Err(Error::param(Self::PARAM, format!("{other:?} is not one of dataset, pair"))),
        }
    }
}

/// A finite number parameter, as an input value.
pub fn value_param(params: &Params, key: &str) -> Result<f32> {
    let x = params.f64(key)?;
    if !x.is_finite() {
        return Err(Error::param(key, format!("expected a finite number, got {x}")));
    }
    Ok(x as f32)
}

/// A non-empty list of distinct finite numbers (each names a feature column, so no repeats).
pub fn value_list_param(params: &Params, key: &str) -> Result<Vec<f32>> {
    let xs = params.f64_list(key)?;
    if xs.is_empty() {
        return Err(Error::param(key, "expected at least one value"));
    }
    for (i, &x) in xs.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::param(key, format!("expected finite numbers, got {x}")));
        }
        if xs[..i].contains(&x) {
            return Err(Error::param(key, format!("{x} is listed twice")));
        }
    }
    Ok(xs.into_iter().map(|x| x as f32).collect())
}

/// The input values of a cell before its source is changed.
#[derive(Debug, Clone, Copy)]
pub enum Base<'a> {
    /// Every gene at this value: a virtual cell.
    Background(f32),
    /// One value per context gene, in [`Probing::context_tokens`] order (e.g.
    /// [`Probing::mean_cell`]); a `pair` cell takes the values of its two genes.
    Prepared(&'a [f32]),
}

/// What one cell does to its source gene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The source's input value is set to this.
    Set(f32),
    /// The base cell as it is. In `dataset` context it is the same cell for every source.
    Unchanged,
}

/// The rows of one source, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceGroup {
    pub source: usize,
    pub rows: Vec<usize>,
}

/// Pairs grouped by source, sources in order of first appearance.
pub fn group_by_source(pairs: &[Pair]) -> Vec<SourceGroup> {
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<SourceGroup> = Vec::new();
    for (row, pair) in pairs.iter().enumerate() {
        let g = *index.entry(pair.source).or_insert_with(|| {
            groups.push(SourceGroup { source: pair.source, rows: Vec::new() });
            groups.len() - 1
        });
        groups[g].rows.push(row);
    }
    groups
}

/// The context (dataset genes in the vocabulary, in dataset order) and each pair's positions in it.
struct Resolved {
    tokens: Vec<TokenId>,
    genes: Vec<usize>,
    pairs: Vec<(usize, usize)>,
}

fn resolve(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle) -> Result<Resolved> {
    let dataset = &request.dataset;
    let ids = oracle.token_ids(dataset.genes);
    if ids.len() != dataset.genes.len() {
        return Err(Error::compute(format!(
            "the oracle gave {} token ids for the {} genes of dataset `{}`",
            ids.len(),
            dataset.genes.len(),
            dataset.name
        )));
    }
    let mut position = vec![None; ids.len()];
    let mut tokens = Vec::new();
    let mut genes = Vec::new();
    for (gene, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            position[gene] = Some(tokens.len());
            tokens.push(*id);
            genes.push(gene);
        }
    }
    let locate = |row: usize, gene: usize| -> Result<usize> {
        let Some(symbol) = dataset.genes.get(gene) else {
            return Err(Error::invalid(format!(
                "pair {row} names gene {gene}, but dataset `{}` has {} genes",
                dataset.name,
                dataset.genes.len()
            )));
        };
        position[gene].ok_or_else(|| {
            Error::invalid(format!(
                "gene `{symbol}` (pair {row}) of dataset `{}` is not in the {} vocabulary",
                dataset.name,
                oracle.info().family
            ))
        })
    };
    let pairs = request
        .pairs
        .iter()
        .enumerate()
        .map(|(row, p)| Ok((locate(row, p.source)?, locate(row, p.target)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Resolved { tokens, genes, pairs })
}

/// The (source, target) tokens of every pair, checking that both genes are in the vocabulary.
pub fn pair_tokens(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle) -> Result<Vec<(TokenId, TokenId)>> {
    let r = resolve(request, oracle)?;
    Ok(r.pairs.iter().map(|&(s, t)| (r.tokens[s], r.tokens[t])).collect())
}

/// One probe request, resolved against the model's vocabulary and laid out for a context.
#[derive(Debug)]
pub struct Probing {
    context: ProbeContext,
    dataset: String,
    context_tokens: Vec<TokenId>,
    context_genes: Vec<usize>,
    /// (source, target) positions of each pair in the context.
    pairs: Vec<(usize, usize)>,
}

impl Probing {
    /// Resolves the request's genes; `dataset` context must fit the model's longest context.
    pub fn new(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle, context: ProbeContext) -> Result<Self> {
        let r = resolve(request, oracle)?;
        let max = oracle.info().max_context;
        if context == ProbeContext::Dataset && r.tokens.len() > max {
            return Err(Error::param(
                ProbeContext::PARAM,
                format!(
                    "dataset `{}` has {} genes in the vocabulary, more than the {max} context genes \
                     the model takes; use context = \"pair\"",
                    request.dataset.name,
                    r.tokens.len()
                ),
            ));
        }
        Ok(Probing {
            context,
            dataset: request.dataset.name.to_string(),
            context_tokens: r.tokens,
            context_genes: r.genes,
            pairs: r.pairs,
        })
    }

    /// The dataset's genes that are in the vocabulary, in dataset order: the `dataset` context.
    pub fn context_tokens(&self) -> &[TokenId] {
        &self.context_tokens
    }

    /// The dataset's real mean cell over [`Self::context_tokens`], in model input values (the
    /// oracle's `prepare_expression`). Not applicable to a dataset without expression.
    pub fn mean_cell(&self, dataset: &DatasetView<'_>, oracle: &dyn ModelOracle) -> Result<Vec<f32>> {
        let Some(expression) = dataset.expression else {
            return Err(Error::NotApplicable(format!(
                "dataset `{}` has no expression matrix (expected from {}); the real mean cell needs one",
                dataset.name, dataset.expression_source
            )));
        };
        if expression.values.rows != dataset.genes.len() || expression.values.cols == 0 {
            return Err(Error::invalid(format!(
                "expression of dataset `{}` ({}) has {} genes × {} cells for {} genes",
                dataset.name,
                dataset.expression_source,
                expression.values.rows,
                expression.values.cols,
                dataset.genes.len()
            )));
        }
        let means = expression.gene_means();
        let context_means: Vec<f32> = self.context_genes.iter().map(|&g| means[g]).collect();
        let prepared = oracle.prepare_expression(&self.context_tokens, &context_means)?;
        if prepared.len() != self.context_tokens.len() {
            return Err(Error::compute(format!(
                "the oracle prepared {} values for the {} context genes of dataset `{}`",
                prepared.len(),
                self.context_tokens.len(),
                self.dataset
            )));
        }
        Ok(prepared)
    }

    /// Request rows by chunk. In `dataset` context a chunk holds whole sources; when every
    /// variant is `Unchanged` all sources share their cells, so one chunk does.
    fn chunks(&self, variants: &[Variant]) -> Vec<Vec<usize>> {
        match self.context {
            ProbeContext::Pair => {
                let rows: Vec<usize> = (0..self.pairs.len()).collect();
                rows.chunks(PAIRS_PER_CHUNK).map(<[usize]>::to_vec).collect()
            }
            ProbeContext::Dataset => {
                let sources: Vec<Pair> = self.pairs.iter().map(|&(source, target)| Pair { source, target }).collect();
                let groups = group_by_source(&sources);
                let per_chunk = if variants.iter().all(|v| *v == Variant::Unchanged) {
                    groups.len().max(1)
                } else {
                    SOURCES_PER_CHUNK
                };
                groups
                    .chunks(per_chunk)
                    .map(|chunk| chunk.iter().flat_map(|g| g.rows.iter().copied()).collect())
                    .collect()
            }
        }
    }

    /// The cells of `rows`: one per variant per source (`dataset`) or per pair (`pair`).
    fn cells(&self, rows: &[usize], base: &Base<'_>, variants: &[Variant]) -> Cells {
        let value = |position: usize| match base {
            Base::Background(b) => *b,
            Base::Prepared(values) => values[position],
        };
        let mut builders: Vec<VirtualCells> = Vec::new();
        let mut reads = Vec::with_capacity(rows.len() * variants.len());
        let mut shared = None;
        match self.context {
            ProbeContext::Dataset => {
                let tokens = &self.context_tokens;
                let values: Vec<f32> = (0..tokens.len()).map(value).collect();
                let mut cells = VirtualCells::new(tokens.len());
                let mut of_source: HashMap<usize, Vec<usize>> = HashMap::new();
                for &row in rows {
                    let (source, target) = self.pairs[row];
                    let ids = of_source.entry(source).or_insert_with(|| {
                        let mut ids = Vec::with_capacity(variants.len());
                        for variant in variants {
                            ids.push(match variant {
                                Variant::Set(v) => cells.push(tokens, &values, source, Some(*v)),
                                Variant::Unchanged => {
                                    *shared.get_or_insert_with(|| cells.push(tokens, &values, source, None))
                                }
                            });
                        }
                        ids
                    });
                    reads.extend(ids.iter().map(|&cell| Read { batch: 0, cell, source, target }));
                }
                builders.push(cells);
            }
            ProbeContext::Pair => {
                for &row in rows {
                    let (source, target) = self.pairs[row];
                    // A self-pair is a one-gene cell, read at the source itself.
                    let genes = if source == target { 1 } else { 2 };
                    let tokens = [self.context_tokens[source], self.context_tokens[target]];
                    let values = [value(source), value(target)];
                    let batch = match builders.iter().position(|b| b.genes == genes) {
                        Some(b) => b,
                        None => {
                            builders.push(VirtualCells::new(genes));
                            builders.len() - 1
                        }
                    };
                    for variant in variants {
                        let set = match variant {
                            Variant::Set(v) => Some(*v),
                            Variant::Unchanged => None,
                        };
                        let cell = builders[batch].push(&tokens[..genes], &values[..genes], 0, set);
                        reads.push(Read { batch, cell, source: 0, target: genes - 1 });
                    }
                }
            }
        }
        let (batches, sources) = builders.into_iter().map(VirtualCells::finish).unzip();
        Cells { batches, sources, reads, variants: variants.len(), shared: shared.is_some() }
    }

    /// Computes features chunk by chunk: `compute` gets each chunk's cells and returns one row
    /// per chunk row ([`Cells::rows`]) with one value per column. Rows come back in request
    /// order; `progress` counts pairs.
    pub fn run(
        &self,
        columns: Vec<String>,
        base: &Base<'_>,
        variants: &[Variant],
        progress: &dyn Progress,
        mut compute: impl FnMut(&Cells) -> Result<Matrix>,
    ) -> Result<Features> {
        if variants.is_empty() {
            return Err(Error::invalid("a probe needs at least one cell variant"));
        }
        if let Base::Prepared(values) = base
            && values.len() != self.context_tokens.len()
        {
            return Err(Error::invalid(format!(
                "{} prepared values for the {} context genes of dataset `{}`",
                values.len(),
                self.context_tokens.len(),
                self.dataset
            )));
        }
        progress.set_total(self.pairs.len() as u64);
        let mut out = Matrix::zeros(self.pairs.len(), columns.len());
        for rows in self.chunks(variants) {
            let values = compute(&self.cells(&rows, base, variants))?;
            if values.rows != rows.len() || values.cols != columns.len() {
                return Err(Error::compute(format!(
                    "a chunk of {} pairs gave {}×{} features for {} columns",
                    rows.len(),
                    values.rows,
                    values.cols,
                    columns.len()
                )));
            }
            for (i, &row) in rows.iter().enumerate() {
                out.row_mut(row).copy_from_slice(values.row(i));
            }
            progress.advance(rows.len() as u64);
        }
        Features::new(columns, out)
    }
}

/// Where one (pair, variant) is read: cell `cell` of batch `batch`, the source at gene position
/// `source` and the target at `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub batch: usize,
    pub cell: usize,
    pub source: usize,
    pub target: usize,
}

/// The cells of one chunk: batches of equally long cells, and where each row's variants are read.
#[derive(Debug, Clone)]
pub struct Cells {
    batches: Vec<CellBatch>,
    /// Per batch, per cell: the source's position.
    sources: Vec<Vec<usize>>,
    /// `rows × variants`, row-major.
    reads: Vec<Read>,
    variants: usize,
    /// Whether one unchanged cell serves several sources.
    shared: bool,
}

impl Cells {
    /// Rows (pairs) of the chunk.
    pub fn rows(&self) -> usize {
        self.reads.len() / self.variants
    }

    pub fn batches(&self) -> &[CellBatch] {
        &self.batches
    }

    pub fn read(&self, row: usize, variant: usize) -> Read {
        self.reads[row * self.variants + variant]
    }

    /// The readout at each row's target, `rows × variants`.
    pub fn readout(&self, oracle: &dyn ModelOracle) -> Result<Matrix> {
        let outputs = self.batches.iter().map(|b| oracle.readout(b)).collect::<Result<Vec<_>>>()?;
        self.gather(&outputs, "readout")
    }

    /// ∂readout[target] / ∂value[source] for each row, `rows × variants`.
    pub fn derivative(&self, oracle: &dyn ModelOracle) -> Result<Matrix> {
        if self.shared {
            return Err(Error::invalid(
                "derivatives need one source per cell, but an unchanged cell is shared by several sources",
            ));
        }
        let outputs = self
            .batches
            .iter()
            .zip(&self.sources)
            .map(|(b, s)| oracle.readout_derivative(b, s))
            .collect::<Result<Vec<_>>>()?;
        self.gather(&outputs, "readout derivative")
    }

    fn gather(&self, outputs: &[Matrix], what: &str) -> Result<Matrix> {
        for (batch, out) in self.batches.iter().zip(outputs) {
            if out.rows != batch.cells() || out.cols != batch.genes() {
                return Err(Error::compute(format!(
                    "the oracle's {what} is {}×{} for {} cells of {} genes",
                    out.rows,
                    out.cols,
                    batch.cells(),
                    batch.genes()
                )));
            }
        }
        let data = self.reads.iter().map(|r| outputs[r.batch].get(r.cell, r.target)).collect();
        Matrix::new(self.rows(), self.variants, data)
    }
}

/// Equally long cells, each a base row with at most its source changed.
struct VirtualCells {
    genes: usize,
    tokens: Vec<TokenId>,
    values: Vec<f32>,
    sources: Vec<usize>,
}

impl VirtualCells {
    fn new(genes: usize) -> Self {
        VirtualCells { genes, tokens: Vec::new(), values: Vec::new(), sources: Vec::new() }
    }

    /// Adds a cell over `tokens` with `values`, the gene at `source` set to `set` if given;
    /// returns its index.
    fn push(&mut self, tokens: &[TokenId], values: &[f32], source: usize, set: Option<f32>) -> usize {
        self.tokens.extend_from_slice(tokens);
        let start = self.values.len();
        self.values.extend_from_slice(values);
        if let Some(v) = set {
            self.values[start + source] = v;
        }
        self.sources.push(source);
        self.sources.len() - 1
    }

    fn finish(self) -> (CellBatch, Vec<usize>) {
        let values = Matrix { rows: self.sources.len(), cols: self.genes, data: self.values };
        // Every push adds `genes` tokens and values, so the shapes always agree.
        let batch = CellBatch::new(self.tokens, values).expect("one token per value");
        (batch, self.sources)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::oracle::{AttentionMaps, ModelInfo, Pass};
    use crate::params::ParamValue;
    use crate::plugin::NoProgress;
    use crate::types::{Expression, GeneSymbol};

    /// Readout = 10·token + value, derivative = the source's token; records each batch.
    struct Echo {
        info: ModelInfo,
        batches: Mutex<Vec<(usize, usize)>>,
    }

    impl Echo {
        fn new(max_context: usize) -> Self {
            Echo {
                info: ModelInfo {
                    family: "echo".into(),
                    checkpoint: String::new(),
                    checkpoint_sha256: String::new(),
                    device: "cpu".into(),
                    dtype: "f32".into(),
                    layers: 1,
                    heads: 1,
                    embedding_dim: 1,
                    max_context,
                    value_min: 0.0,
                    value_max: 50.0,
                    default_background: 1.0,
                    vocabulary: 100,
                },
                batches: Mutex::new(Vec::new()),
            }
        }
    }

    impl ModelOracle for Echo {
        fn info(&self) -> &ModelInfo {
            &self.info
        }
        fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
            genes.iter().map(|g| g.strip_prefix('G').and_then(|n| n.parse().ok())).collect()
        }
        fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
            self.batches.lock().unwrap().push((cells.cells(), cells.genes()));
            let data = cells.tokens().iter().zip(&cells.values().data).map(|(&t, &v)| 10.0 * t as f32 + v);
            Matrix::new(cells.cells(), cells.genes(), data.collect())
        }
        fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
            let mut m = Matrix::zeros(cells.cells(), cells.genes());
            for c in 0..cells.cells() {
                m.row_mut(c).fill(cells.cell_tokens(c)[sources[c]] as f32);
            }
            Ok(m)
        }
        fn gene_embeddings(&self, _: &[TokenId]) -> Result<Matrix> {
            unreachable!("not used by these tests")
        }
        fn attention_scores(&self, _: &CellBatch, _: usize) -> Result<AttentionMaps> {
            unreachable!("not used by these tests")
        }
        fn prepare_expression(&self, _: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
            Ok(expression.iter().map(|x| 2.0 * x).collect())
        }
        fn bytes_per_cell(&self, _: usize, _: Pass) -> u64 {
            1
        }
    }

    fn genes(names: &[&str]) -> Vec<GeneSymbol> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn request<'a>(
        params: &'a Params,
        genes: &'a [GeneSymbol],
        expression: Option<&'a Expression>,
        pairs: &'a [Pair],
    ) -> ProbeRequest<'a> {
        ProbeRequest {
            params,
            dataset: DatasetView { name: "toy", genes, expression, expression_source: "toy.csv" },
            pairs,
        }
    }

    fn pair(source: usize, target: usize) -> Pair {
        Pair { source, target }
    }

    #[test]
    fn groups_pairs_by_source_in_first_appearance_order() {
        let groups = group_by_source(&[pair(2, 0), pair(1, 0), pair(2, 1), pair(1, 1), pair(2, 2)]);
        assert_eq!(
            groups,
            vec![SourceGroup { source: 2, rows: vec![0, 2, 4] }, SourceGroup { source: 1, rows: vec![1, 3] }]
        );
    }

    #[test]
    fn context_param_resolves_and_documents_its_default() {
        let specs = [ProbeContext::param_spec(ProbeContext::Dataset)];
        let params = Params::defaults(&specs);
        assert_eq!(ProbeContext::from_params(&params).unwrap(), ProbeContext::Dataset);
        let given = BTreeMap::from([("context".to_string(), ParamValue::Str("pair".into()))]);
        let params = Params::resolve(&specs, given).unwrap();
        assert_eq!(ProbeContext::from_params(&params).unwrap(), ProbeContext::Pair);
    }

    #[test]
    fn value_lists_must_be_distinct_and_nonempty() {
        let specs = [ParamSpec::floats("targets", &[], "")];
        let check = |xs: Vec<ParamValue>| {
            let params = Params::resolve(&specs, BTreeMap::from([("targets".into(), ParamValue::List(xs))]))?;
            value_list_param(&params, "targets")
        };
        assert_eq!(check(vec![ParamValue::Int(5), ParamValue::Float(2.5)]).unwrap(), vec![5.0, 2.5]);
        assert_eq!(check(vec![]).unwrap_err().to_string(), "parameter `targets`: expected at least one value");
        assert_eq!(
            check(vec![ParamValue::Int(5), ParamValue::Float(5.0)]).unwrap_err().to_string(),
            "parameter `targets`: 5 is listed twice"
        );
    }

    #[test]
    fn dataset_context_shares_cells_per_source_and_the_unchanged_cell() {
        // G3 is outside the vocabulary, so the context is [G1, G2, G4] = tokens [1, 2, 4].
        let g = genes(&["G1", "G2", "X", "G4"]);
        let pairs = [pair(0, 1), pair(3, 0), pair(0, 3), pair(0, 0)];
        let params = Params::default();
        let oracle = Echo::new(10);
        let probing = Probing::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
        assert_eq!(probing.context_tokens(), &[1, 2, 4]);
        let variants = [Variant::Set(7.0), Variant::Unchanged];
        let rows: Vec<usize> = (0..pairs.len()).collect();
        let cells = probing.cells(&rows, &Base::Background(0.5), &variants);
        // Two sources × one set cell, plus the one shared unchanged cell.
        assert_eq!(cells.batches().len(), 1);
        assert_eq!(cells.batches()[0].cells(), 3);
        assert_eq!(cells.batches()[0].values().data, vec![7.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 7.0]);
        assert_eq!(cells.read(2, 0), Read { batch: 0, cell: 0, source: 0, target: 2 });
        assert_eq!(cells.read(1, 1), Read { batch: 0, cell: 1, source: 2, target: 0 });
        let r = cells.readout(&oracle).unwrap();
        // Row (G1 → G2): G2 reads 20 + 0.5 in both cells; row (G1 → G1): 10 + 7 vs 10 + 0.5.
        assert_eq!(r.row(0), &[20.5, 20.5]);
        assert_eq!(r.row(3), &[17.0, 10.5]);
        assert_eq!(
            cells.derivative(&oracle).unwrap_err().to_string(),
            "invalid input: derivatives need one source per cell, but an unchanged cell is shared by several sources"
        );
    }

    #[test]
    fn pair_context_packs_pairs_and_splits_self_pairs() {
        let g = genes(&["G1", "G2", "G4"]);
        let pairs = [pair(0, 1), pair(2, 2), pair(2, 0)];
        let params = Params::default();
        let oracle = Echo::new(1);
        let probing = Probing::new(&request(&params, &g, None, &pairs), &oracle, ProbeContext::Pair).unwrap();
        let cells = probing.cells(&[0, 1, 2], &Base::Background(1.0), &[Variant::Set(3.0)]);
        assert_eq!(cells.batches().len(), 2);
        assert_eq!(cells.batches()[0].tokens(), &[1, 2, 4, 1]);
        assert_eq!(cells.batches()[0].values().data, vec![3.0, 1.0, 3.0, 1.0]);
        assert_eq!(cells.batches()[1].tokens(), &[4]);
        assert_eq!(cells.read(1, 0), Read { batch: 1, cell: 0, source: 0, target: 0 });
        assert_eq!(cells.readout(&oracle).unwrap().data, vec![21.0, 43.0, 11.0]);
        assert_eq!(cells.derivative(&oracle).unwrap().data, vec![1.0, 4.0, 4.0]);
    }

    #[test]
    fn run_chunks_by_source_and_restores_request_order() {
        let names: Vec<String> = (0..SOURCES_PER_CHUNK + 6).map(|k| format!("G{k}")).collect();
        let pairs: Vec<Pair> = (0..names.len()).rev().map(|s| pair(s, 0)).collect();
        let params = Params::default();
        let oracle = Echo::new(names.len());
        let probing = Probing::new(&request(&params, &names, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
        let f = probing
            .run(vec!["d".into()], &Base::Background(0.0), &[Variant::Set(1.0)], &NoProgress, |cells| {
                cells.readout(&oracle)
            })
            .unwrap();
        // Target G0 reads its token 0 plus its value: 1 for the source G0 itself, else 0.
        let expected: Vec<f32> = pairs.iter().map(|p| if p.source == 0 { 1.0 } else { 0.0 }).collect();
        assert_eq!(f.values.data, expected);
        assert_eq!(*oracle.batches.lock().unwrap(), vec![(SOURCES_PER_CHUNK, names.len()), (6, names.len())]);
    }

    #[test]
    fn unchanged_only_runs_one_chunk() {
        let names: Vec<String> = (0..SOURCES_PER_CHUNK + 1).map(|k| format!("G{k}")).collect();
        let pairs: Vec<Pair> = (0..names.len()).map(|s| pair(s, 1)).collect();
        let params = Params::default();
        let oracle = Echo::new(names.len());
        let probing = Probing::new(&request(&params, &names, None, &pairs), &oracle, ProbeContext::Dataset).unwrap();
        let f = probing
            .run(vec!["r".into()], &Base::Background(2.0), &[Variant::Unchanged], &NoProgress, |cells| {
                cells.readout(&oracle)
            })
            .unwrap();
        assert_eq!(f.values.data, vec![12.0; names.len()]);
        assert_eq!(*oracle.batches.lock().unwrap(), vec![(1, names.len())]);
    }

    #[test]
    fn mean_cell_is_prepared_over_the_context() {
        let g = genes(&["G1", "X", "G2"]);
        let expression = Expression {
            cell_names: vec!["a".into(), "b".into()],
            values: Matrix::new(3, 2, vec![1.0, 3.0, 100.0, 100.0, 0.0, 1.0]).unwrap(),
        };
        let pairs = [pair(0, 2)];
        let params = Params::default();
        let oracle = Echo::new(10);
        let req = request(&params, &g, Some(&expression), &pairs);
        let probing = Probing::new(&req, &oracle, ProbeContext::Pair).unwrap();
        assert_eq!(probing.mean_cell(&req.dataset, &oracle).unwrap(), vec![4.0, 1.0]);
        let bare = request(&params, &g, None, &pairs);
        assert_eq!(
            probing.mean_cell(&bare.dataset, &oracle).unwrap_err(),
            Error::NotApplicable(
                "dataset `toy` has no expression matrix (expected from toy.csv); the real mean cell needs one".into()
            )
        );
    }

    #[test]
    fn errors_name_the_gene_and_dataset() {
        let g = genes(&["G1", "X", "G2"]);
        let params = Params::default();
        let oracle = Echo::new(1);
        let err = Probing::new(&request(&params, &g, None, &[pair(0, 1)]), &oracle, ProbeContext::Pair).unwrap_err();
        assert_eq!(err.to_string(), "invalid input: gene `X` (pair 0) of dataset `toy` is not in the echo vocabulary");
        let err = pair_tokens(&request(&params, &g, None, &[pair(0, 2), pair(7, 0)]), &oracle).unwrap_err();
        assert_eq!(err.to_string(), "invalid input: pair 1 names gene 7, but dataset `toy` has 3 genes");
        let err = Probing::new(&request(&params, &g, None, &[pair(0, 2)]), &oracle, ProbeContext::Dataset).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter `context`: dataset `toy` has 2 genes in the vocabulary, more than the 1 context genes \
             the model takes; use context = \"pair\""
        );
    }
}
