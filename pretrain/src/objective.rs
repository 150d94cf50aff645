//! The masked-value objective on a batch and its evaluation on fixed batches.
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use ugrn_backbone_scgpt::init::param_defs;
use ugrn_backbone_scgpt::{Config, ScGptModel, Vocab, Weights};
use ugrn_candle_shared::Context;
use ugrn_sdk::{Error, Result};

use crate::corpus::Corpus;
use crate::data::{self, Batch, Framing};
use crate::references::References;
use crate::seeds::{EVAL_STREAM, REFERENCE_STREAM, initial_tensors, rng};
use crate::settings::check_ratios;

/// Cells per batch when evaluating.
pub(crate) const EVAL_BATCH: usize = 32;

/// The model over named tensors (the training variables or copies of them).
pub(crate) fn model_over(
    tensors: HashMap<String, Tensor>,
    config: &Config,
    vocab: &Vocab,
    source: &str,
) -> Result<ScGptModel> {
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    ScGptModel::new(&Weights::new(vb, source), config.clone(), vocab.clone())
}

/// The untrained model pretraining with `seed` starts from: the same architecture with seeded
/// PyTorch-style random weights, on the CPU in f32.
pub fn initial_model(config: &Config, vocab: &Vocab, seed: u64) -> Result<ScGptModel> {
    let defs = param_defs(config, vocab.len());
    let tensors = defs.iter().map(|d| d.name.clone()).zip(initial_tensors(&defs, seed)?).collect();
    model_over(tensors, config, vocab, &format!("random weights (seed {seed})"))
}

/// Sums over a batch: squared errors of the expression decoder (and of the MVC decoder) on the
/// masked positions, as tensors so that they can be differentiated.
pub(crate) fn squared_errors(model: &ScGptModel, batch: &Batch) -> Result<(Tensor, Option<Tensor>)> {
    let t = batch.tensors(model.device())?;
    let out = model.forward(&t.ids, &t.input, Some(&t.padding))?;
    let sse = |pred: &Tensor| (pred - &t.target)?.sqr()?.mul(&t.weight)?.sum_all();
    let mlm = sse(&out.mlm_output).context("masked squared error")?;
    let mvc = out.mvc_output.as_ref().map(sse).transpose().context("MVC masked squared error")?;
    Ok((mlm, mvc))
}

pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    t.to_scalar::<f32>().map(f64::from).context("reading a loss")
}

/// Totals over evaluation batches.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    mlm: f64,
    mvc: f64,
    masked: usize,
    cell_mean: f64,
    cells: usize,
}

impl Totals {
    /// The training objective per masked value.
    pub(crate) fn loss(&self) -> f64 {
        (self.mlm + self.mvc) / self.masked as f64
    }

    /// The expression decoder's part of it, what the references compare with.
    pub(crate) fn expression_mse(&self) -> f64 {
        self.mlm / self.masked as f64
    }
}

pub(crate) fn evaluate(model: &ScGptModel, batches: &[Batch]) -> Result<Totals> {
    let mut t = Totals::default();
    for b in batches {
        let (mlm, mvc) = squared_errors(model, b)?;
        t.mlm += scalar(&mlm)?;
        t.mvc += mvc.as_ref().map(scalar).transpose()?.unwrap_or(0.0);
        t.masked += b.masked;
        t.cell_mean += b.cell_mean_sq_error;
        t.cells += b.cells;
    }
    Ok(t)
}

/// Masked-value error of a model on one corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskedMse {
    /// Mean squared error of the expression decoder on the masked values (in bins).
    pub model: f64,
    /// The same for predicting each masked value by the mean of its cell's visible values.
    pub cell_mean: f64,
    /// By its gene's mean value over the training corpora's cells (the mean of all their values
    /// for a gene they never express); `None` without training corpora.
    pub gene_mean: Option<f64>,
    /// By its gene's ridge regression on the cell's visible values, fitted on the training
    /// corpora's cells; `None` without them, or when they express more than
    /// [`MAX_RIDGE_GENES`](crate::MAX_RIDGE_GENES) genes.
    pub ridge: Option<f64>,
    /// Cells evaluated (those with an expressed gene in the vocabulary).
    pub cells: usize,
    pub masked: usize,
}

/// scGPT's pretraining loss on `corpus`: each cell binned, up to `max_seq_len - 1` of its
/// expressed genes (those in the model's vocabulary) sampled, cell `i` masked at
/// `mask_ratios[i % len]`, all drawn from `seed`; the same draws whatever the model. With
/// `training` corpora (the cells the model trained on, none of `corpus`'s, or the references
/// are flattered), also the gene-mean and ridge references fitted on them, on the same masks.
pub fn masked_mse(
    model: &ScGptModel,
    corpus: &Corpus,
    mask_ratios: &[f64],
    seed: u64,
    training: &[Corpus],
) -> Result<MaskedMse> {
    check_ratios("mask_ratios", mask_ratios)?;
    let cfg = &model.config;
    let cells: Vec<data::Cell> = data::cells(corpus, &model.vocab, cfg.n_bins)?.into_iter().flatten().collect();
    if cells.is_empty() {
        return Err(Error::invalid(format!(
            "corpus {}: no cell expresses a gene of the model's vocabulary",
            corpus.name
        )));
    }
    let framing = Framing {
        cls: model.cls_id(),
        pad: model.vocab.special(&cfg.pad_token).expect("ScGptModel::new checked the pad token"),
        pad_value: cfg.pad_value as f32,
        mask_value: cfg.mask_value as f32,
        n_bins: cfg.n_bins,
    };
    let refs: Vec<&data::Cell> = cells.iter().collect();
    let max_genes = cfg.max_seq_len.saturating_sub(1).max(1);
    let batches =
        data::evaluation_batches(&refs, framing, max_genes, mask_ratios, EVAL_BATCH, &mut rng(seed, EVAL_STREAM));
    let t = evaluate(model, &batches)?;
    let references = if training.is_empty() {
        None
    } else {
        let mut train = Vec::new();
        for c in training {
            train.extend(data::cells(c, &model.vocab, cfg.n_bins)?.into_iter().flatten());
        }
        if train.is_empty() {
            return Err(Error::invalid("no cell of the training corpora expresses a gene of the model's vocabulary"));
        }
        let fitted = References::fit(&train, max_genes, mask_ratios, &mut rng(seed, REFERENCE_STREAM))?;
        Some(fitted.evaluate(&batches))
    };
    Ok(MaskedMse {
        model: t.expression_mse(),
        cell_mean: t.cell_mean / t.masked as f64,
        gene_mean: references.map(|r| r.gene_mean),
        ridge: references.and_then(|r| r.ridge),
        cells: t.cells,
        masked: t.masked,
    })
}
