//! [`CellPlan`]: one probe request laid out as chunks of cells for a context.
use std::collections::HashMap;

use ugrn_sdk::{DatasetView, Error, Features, Matrix, ModelOracle, Pair, ProbeRequest, Progress, Result, TokenId};

use crate::cells::{BaseCell, ChunkCells, ReadSite, Variant, VirtualCells};
use crate::genes::{group_by_source, resolve};
use crate::params::ProbeContext;
use crate::tiling::ContextTiling;

/// Sources per chunk in `dataset` context: 16 sources × 8 variants is 128 full-length cells
/// (over 100k tokens at 900 genes), a full GPU batch, while progress still moves every few
/// minutes when a large model runs on a CPU.
pub const SOURCES_PER_CHUNK: usize = 16;

/// Pairs per chunk in `pair` context, where cells are two genes long.
pub const PAIRS_PER_CHUNK: usize = 4096;

/// One probe request, resolved against the model's vocabulary and laid out for a context.
#[derive(Debug)]
pub struct CellPlan {
    context: ProbeContext,
    tiling: ContextTiling,
    dataset: String,
    context_tokens: Vec<TokenId>,
    context_genes: Vec<usize>,
    /// (source, target) positions of each pair in the context.
    pairs: Vec<(usize, usize)>,
}

impl CellPlan {
    /// Resolves the request's genes; a `dataset` context longer than the model takes is tiled.
    pub fn new(request: &ProbeRequest<'_>, oracle: &dyn ModelOracle, context: ProbeContext) -> Result<Self> {
        let r = resolve(request, oracle)?;
        let tiling = match context {
            ProbeContext::Dataset => ContextTiling::new(r.tokens.len(), oracle.info().max_context)?,
            ProbeContext::Pair => ContextTiling::new(r.tokens.len(), usize::MAX)?,
        };
        Ok(CellPlan {
            context,
            tiling,
            dataset: request.dataset.name.to_string(),
            context_tokens: r.tokens,
            context_genes: r.genes,
            pairs: r.pairs,
        })
    }

    /// How a `dataset` context is laid into cells (one window in `pair` context).
    pub fn tiling(&self) -> ContextTiling {
        self.tiling
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

    /// Request rows by chunk. In `dataset` context a chunk holds whole sources, fewer when the
    /// context is tiled (about [`SOURCES_PER_CHUNK`] sources' worth of cells); when every
    /// variant is `Unchanged` and the context untiled, all sources share their cells, so one
    /// chunk does.
    fn chunks(&self, variants: &[Variant]) -> Vec<Vec<usize>> {
        match self.context {
            ProbeContext::Pair => {
                let rows: Vec<usize> = (0..self.pairs.len()).collect();
                rows.chunks(PAIRS_PER_CHUNK).map(<[usize]>::to_vec).collect()
            }
            ProbeContext::Dataset => {
                let sources: Vec<Pair> = self.pairs.iter().map(|&(source, target)| Pair { source, target }).collect();
                let groups = group_by_source(&sources);
                let per_chunk = if !self.tiling.is_tiled() && variants.iter().all(|v| *v == Variant::Unchanged) {
                    groups.len().max(1)
                } else {
                    SOURCES_PER_CHUNK.div_ceil(self.tiling.windows())
                };
                groups
                    .chunks(per_chunk)
                    .map(|chunk| chunk.iter().flat_map(|g| g.rows.iter().copied()).collect())
                    .collect()
            }
        }
    }

    /// The cells of `rows`: one per variant per source (`dataset`) or per pair (`pair`).
    pub(crate) fn cells(&self, rows: &[usize], base: &BaseCell<'_>, variants: &[Variant]) -> ChunkCells {
        let value = |position: usize| match base {
            BaseCell::Virtual(b) => *b,
            BaseCell::PerGene(values) => values[position],
        };
        let mut builders: Vec<VirtualCells> = Vec::new();
        let mut reads = Vec::with_capacity(rows.len() * variants.len());
        let mut shared = None;
        match self.context {
            ProbeContext::Dataset if !self.tiling.is_tiled() => {
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
                    reads.extend(ids.iter().map(|&cell| ReadSite { batch: 0, cell, source, target }));
                }
                builders.push(cells);
            }
            ProbeContext::Dataset => {
                // Per (source, window): the cell's batch, its cell per variant, and where each
                // context position sits in it.
                struct Tile {
                    batch: usize,
                    cells: Vec<usize>,
                    source: usize,
                    offset: usize,
                    before: bool,
                }
                let mut tiles: HashMap<(usize, usize), Tile> = HashMap::new();
                for &row in rows {
                    let (source, target) = self.pairs[row];
                    let window = self.tiling.window_of(target);
                    let tile = tiles.entry((source, window)).or_insert_with(|| {
                        let (positions, at) = self.tiling.cell(source, window);
                        let tokens: Vec<TokenId> = positions.iter().map(|&p| self.context_tokens[p]).collect();
                        let values: Vec<f32> = positions.iter().map(|&p| value(p)).collect();
                        let batch = match builders.iter().position(|b| b.genes == positions.len()) {
                            Some(b) => b,
                            None => {
                                builders.push(VirtualCells::new(positions.len()));
                                builders.len() - 1
                            }
                        };
                        let cells = variants
                            .iter()
                            .map(|variant| {
                                let set = match variant {
                                    Variant::Set(v) => Some(*v),
                                    Variant::Unchanged => None,
                                };
                                builders[batch].push(&tokens, &values, at, set)
                            })
                            .collect();
                        let start = self.tiling.window(window).start;
                        Tile { batch, cells, source: at, offset: start, before: source < start }
                    });
                    let target = target - tile.offset + usize::from(tile.before);
                    reads.extend(tile.cells.iter().map(|&cell| ReadSite {
                        batch: tile.batch,
                        cell,
                        source: tile.source,
                        target,
                    }));
                }
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
                        reads.push(ReadSite { batch, cell, source: 0, target: genes - 1 });
                    }
                }
            }
        }
        let (batches, sources) = builders.into_iter().map(VirtualCells::finish).unzip();
        ChunkCells { batches, sources, reads, variants: variants.len(), shared: shared.is_some() }
    }

    /// Computes features chunk by chunk: `compute` gets each chunk's cells and returns one row
    /// per chunk row ([`ChunkCells::rows`]) with one value per column. Rows come back in request
    /// order; `progress` counts pairs.
    pub fn run(
        &self,
        columns: Vec<String>,
        base: &BaseCell<'_>,
        variants: &[Variant],
        progress: &dyn Progress,
        mut compute: impl FnMut(&ChunkCells) -> Result<Matrix>,
    ) -> Result<Features> {
        if variants.is_empty() {
            return Err(Error::invalid("a probe needs at least one cell variant"));
        }
        if let BaseCell::PerGene(values) = base
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
