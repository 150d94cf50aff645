//! A small model oracle with closed-form answers, shared by the five probe test suites.
//!
//! Gene `G<k>` has token k; other symbols are outside the vocabulary. For a cell with tokens t
//! and input values v (S = Σ v):
//! - readout_j = Σ_k w(t_j, t_k)·v_k + ALPHA·S², so a response depends on the whole cell;
//! - ∂readout_j/∂v_i = w(t_j, t_i) + 2·ALPHA·S (exact);
//! - attention of layer l, head h, query q, key k: (−1)^l·(w(t_q, t_k)·(1 + v_k) + h·t_q/10),
//!   asymmetric, and with ranks that flip between layers;
//! - the embedding of token t is [t, 1, t²/10];
//! - `prepare_expression` doubles each value.
//!
//! Every call is recorded.
use std::collections::BTreeMap;
use std::sync::Mutex;

use ugrn_sdk::{
    AttentionMaps, CellBatch, DatasetView, Error, Expression, GeneSymbol, Matrix, ModelInfo, ModelOracle, Pair,
    ParamValue, Params, Pass, Probe, ProbeRequest, Progress, Result, TokenId,
};

pub const ALPHA: f64 = 0.01;

/// The weight of source token `source` in the readout of target token `target`.
pub fn w(target: TokenId, source: TokenId) -> f64 {
    ((7 * target + 3 * source) % 11) as f64 / 10.0 - 0.5
}

/// One oracle call: its kind, cells and context length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub kind: &'static str,
    pub cells: usize,
    pub genes: usize,
}

pub struct Mock {
    info: ModelInfo,
    calls: Mutex<Vec<Call>>,
}

impl Mock {
    /// A mock whose context is long enough for any test dataset.
    #[allow(clippy::new_without_default)] // a test double, built explicitly where used
    pub fn new() -> Self {
        Mock::with_max_context(1000)
    }

    pub fn with_max_context(max_context: usize) -> Self {
        Mock {
            info: ModelInfo {
                family: "mock".into(),
                checkpoint: "mock".into(),
                checkpoint_sha256: "0".into(),
                device: "cpu".into(),
                dtype: "f32".into(),
                layers: 2,
                heads: 2,
                embedding_dim: 3,
                max_context,
                value_min: 0.0,
                value_max: 50.0,
                default_background: 1.0,
                vocabulary: 1000,
            },
            calls: Mutex::new(Vec::new()),
        }
    }

    /// A mock whose backbone declares the input range `value_min..value_max` and this default
    /// background (the default mock: 0..50 and 1, as scGPT).
    pub fn with_values(value_min: f32, value_max: f32, default_background: f32) -> Self {
        let mut mock = Mock::new();
        mock.info.value_min = value_min;
        mock.info.value_max = value_max;
        mock.info.default_background = default_background;
        mock
    }

    /// The calls of `kind` so far.
    pub fn calls(&self, kind: &str) -> Vec<Call> {
        self.calls.lock().unwrap().iter().filter(|c| c.kind == kind).copied().collect()
    }

    fn record(&self, kind: &'static str, cells: usize, genes: usize) {
        self.calls.lock().unwrap().push(Call { kind, cells, genes });
    }
}

fn cell(cells: &CellBatch, c: usize) -> (&[TokenId], &[f32], f64) {
    let values = cells.values().row(c);
    (cells.cell_tokens(c), values, values.iter().map(|&v| v as f64).sum())
}

impl ModelOracle for Mock {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|g| g.strip_prefix('G').and_then(|k| k.parse().ok())).collect()
    }

    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        self.record("readout", cells.cells(), cells.genes());
        let mut out = Matrix::zeros(cells.cells(), cells.genes());
        for c in 0..cells.cells() {
            let (tokens, values, sum) = cell(cells, c);
            for (j, &tj) in tokens.iter().enumerate() {
                let linear: f64 = tokens.iter().zip(values).map(|(&tk, &v)| w(tj, tk) * v as f64).sum();
                out.set(c, j, (linear + ALPHA * sum * sum) as f32);
            }
        }
        Ok(out)
    }

    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        self.record("derivative", cells.cells(), cells.genes());
        let mut out = Matrix::zeros(cells.cells(), cells.genes());
        for c in 0..cells.cells() {
            let (tokens, _, sum) = cell(cells, c);
            let ti = tokens[sources[c]];
            for (j, &tj) in tokens.iter().enumerate() {
                out.set(c, j, (w(tj, ti) + 2.0 * ALPHA * sum) as f32);
            }
        }
        Ok(out)
    }

    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        self.record("embeddings", tokens.len(), 0);
        let data = tokens.iter().flat_map(|&t| [t as f32, 1.0, (t * t) as f32 / 10.0]).collect();
        Matrix::new(tokens.len(), 3, data)
    }

    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        self.record("attention", cells.cells(), cells.genes());
        if layer >= self.info.layers {
            return Err(Error::invalid(format!("no layer {layer}")));
        }
        let sign = if layer.is_multiple_of(2) { 1.0 } else { -1.0 };
        let (heads, g) = (self.info.heads, cells.genes());
        let mut data = Vec::with_capacity(cells.cells() * heads * g * g);
        for c in 0..cells.cells() {
            let (tokens, values, _) = cell(cells, c);
            for h in 0..heads {
                for &tq in tokens {
                    for (&tk, &vk) in tokens.iter().zip(values) {
                        let score = w(tq, tk) * (1.0 + vk as f64) + h as f64 * tq as f64 / 10.0;
                        data.push((sign * score) as f32);
                    }
                }
            }
        }
        Ok(AttentionMaps { cells: cells.cells(), heads, genes: g, data })
    }

    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        self.record("prepare", 1, context.len());
        Ok(expression.iter().map(|x| 2.0 * x).collect())
    }

    fn bytes_per_cell(&self, genes: usize, _: Pass) -> u64 {
        genes as u64 * 4
    }
}

/// Records what a probe reports.
#[derive(Default)]
pub struct Recorder {
    pub total: Mutex<Vec<u64>>,
    pub advanced: Mutex<Vec<u64>>,
}

impl Progress for Recorder {
    fn set_total(&self, total: u64) {
        self.total.lock().unwrap().push(total);
    }
    fn advance(&self, done: u64) {
        self.advanced.lock().unwrap().push(done);
    }
}

/// The genes `G0..G<n-1>`.
pub fn genes(n: usize) -> Vec<GeneSymbol> {
    (0..n).map(|k| format!("G{k}")).collect()
}

pub fn pair(source: usize, target: usize) -> Pair {
    Pair { source, target }
}

/// Every (source, target) of `sources` × `targets`, sources outer.
pub fn all_pairs(sources: impl IntoIterator<Item = usize>, targets: &[usize]) -> Vec<Pair> {
    sources.into_iter().flat_map(|s| targets.iter().map(move |&t| pair(s, t))).collect()
}

/// The probe's parameters with `given` resolved against its declared specs, as the host does.
pub fn params(probe: &dyn Probe, given: &[(&str, ParamValue)]) -> Result<Params> {
    let given: BTreeMap<String, ParamValue> = given.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    Params::resolve(&probe.describe().params, given)
}

pub fn floats(xs: &[f64]) -> ParamValue {
    ParamValue::List(xs.iter().map(|&x| ParamValue::Float(x)).collect())
}

pub fn text(s: &str) -> ParamValue {
    ParamValue::Str(s.into())
}

pub fn request<'a>(
    params: &'a Params,
    genes: &'a [GeneSymbol],
    expression: Option<&'a Expression>,
    pairs: &'a [Pair],
) -> ProbeRequest<'a> {
    ProbeRequest {
        params,
        dataset: DatasetView { name: "toy", genes, expression, expression_source: "toy/expression.csv" },
        pairs,
    }
}

/// Asserts `actual ≈ expected` within 1e-5 relative (the mock computes in f64, answers in f32).
#[track_caller]
pub fn assert_close(actual: f32, expected: f64) {
    let tolerance = 1e-5 * expected.abs().max(1.0);
    assert!((actual as f64 - expected).abs() <= tolerance, "got {actual}, expected {expected}");
}
