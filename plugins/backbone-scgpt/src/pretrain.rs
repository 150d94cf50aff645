//! Pretraining an scGPT-architecture model from scratch on expression corpora (`ugrn pretrain`).
//!
//! The objective is scGPT's masked value prediction (`examples/pretrain.py`, "pcpt" task):
//! every cell is binned per cell into `n_bins - 1` quantile bins of its non-zero values (zeros
//! stay 0), `<cls>` (value 0) goes first, up to `max_seq_len - 1` of its expressed genes are
//! sampled, a fraction of their values is replaced by the mask value −1, and the expression
//! decoder is trained by the mean squared error on the masked positions (plus the same error of
//! the MVC decoder when `mvc` is on). Optimisation follows scGPT's script too: AdamW (Adam when
//! `weight_decay` = 0), cosine learning-rate decay after a linear warm-up over the first 10% of
//! steps, gradients clipped to norm 1. The model has no dropout (scGPT trains with 0.2): the
//! crate's model is the inference model, which has none.
//!
//! Training runs on the CPU in f32 and is reproducible bit for bit for a seed: initialisation,
//! the held-out split, and each epoch's shuffling, gene sampling and masking draw from their own
//! ChaCha8 streams of the seed, so an epoch's draws depend only on `(seed, epoch)`.
//!
//! After every epoch the output folder is rewritten in the released layout ([`files`]); the
//! training state (epochs done, settings, loss history) is stored in the metadata of
//! `model.safetensors`. `resume` continues from there with the weights of the last finished
//! epoch. candle's AdamW keeps its moments private, so a resumed run restarts the optimizer
//! (zero moments, bias correction from step 1) while the learning-rate schedule continues: it
//! trains on the same data as an uninterrupted run but does not reproduce its weights exactly.
mod data;
mod files;
mod init;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use ugrn_candle_shared::Context;
use ugrn_sdk::{Corpus, Error, ParamSpec, Params, PretrainRequest, Progress, Result, TokenId};

use crate::checkpoint::{SAFETENSORS_FILE, Weights};
use crate::config::Config;
use crate::model::ScGptModel;
use crate::vocab::Vocab;
use data::{Batch, Framing, MASK_VALUE, PAD_TOKEN, PAD_VALUE, SPECIAL_TOKENS};
use files::{CorpusSummary, EpochRecord, Snapshot, State};

pub use files::VALIDATION_FILE;

/// Share of all steps over which the learning rate ramps up linearly (scGPT's
/// `--warmup-ratio-or-step` default).
const WARMUP_FRACTION: f64 = 0.1;
/// Gradients are rescaled to at most this global norm, as scGPT's script does.
const MAX_GRAD_NORM: f64 = 1.0;
/// Cells per batch when evaluating.
const EVAL_BATCH: usize = 32;

/// ChaCha8 streams of the seed, one per use; epoch `e` draws from `EPOCH_STREAM + e`.
const INIT_STREAM: u64 = 0;
const SPLIT_STREAM: u64 = 1;
const VALIDATION_STREAM: u64 = 2;
const EVAL_STREAM: u64 = 3;
const EPOCH_STREAM: u64 = 16;

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The parameters of `ugrn pretrain --backbone backbone-scgpt`. The defaults are those of the
/// shipped `ugrn-mini`: on the BEELINE corpora (about 3000 cells) they train in about 15 minutes on
/// 2 CPU cores.
pub fn params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::int("embsize", 64, "model width d_model (scGPT's `embsize`)"),
        ParamSpec::int("nheads", 4, "attention heads; must divide embsize"),
        ParamSpec::int("d_hid", 128, "feed-forward width of each encoder layer"),
        ParamSpec::int("nlayers", 4, "transformer encoder layers"),
        ParamSpec::int(
            "max_seq_len",
            256,
            "tokens per cell, <cls> included: cells with more expressed genes get a random sample of them each epoch",
        ),
        ParamSpec::int(
            "n_bins",
            51,
            "expression bins (bin 0 = not expressed; values 1..n_bins-1 are per-cell quantiles)",
        ),
        ParamSpec::floats(
            "mask_ratio",
            &[0.25, 0.5, 0.75],
            "shares of a cell's values to mask; each training batch draws one (as scGPT's generative pretraining), \
             validation cycles through them cell by cell",
        ),
        ParamSpec::bool("mvc", false, "also train the MVC decoder (masked values from the <cls> embedding)"),
        ParamSpec::int("epochs", 6, "passes over the training cells (with resume: the total to reach)"),
        ParamSpec::int("batch_size", 16, "cells per optimisation step"),
        ParamSpec::float(
            "learning_rate",
            1e-3,
            "peak AdamW learning rate, reached after a linear warm-up over 10% of the steps, then cosine decay to 0",
        ),
        ParamSpec::float("weight_decay", 0.0, "AdamW weight decay (0: Adam, as scGPT pretrains)"),
        ParamSpec::float(
            "validation_fraction",
            0.1,
            "share of every corpus's cells held out from training (listed in validation_cells.json)",
        ),
        ParamSpec::int("seed", 0, "seeds initialisation, the held-out split, sampling and masking"),
    ]
}

/// The checked pretraining settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    embsize: usize,
    nheads: usize,
    d_hid: usize,
    nlayers: usize,
    max_seq_len: usize,
    n_bins: usize,
    mask_ratio: Vec<f64>,
    mvc: bool,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    weight_decay: f64,
    validation_fraction: f64,
    seed: u64,
}

impl Settings {
    fn from_params(p: &Params) -> Result<Settings> {
        let positive = |key: &str| match p.usize(key)? {
            0 => Err(Error::param(key, "must be at least 1, got 0")),
            v => Ok(v),
        };
        let s = Settings {
            embsize: positive("embsize")?,
            nheads: positive("nheads")?,
            d_hid: positive("d_hid")?,
            nlayers: positive("nlayers")?,
            max_seq_len: p.usize("max_seq_len")?,
            n_bins: p.usize("n_bins")?,
            mask_ratio: p.f64_list("mask_ratio")?,
            mvc: p.bool("mvc")?,
            epochs: positive("epochs")?,
            batch_size: positive("batch_size")?,
            learning_rate: p.f64("learning_rate")?,
            weight_decay: p.f64("weight_decay")?,
            validation_fraction: p.f64("validation_fraction")?,
            seed: p.usize("seed")? as u64,
        };
        if !s.embsize.is_multiple_of(s.nheads) {
            return Err(Error::param("nheads", format!("{} does not divide embsize = {}", s.nheads, s.embsize)));
        }
        if s.max_seq_len < 2 {
            return Err(Error::param(
                "max_seq_len",
                format!("must leave room for <cls> and a gene (at least 2), got {}", s.max_seq_len),
            ));
        }
        if s.n_bins < 3 {
            return Err(Error::param("n_bins", format!("must be at least 3, got {}", s.n_bins)));
        }
        check_ratios("mask_ratio", &s.mask_ratio)?;
        if !(s.learning_rate.is_finite() && s.learning_rate > 0.0) {
            return Err(Error::param("learning_rate", format!("must be positive, got {}", s.learning_rate)));
        }
        if !(s.weight_decay.is_finite() && s.weight_decay >= 0.0) {
            return Err(Error::param("weight_decay", format!("must be zero or positive, got {}", s.weight_decay)));
        }
        if !(0.0..1.0).contains(&s.validation_fraction) {
            return Err(Error::param(
                "validation_fraction",
                format!("must be in [0, 1), got {}", s.validation_fraction),
            ));
        }
        Ok(s)
    }

    /// `args.json`: the keys [`Config`] reads (scGPT's names and its settings for everything
    /// this model does not vary), then how it was trained.
    fn args(&self, corpora: &[CorpusSummary], trained_epochs: usize) -> serde_json::Value {
        serde_json::json!({
            "embsize": self.embsize,
            "nheads": self.nheads,
            "d_hid": self.d_hid,
            "nlayers": self.nlayers,
            "n_bins": self.n_bins,
            "max_seq_len": self.max_seq_len,
            "pad_token": PAD_TOKEN,
            "pad_value": PAD_VALUE,
            "mask_value": MASK_VALUE,
            "MVC": self.mvc,
            "pre_norm": false,
            "input_style": "binned",
            "input_emb_style": "continuous",
            "cell_emb_style": "cls",
            "mvc_decoder_style": "inner product",
            "fast_transformer_backend": "flash",
            "explicit_zero_prob": false,
            "use_batch_labels": false,
            "DSBN": false,
            "domain_spec_batchnorm": false,
            "training_tasks": "pcpt",
            "trunc_by_sample": true,
            "mask_ratio": self.mask_ratio,
            "epochs": self.epochs,
            "trained_epochs": trained_epochs,
            "batch_size": self.batch_size,
            "lr": self.learning_rate,
            "weight_decay": self.weight_decay,
            "warmup_ratio_or_step": WARMUP_FRACTION,
            "grad_clip_norm": MAX_GRAD_NORM,
            "dropout": 0.0,
            "valid_size_or_ratio": self.validation_fraction,
            "seed": self.seed,
            "corpora": corpora,
            "trainer": format!("ugrn pretrain, {} {}", crate::PLUGIN_NAME, env!("CARGO_PKG_VERSION")),
        })
    }

    /// Errors naming the first setting other than `epochs` that differs from `earlier`.
    fn check_resumable(&self, earlier: &Settings, source: &str) -> Result<()> {
        let (now, then) = (serde_json::to_value(self), serde_json::to_value(earlier));
        let (Ok(serde_json::Value::Object(now)), Ok(serde_json::Value::Object(then))) = (now, then) else {
            return Err(Error::compute("settings do not serialise to JSON objects"));
        };
        for (key, value) in &now {
            if key != "epochs" && then.get(key) != Some(value) {
                let was = then.get(key).map_or("absent".to_string(), |v| v.to_string());
                return Err(Error::param(
                    key,
                    format!(
                        "is {value} but {source} was trained with {was}; resume needs the same settings (only `epochs` may change)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_ratios(key: &str, ratios: &[f64]) -> Result<()> {
    if ratios.is_empty() {
        return Err(Error::param(key, "needs at least one ratio"));
    }
    if let Some(r) = ratios.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
        return Err(Error::param(key, format!("ratios must lie strictly between 0 and 1, got {r}")));
    }
    Ok(())
}

/// The model over named tensors (the training variables or copies of them).
fn model_over(tensors: HashMap<String, Tensor>, config: &Config, vocab: &Vocab, source: &str) -> Result<ScGptModel> {
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    ScGptModel::new(&Weights::new(vb, source), config.clone(), vocab.clone())
}

/// The untrained model pretraining with `seed` starts from: the same architecture with seeded
/// PyTorch-style random weights, on the CPU in f32.
pub fn initial_model(config: &Config, vocab: &Vocab, seed: u64) -> Result<ScGptModel> {
    let defs = init::param_defs(config, vocab.len());
    let vars = init::init_vars(&defs, &mut rng(seed, INIT_STREAM)).context("initialising weights")?;
    let tensors = defs.iter().zip(&vars).map(|(d, v)| (d.name.clone(), v.as_tensor().detach())).collect();
    model_over(tensors, config, vocab, &format!("random weights (seed {seed})"))
}

/// Writes a checkpoint folder in the released layout with the architecture of `args` (an
/// `args.json`, copied), the vocabulary of `genes` (a `vocab.json`; `<pad>`, `<cls>` and `<eoc>`
/// are appended after the genes where absent, as scGPT_human's vocabulary extends the census one)
/// and the seeded random weights pretraining with `seed` starts from. With scGPT whole-human's
/// own files this gives a model of the released size and vocabulary for benchmarks, where no
/// pretrained weights exist.
pub fn write_random_checkpoint(args: &Path, genes: &Path, dir: &Path, seed: u64) -> Result<()> {
    let config = Config::from_file(args)?;
    let text = std::fs::read_to_string(genes).map_err(|e| Error::file(genes.display(), e))?;
    let mut ids: BTreeMap<String, TokenId> =
        serde_json::from_str(&text).map_err(|e| Error::file(genes.display(), e))?;
    for special in SPECIAL_TOKENS {
        if !ids.contains_key(special) {
            // After the largest id, so a vocabulary with gaps is refused below, not overwritten.
            let next = ids.values().max().map_or(0, |&m| m + 1);
            ids.insert(special.to_string(), next);
        }
    }
    let vocab = Vocab::new(ids.clone().into_iter().collect()).map_err(|reason| Error::file(genes.display(), reason))?;
    let defs = init::param_defs(&config, vocab.len());
    let vars = init::init_vars(&defs, &mut rng(seed, INIT_STREAM)).context("initialising weights")?;
    std::fs::create_dir_all(dir).map_err(|e| Error::file(dir.display(), e))?;
    files::save_random(dir, args, &ids, &defs, &vars)
}

/// Sums over a batch: squared errors of the expression decoder (and of the MVC decoder) on the
/// masked positions, as tensors so that they can be differentiated.
fn squared_errors(model: &ScGptModel, batch: &Batch) -> Result<(Tensor, Option<Tensor>)> {
    let t = batch.tensors(model.device())?;
    let out = model.forward(&t.ids, &t.input, Some(&t.padding))?;
    let sse = |pred: &Tensor| (pred - &t.target)?.sqr()?.mul(&t.weight)?.sum_all();
    let mlm = sse(&out.mlm_output).context("masked squared error")?;
    let mvc = out.mvc_output.as_ref().map(sse).transpose().context("MVC masked squared error")?;
    Ok((mlm, mvc))
}

fn scalar(t: &Tensor) -> Result<f64> {
    t.to_scalar::<f32>().map(f64::from).context("reading a loss")
}

/// Totals over evaluation batches.
#[derive(Debug, Default)]
struct Totals {
    mlm: f64,
    mvc: f64,
    masked: usize,
    cell_mean: f64,
    cells: usize,
}

impl Totals {
    /// The training objective per masked value.
    fn loss(&self) -> f64 {
        (self.mlm + self.mvc) / self.masked as f64
    }
}

fn evaluate(model: &ScGptModel, batches: &[Batch]) -> Result<Totals> {
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
    /// Cells evaluated (those with an expressed gene in the vocabulary).
    pub cells: usize,
    pub masked: usize,
}

/// scGPT's pretraining loss on `corpus`: each cell binned, up to `max_seq_len - 1` of its
/// expressed genes (those in the model's vocabulary) sampled, cell `i` masked at
/// `mask_ratios[i % len]`, all drawn from `seed`; the same draws whatever the model.
pub fn masked_mse(model: &ScGptModel, corpus: &Corpus<'_>, mask_ratios: &[f64], seed: u64) -> Result<MaskedMse> {
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
    Ok(MaskedMse {
        model: t.mlm / t.masked as f64,
        cell_mean: t.cell_mean / t.masked as f64,
        cells: t.cells,
        masked: t.masked,
    })
}

/// Learning rate at `step` of `total`: linear warm-up, then cosine decay to 0.
fn learning_rate(peak: f64, step: usize, total: usize) -> f64 {
    let warmup = ((total as f64 * WARMUP_FRACTION) as usize).max(1);
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos())
}

/// Rescales the gradients to global norm at most [`MAX_GRAD_NORM`]; returns the norm before.
fn clip_gradients(grads: &mut GradStore, vars: &[Var]) -> candle_core::Result<f64> {
    let mut sq = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    if norm > MAX_GRAD_NORM {
        let scale = MAX_GRAD_NORM / norm;
        for v in vars {
            if let Some(g) = grads.remove(v) {
                grads.insert(v, (g * scale)?);
            }
        }
    }
    Ok(norm)
}

fn format_loss(loss: Option<f64>) -> String {
    loss.map_or("n/a (no validation cells)".into(), |l| format!("{l:.3}"))
}

/// Trains as [`PretrainRequest`] asks and writes the checkpoint folder; returns the log.
pub fn pretrain(request: &PretrainRequest<'_>, progress: &dyn Progress) -> Result<Vec<String>> {
    let started = Instant::now();
    let s = Settings::from_params(request.params)?;
    if request.corpora.is_empty() {
        return Err(Error::invalid("no corpora to pretrain on"));
    }
    let out = request.output;
    std::fs::create_dir_all(out).map_err(|e| Error::file(out.display(), e))?;
    let symbols = data::vocabulary(request.corpora);
    let vocab = data::vocab_of(&symbols)?;
    let corpora: Vec<CorpusSummary> = request
        .corpora
        .iter()
        .map(|c| CorpusSummary { name: c.name.into(), genes: c.genes.len(), cells: c.expression.values.cols })
        .collect();
    let config = Config::from_json(&s.args(&corpora, 0).to_string()).map_err(Error::invalid)?;
    let defs = init::param_defs(&config, vocab.len());

    let split = data::split(request.corpora, &vocab, s.n_bins, s.validation_fraction, &mut rng(s.seed, SPLIT_STREAM))?;
    if split.train.is_empty() {
        return Err(Error::invalid("no training cells: every cell is held out or expresses no gene"));
    }
    let framing = Framing {
        cls: vocab.special(crate::vocab::CLS_TOKEN).expect("the pretraining vocabulary has <cls>"),
        pad: vocab.special(PAD_TOKEN).expect("the pretraining vocabulary has <pad>"),
        pad_value: PAD_VALUE,
        mask_value: MASK_VALUE,
        n_bins: s.n_bins,
    };
    let max_genes = s.max_seq_len - 1;
    let validation_refs: Vec<&data::Cell> = split.validation.iter().collect();
    let validation = data::evaluation_batches(
        &validation_refs,
        framing,
        max_genes,
        &s.mask_ratio,
        EVAL_BATCH,
        &mut rng(s.seed, VALIDATION_STREAM),
    );
    let validation_file = serde_json::json!({
        "seed": s.seed,
        "validation_fraction": s.validation_fraction,
        "cells": split.validation_names,
    });

    let source = out.join(SAFETENSORS_FILE).display().to_string();
    let n_params: usize = defs.iter().map(|d| d.shape.iter().product::<usize>()).sum();
    let mut log = vec![
        format!(
            "scGPT architecture: embsize {}, {} heads, d_hid {}, {} layers, max_seq_len {}, {} bins, MVC {}; \
             {n_params} parameters, vocabulary of {} tokens",
            s.embsize,
            s.nheads,
            s.d_hid,
            s.nlayers,
            s.max_seq_len,
            s.n_bins,
            if s.mvc { "on" } else { "off" },
            vocab.len()
        ),
        format!(
            "cells: {} training, {} validation ({} of each corpus, seed {}){}",
            split.train.len(),
            split.validation.len(),
            s.validation_fraction,
            s.seed,
            if split.empty > 0 { format!(", {} without expressed genes left out", split.empty) } else { String::new() }
        ),
    ];

    let resumed = if request.resume {
        files::load(out, &defs, |state| s.check_resumable(&state.settings, &source))?
    } else {
        None
    };
    let (vars, mut history, start) = match resumed {
        Some((state, vars)) => {
            if state.corpora != corpora {
                return Err(Error::invalid(format!(
                    "resume: the corpora ({}) differ from those {source} was trained on ({})",
                    describe_corpora(&corpora),
                    describe_corpora(&state.corpora)
                )));
            }
            log.push(format!("resuming after epoch {} from {source} (optimizer state restarts)", state.epochs_done));
            (vars, state.history, state.epochs_done)
        }
        None => {
            if request.resume {
                log.push(format!("no training state in {}: starting from scratch", out.display()));
            }
            let vars = init::init_vars(&defs, &mut rng(s.seed, INIT_STREAM)).context("initialising weights")?;
            (vars, Vec::new(), 0)
        }
    };
    if start >= s.epochs {
        log.push(format!("nothing to do: {source} already holds {start} epochs (epochs = {})", s.epochs));
        return Ok(log);
    }

    let named = |detach: bool| -> HashMap<String, Tensor> {
        defs.iter()
            .zip(&vars)
            .map(|(d, v)| (d.name.clone(), if detach { v.as_tensor().detach() } else { v.as_tensor().clone() }))
            .collect()
    };
    let model = model_over(named(false), &config, &vocab, "training weights")?;
    let mut optimizer = AdamW::new(
        vars.clone(),
        ParamsAdamW { lr: s.learning_rate, weight_decay: s.weight_decay, ..ParamsAdamW::default() },
    )
    .context("creating the optimizer")?;

    let steps_per_epoch = split.train.len().div_ceil(s.batch_size);
    let total_steps = steps_per_epoch * s.epochs;
    progress.set_total(((s.epochs - start) * steps_per_epoch) as u64);
    if !validation.is_empty() {
        let baseline: f64 = validation.iter().map(|b| b.cell_mean_sq_error).sum::<f64>()
            / validation.iter().map(|b| b.masked).sum::<usize>() as f64;
        log.push(format!(
            "validation baseline (each masked value predicted by its cell's visible mean): {baseline:.3}"
        ));
    }

    for epoch in start..s.epochs {
        let epoch_started = Instant::now();
        let mut rng = rng(s.seed, EPOCH_STREAM + epoch as u64);
        let mut order: Vec<usize> = (0..split.train.len()).collect();
        order.shuffle(&mut rng);
        let (mut sse, mut masked) = (0.0, 0usize);
        for (b, cells) in order.chunks(s.batch_size).enumerate() {
            let step = epoch * steps_per_epoch + b;
            let batch = data::training_batch(&split.train, cells, framing, max_genes, &s.mask_ratio, &mut rng);
            let (mlm, mvc) = squared_errors(&model, &batch)?;
            let total = match mvc {
                Some(mvc) => (mlm + mvc).context("adding the MVC loss")?,
                None => mlm,
            };
            let loss = (total / batch.masked as f64).context("averaging the loss")?;
            let value = scalar(&loss)?;
            if !value.is_finite() {
                return Err(Error::compute(format!(
                    "training diverged at epoch {}, step {}: loss {value}; try a lower learning_rate",
                    epoch + 1,
                    b + 1
                )));
            }
            let mut grads = loss.backward().context("backpropagation")?;
            clip_gradients(&mut grads, &vars).context("clipping gradients")?;
            optimizer.set_learning_rate(learning_rate(s.learning_rate, step, total_steps));
            optimizer.step(&grads).context("optimizer step")?;
            sse += value * batch.masked as f64;
            masked += batch.masked;
            progress.advance(1);
            progress.set_message(&format!("epoch {}/{} loss {:.2}", epoch + 1, s.epochs, sse / masked as f64));
        }
        let train_loss = sse / masked as f64;
        let validation_loss = if validation.is_empty() {
            None
        } else {
            let frozen = model_over(named(true), &config, &vocab, "training weights")?;
            Some(evaluate(&frozen, &validation)?.loss())
        };
        let seconds = epoch_started.elapsed().as_secs_f64();
        history.push(EpochRecord { epoch: epoch + 1, train_loss, validation_loss, seconds });
        let state =
            State { epochs_done: epoch + 1, settings: s.clone(), corpora: corpora.clone(), history: history.clone() };
        files::save(
            out,
            &Snapshot {
                args: &s.args(&corpora, epoch + 1),
                symbols: &symbols,
                validation: &validation_file,
                defs: &defs,
                vars: &vars,
                state: &state,
            },
        )?;
        log.push(format!(
            "epoch {}/{}: train loss {train_loss:.3}, validation loss {} ({seconds:.0} s)",
            epoch + 1,
            s.epochs,
            format_loss(validation_loss)
        ));
    }

    let last = history.last().expect("at least one epoch ran");
    let size = std::fs::metadata(out.join(SAFETENSORS_FILE)).map(|m| m.len()).unwrap_or(0);
    log.push(format!(
        "final (epoch {}): train loss {:.3}, validation loss {}; wall time {:.0} s this run, {:.0} s of training in all; \
         wrote {} ({:.1} MB)",
        last.epoch,
        last.train_loss,
        format_loss(last.validation_loss),
        started.elapsed().as_secs_f64(),
        history.iter().map(|h| h.seconds).sum::<f64>(),
        source,
        size as f64 / 1e6
    ));
    Ok(log)
}

fn describe_corpora(corpora: &[CorpusSummary]) -> String {
    corpora.iter().map(|c| format!("{}: {} genes × {} cells", c.name, c.genes, c.cells)).collect::<Vec<_>>().join("; ")
}
