//! The network, loss and input handling shared by training and prediction.
use candle_core::{Device, Tensor};
use ugrn_sdk::{Error, Features, Matrix, Result};

/// Rows per forward pass outside training, so hidden activations stay a few MB however many
/// pairs are scored.
const CHUNK_ROWS: usize = 16_384;

/// At most 2^28 weights and biases in all (1 GiB of f32). Far beyond a translator of pair
/// features (the default 64-32 MLP on 1,000 columns has 66,177), yet finite: training holds the
/// weights, their gradients and Adam's two moments, 4 GiB at this bound, and a width read from
/// a workflow or a saved state is checked against it before anything is allocated.
pub(crate) const MAX_WEIGHTS: usize = 1 << 28;

/// At most 2^26 values (256 MiB of f32) in one layer's activations: prediction chunks its rows
/// to stay below it, and a training batch must.
pub(crate) const MAX_ACTIVATIONS: usize = 1 << 26;

/// Rows per forward pass through layers at most `widest` wide: [`CHUNK_ROWS`], fewer for wide
/// layers, at least one.
fn chunk_rows(widest: usize) -> usize {
    (MAX_ACTIVATIONS / widest.max(1)).clamp(1, CHUNK_ROWS)
}

/// Weights and biases of an MLP with these layer widths (input first), None when more than
/// [`MAX_WEIGHTS`] (or more than `usize` holds).
pub(crate) fn weight_count(sizes: &[usize]) -> Option<usize> {
    sizes
        .windows(2)
        .try_fold(0usize, |total, w| w[0].checked_mul(w[1])?.checked_add(w[1])?.checked_add(total))
        .filter(|&n| n <= MAX_WEIGHTS)
}

pub(crate) fn compute_error(e: candle_core::Error) -> Error {
    Error::compute(format!("translator-mlp: {e}"))
}

/// Per layer a weight (outputs × inputs) and a bias (outputs); ReLU between layers, none after
/// the last, which has one output: the logit.
pub(crate) struct Mlp {
    pub(crate) layers: Vec<(Tensor, Tensor)>,
}

impl Mlp {
    /// Logits, `rows × 1`, for standardised inputs `rows × inputs`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (i, (weight, bias)) in self.layers.iter().enumerate() {
            x = x.matmul(&weight.t()?)?.broadcast_add(bias)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }

    /// The widest of the inputs (`cols`) and the layers' outputs.
    fn widest(&self, cols: usize) -> usize {
        self.layers.iter().map(|(weight, _)| weight.dims()[0]).fold(cols, usize::max)
    }

    /// Logits of standardised row-major inputs with `cols` columns, in chunks.
    pub(crate) fn logits(&self, x: &[f32], cols: usize) -> candle_core::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(x.len() / cols);
        for chunk in x.chunks(chunk_rows(self.widest(cols)) * cols) {
            let t = Tensor::from_slice(chunk, (chunk.len() / cols, cols), &Device::Cpu)?;
            out.extend(self.forward(&t)?.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }

    /// Mean BCE over standardised inputs and their labels, in chunks.
    pub(crate) fn mean_bce(&self, x: &[f32], labels: &[f32], cols: usize) -> candle_core::Result<f64> {
        let mut total = 0.0;
        let rows = chunk_rows(self.widest(cols));
        for (chunk, y) in x.chunks(rows * cols).zip(labels.chunks(rows)) {
            let t = Tensor::from_slice(chunk, (y.len(), cols), &Device::Cpu)?;
            let y = Tensor::from_slice(y, (y.len(), 1), &Device::Cpu)?;
            total += f64::from(bce_with_logits(&self.forward(&t)?, &y)?.sum_all()?.to_scalar::<f32>()?);
        }
        Ok(total / labels.len() as f64)
    }
}

/// Per-row BCE with logits, max(x, 0) − x·y + log(1 + exp(−|x|)): it never exponentiates a
/// positive number, unlike candle-nn's log(sigmoid) form, which gives −inf for large |x|.
pub(crate) fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> candle_core::Result<Tensor> {
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)?)? + softplus
}

/// `(x − mean) / std` per column, row-major.
pub(crate) fn standardize(values: &Matrix, mean: &[f32], std: &[f32]) -> Vec<f32> {
    values
        .data
        .chunks_exact(values.cols)
        .flat_map(|row| row.iter().zip(mean).zip(std).map(|((v, m), s)| (v - m) / s))
        .collect()
}

/// Refuses NaN and infinite features, which would silently turn every logit into NaN.
pub(crate) fn check_finite(what: &str, features: &Features) -> Result<()> {
    let values = &features.values;
    match values.data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => {
            let (row, col) = (i / values.cols, i % values.cols);
            let name = features.columns.get(col).map_or("?", String::as_str);
            Err(Error::invalid(format!("{what}: row {row}, column `{name}` is {}", values.data[i])))
        }
    }
}

/// 1.0 for an edge, 0.0 otherwise.
pub(crate) fn targets(labels: &[bool]) -> Vec<f32> {
    labels.iter().map(|&l| if l { 1.0 } else { 0.0 }).collect()
}
