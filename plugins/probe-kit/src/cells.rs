//! The cells of one chunk: what a cell starts from, what it does to its source, and where each
//! pair's values are read back.
use ugrn_sdk::{CellBatch, DatasetView, Error, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, Result, TokenId};

use crate::params::{VALUE_BOUND, value_param};
use crate::plan::CellPlan;

/// The input values of a cell before its source is changed.
#[derive(Debug, Clone, Copy)]
pub enum BaseCell<'a> {
    /// Every gene at this value: a virtual cell.
    Virtual(f32),
    /// One value per context gene, in [`CellPlan::context_tokens`](crate::CellPlan::context_tokens) order (e.g.
    /// [`CellPlan::mean_cell`](crate::CellPlan::mean_cell)); a `pair` cell takes the values of its two genes.
    PerGene(&'a [f32]),
}

/// A probe's `cell` parameter: start from a virtual cell (every gene at the `background`
/// parameter, the paper's) or from the dataset's real mean cell, so that the features reflect
/// the user's cells. Read before the plan, so that bad parameters are named before genes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellChoice {
    Virtual(f32),
    Mean,
}

/// The values of the chosen base cell, owned for the length of a probe's run.
#[derive(Debug, Clone, PartialEq)]
pub enum BaseValues {
    Virtual(f32),
    PerGene(Vec<f32>),
}

impl BaseValues {
    pub fn base(&self) -> BaseCell<'_> {
        match self {
            BaseValues::Virtual(v) => BaseCell::Virtual(*v),
            BaseValues::PerGene(values) => BaseCell::PerGene(values),
        }
    }
}

impl CellChoice {
    /// The `cell` parameter, defaulting to `default` (`virtual` or `mean`).
    pub fn param_spec(default: &str) -> ParamSpec {
        ParamSpec::choice(
            "cell",
            &["virtual", "mean"],
            default,
            "the cell the source is changed in: `virtual` = every gene at `background` (the paper's \
             virtual cells), `mean` = the dataset's real mean cell, prepared as the backbone expects \
             (needs an expression matrix)",
        )
    }

    /// The `background` parameter of a virtual cell: `which` genes take it.
    pub fn background_spec(which: &str) -> ParamSpec {
        ParamSpec::float_from_model(
            "background",
            &format!(
                "v_b, input value of {which}, in model input units; `model` = the backbone's default \
                 background (scGPT and Geneformer: 1, the lowest expressed bin and an unscaled gene)"
            ),
        )
        .within(-VALUE_BOUND, VALUE_BOUND)
    }

    /// Whether `params` ask for the dataset's mean cell.
    pub fn needs_expression(params: &Params) -> bool {
        matches!(params.str("cell"), Ok("mean"))
    }

    /// The choice of `params` (`cell`, and `background` for a virtual cell, the model's default
    /// background unless given).
    pub fn from_params(params: &Params, info: &ModelInfo) -> Result<CellChoice> {
        match params.str("cell")? {
            "virtual" => Ok(CellChoice::Virtual(value_param(params, "background", info)?)),
            "mean" => Ok(CellChoice::Mean),
            other => Err(Error::param("cell", format!("{other:?} is not one of virtual, mean"))),
        }
    }

    /// The base cell's values over `plan`'s genes; the mean cell is computed here, once.
    pub fn values(self, plan: &CellPlan, dataset: &DatasetView<'_>, oracle: &dyn ModelOracle) -> Result<BaseValues> {
        match self {
            CellChoice::Virtual(v) => Ok(BaseValues::Virtual(v)),
            CellChoice::Mean => Ok(BaseValues::PerGene(plan.mean_cell(dataset, oracle)?)),
        }
    }
}

/// What one cell does to its source gene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The source's input value is set to this.
    Set(f32),
    /// The base cell as it is. In an untiled `dataset` context it is the same cell for every
    /// source; tiled, each source's window cell holds the source, so it is its own.
    Unchanged,
}

/// Where one (pair, variant) is read: cell `cell` of batch `batch`, the source at gene position
/// `source` and the target at `target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSite {
    pub batch: usize,
    pub cell: usize,
    pub source: usize,
    pub target: usize,
}

/// The cells of one chunk: batches of equally long cells, and where each row's variants are read.
#[derive(Debug, Clone)]
pub struct ChunkCells {
    pub(crate) batches: Vec<CellBatch>,
    /// Per batch, per cell: the source's position.
    pub(crate) sources: Vec<Vec<usize>>,
    /// `rows × variants`, row-major.
    pub(crate) reads: Vec<ReadSite>,
    pub(crate) variants: usize,
    /// Whether one unchanged cell serves several sources.
    pub(crate) shared: bool,
}

impl ChunkCells {
    /// Rows (pairs) of the chunk.
    pub fn rows(&self) -> usize {
        self.reads.len() / self.variants
    }

    pub fn batches(&self) -> &[CellBatch] {
        &self.batches
    }

    pub fn read(&self, row: usize, variant: usize) -> ReadSite {
        self.reads[row * self.variants + variant]
    }

    /// The readout at each row's target, `rows × variants`.
    pub fn readout(&self, oracle: &dyn ModelOracle) -> Result<Matrix> {
        let outputs = self.batches.iter().map(|b| oracle.readout(b)).collect::<Result<Vec<_>>>()?;
        self.gather(&outputs, "readout")
    }

    /// `∂readout[target] / ∂value[source]` for each row, `rows × variants`.
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
pub(crate) struct VirtualCells {
    pub(crate) genes: usize,
    tokens: Vec<TokenId>,
    values: Vec<f32>,
    sources: Vec<usize>,
}

impl VirtualCells {
    pub(crate) fn new(genes: usize) -> Self {
        VirtualCells { genes, tokens: Vec::new(), values: Vec::new(), sources: Vec::new() }
    }

    /// Adds a cell over `tokens` with `values`, the gene at `source` set to `set` if given;
    /// returns its index.
    pub(crate) fn push(&mut self, tokens: &[TokenId], values: &[f32], source: usize, set: Option<f32>) -> usize {
        self.tokens.extend_from_slice(tokens);
        let start = self.values.len();
        self.values.extend_from_slice(values);
        if let Some(v) = set {
            self.values[start + source] = v;
        }
        self.sources.push(source);
        self.sources.len() - 1
    }

    pub(crate) fn finish(self) -> (CellBatch, Vec<usize>) {
        let values = Matrix { rows: self.sources.len(), cols: self.genes, data: self.values };
        // Every push adds `genes` tokens and values, so the shapes always agree.
        let batch = CellBatch::new(self.tokens, values).expect("one token per value");
        (batch, self.sources)
    }
}
