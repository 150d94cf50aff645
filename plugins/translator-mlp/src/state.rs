//! The fitted translator as a self-contained safetensors file.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use ugrn_sdk::{Error, Features, Result};

use crate::model::{MAX_WEIGHTS, Mlp, check_finite, compute_error, standardize, weight_count};

/// Written to the `format` metadata entry so that another plugin's state is refused by name.
const FORMAT: &str = "ugrn-translator-mlp";

/// One dense layer, weights row-major `outputs × inputs`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    pub(crate) inputs: usize,
    pub(crate) outputs: usize,
    pub(crate) weight: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

/// A trained MLP with its input standardisation: everything `predict` needs.
///
/// As safetensors (all little-endian): `layer_sizes` (I64, input width, hidden widths, 1),
/// `mean` and `std` (F32, one per feature column, fitted on the training features),
/// `layers.{i}.weight` (F32, outputs × inputs) and `layers.{i}.bias` (F32, outputs), and the
/// metadata entry `format` = `ugrn-translator-mlp`. The host may write [`Self::to_bytes`] (the
/// `state` of a fit) to a `.safetensors` file as is; [`Self::save`] and [`Self::load`] do that.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpState {
    mean: Vec<f32>,
    std: Vec<f32>,
    layers: Vec<Layer>,
}

impl MlpState {
    pub(crate) fn new(mean: Vec<f32>, std: Vec<f32>, layers: Vec<Layer>) -> Self {
        MlpState { mean, std, layers }
    }

    /// Widths from the input (the feature column count) to the output (1).
    pub fn layer_sizes(&self) -> Vec<usize> {
        std::iter::once(self.mean.len()).chain(self.layers.iter().map(|l| l.outputs)).collect()
    }

    /// Per-column means of the training features.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Per-column standard deviations (population) of the training features; 1 where a column
    /// was constant.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// Logits, one per row of `features`.
    pub fn logits(&self, features: &Features) -> Result<Vec<f32>> {
        let cols = features.values.cols;
        if cols != self.mean.len() {
            return Err(Error::invalid(format!(
                "features have {cols} columns but the translator was trained on {}",
                self.mean.len()
            )));
        }
        check_finite("features", features)?;
        let x = standardize(&features.values, &self.mean, &self.std);
        self.network().and_then(|mlp| mlp.logits(&x, cols)).map_err(compute_error)
    }

    fn network(&self) -> candle_core::Result<Mlp> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let weight = Tensor::from_slice(&l.weight, (l.outputs, l.inputs), &Device::Cpu)?;
                let bias = Tensor::from_slice(&l.bias, l.outputs, &Device::Cpu)?;
                Ok((weight, bias))
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Mlp { layers })
    }

    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let sizes: Vec<u8> = self.layer_sizes().iter().flat_map(|&s| (s as i64).to_le_bytes()).collect();
        let mut tensors = vec![
            ("layer_sizes".to_string(), Dtype::I64, vec![self.layers.len() + 1], sizes),
            ("mean".to_string(), Dtype::F32, vec![self.mean.len()], le_bytes(&self.mean)),
            ("std".to_string(), Dtype::F32, vec![self.std.len()], le_bytes(&self.std)),
        ];
        for (i, l) in self.layers.iter().enumerate() {
            tensors.push((format!("layers.{i}.weight"), Dtype::F32, vec![l.outputs, l.inputs], le_bytes(&l.weight)));
            tensors.push((format!("layers.{i}.bias"), Dtype::F32, vec![l.outputs], le_bytes(&l.bias)));
        }
        let writing = |e: safetensors::SafeTensorError| Error::compute(format!("writing translator state: {e}"));
        let views = tensors
            .iter()
            .map(|(name, dtype, shape, data)| Ok((name.as_str(), TensorView::new(*dtype, shape.clone(), data)?)))
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
            .map_err(writing)?;
        // A single metadata entry: safetensors writes metadata from a HashMap, so more than one
        // entry would make the bytes depend on hash order.
        let metadata = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        safetensors::serialize(views, Some(metadata)).map_err(writing)
    }

    /// Reads the bytes [`Self::to_bytes`] writes, checking every tensor's type and shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let unreadable = |e: safetensors::SafeTensorError| {
            Error::invalid(format!("translator state is not a safetensors file: {e}"))
        };
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(unreadable)?;
        let format = metadata.metadata().as_ref().and_then(|m| m.get("format"));
        if format.map(String::as_str) != Some(FORMAT) {
            return Err(Error::invalid(format!(
                "translator state: metadata `format` is {format:?}, expected \"{FORMAT}\""
            )));
        }
        let st = SafeTensors::deserialize(bytes).map_err(unreadable)?;

        let sizes_view = tensor(&st, "layer_sizes", Dtype::I64)?;
        let sizes: Vec<i64> = sizes_view
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("chunks_exact(8) yields 8 bytes")))
            .collect();
        if sizes.len() < 2 || sizes.iter().any(|&s| s < 1) || sizes.last() != Some(&1) {
            return Err(Error::invalid(format!(
                "translator state: tensor `layer_sizes` is {sizes:?}; expected positive widths \
                 from the input to a single output"
            )));
        }
        let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
        // The tensors below must match these widths, so this bounds what decoding allocates
        // whatever the header claims.
        if weight_count(&sizes).is_none() {
            return Err(Error::invalid(format!(
                "translator state: tensor `layer_sizes` is {sizes:?}: more than the {MAX_WEIGHTS} weights (2^28) \
                 a translator may hold"
            )));
        }

        let inputs = sizes[0];
        let mean = floats(&st, "mean", &[inputs])?;
        let std = floats(&st, "std", &[inputs])?;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                Ok(Layer {
                    inputs: w[0],
                    outputs: w[1],
                    weight: floats(&st, &format!("layers.{i}.weight"), &[w[1], w[0]])?,
                    bias: floats(&st, &format!("layers.{i}.bias"), &[w[1]])?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(MlpState { mean, std, layers })
    }

    /// Writes the state to `path` (conventionally `*.safetensors`).
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_bytes()?).map_err(|e| Error::file(path.display(), e))
    }

    /// Reads a state that [`Self::save`] wrote.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::file(path.display(), e))?;
        MlpState::from_bytes(&bytes).map_err(|e| match e {
            Error::Invalid(reason) => Error::file(path.display(), reason),
            e => e,
        })
    }
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn tensor<'a>(st: &SafeTensors<'a>, name: &str, dtype: Dtype) -> Result<TensorView<'a>> {
    let view = st.tensor(name).map_err(|_| Error::invalid(format!("translator state: tensor `{name}` is missing")))?;
    if view.dtype() != dtype {
        return Err(Error::invalid(format!(
            "translator state: tensor `{name}` is {:?}, expected {dtype:?}",
            view.dtype()
        )));
    }
    Ok(view)
}

fn floats(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    let view = tensor(st, name, Dtype::F32)?;
    if view.shape() != shape {
        return Err(Error::invalid(format!(
            "translator state: tensor `{name}` has shape {:?}, expected {shape:?}",
            view.shape()
        )));
    }
    Ok(view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("chunks_exact(4) yields 4 bytes")))
        .collect())
}
