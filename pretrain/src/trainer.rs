//! The training run: [`Trainer::setup`] checks the settings, builds the vocabulary, holds out the
//! validation cells and starts from fresh or resumed weights; then every epoch is
//! [`Trainer::epoch`], [`Trainer::validate`] and [`Trainer::save`].
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use rand::seq::SliceRandom;
use ugrn_backbone_scgpt::init::{ParamDef, param_defs};
use ugrn_backbone_scgpt::{CLS_TOKEN, Config, PAD_TOKEN, SAFETENSORS_FILE, ScGptModel, Vocab};
use ugrn_candle_shared::Context;
use ugrn_sdk::{Error, Params, Progress, Result};

use crate::corpus::Corpus;
use crate::data::{self, Batch, Cell, Framing, MASK_VALUE, PAD_VALUE};
use crate::files::{self, CorpusSummary, EpochRecord, Snapshot, State};
use crate::objective::{EVAL_BATCH, Totals, evaluate, model_over, scalar, squared_errors};
use crate::references::{References, ValidationReferences};
use crate::seeds::{EPOCH_STREAM, REFERENCE_STREAM, SPLIT_STREAM, VALIDATION_STREAM, initial_tensors, rng};
use crate::settings::Settings;

/// Share of all steps over which the learning rate ramps up linearly (scGPT's
/// `--warmup-ratio-or-step` default).
pub(crate) const WARMUP_FRACTION: f64 = 0.1;
/// Gradients are rescaled to at most this global norm, as scGPT's script does.
pub(crate) const MAX_GRAD_NORM: f64 = 1.0;

/// What to pretrain on and where to write the checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Resolved against [`crate::params`].
    pub params: &'a Params,
    pub corpora: &'a [Corpus],
    /// Folder to write the checkpoint to, in the layout `backbone-scgpt` loads.
    pub output: &'a Path,
    /// Continue from the training state in `output` when present.
    pub resume: bool,
}

/// Trains as `request` asks, rewriting the checkpoint folder after every epoch; returns the log.
pub fn pretrain(request: &Request<'_>, progress: &dyn Progress) -> Result<Vec<String>> {
    let started = Instant::now();
    let mut trainer = Trainer::setup(request)?;
    let (epochs, done) = (trainer.settings.epochs, trainer.epochs_done);
    if done >= epochs {
        let line = format!("nothing to do: {} already holds {done} epochs (epochs = {epochs})", trainer.source);
        trainer.log.push(line);
        return Ok(trainer.log);
    }
    progress.set_total(((epochs - done) * trainer.steps_per_epoch()) as u64);
    while trainer.epochs_done < epochs {
        let epoch_started = Instant::now();
        let train_loss = trainer.epoch(progress)?;
        let validation = trainer.validate()?;
        let seconds = epoch_started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch: trainer.epochs_done + 1,
            train_loss,
            validation_loss: validation.as_ref().map(Totals::loss),
            seconds,
        };
        trainer.save(record, validation.as_ref().map(Totals::expression_mse))?;
    }
    Ok(trainer.finish(started))
}

/// The cells a run trains and validates on.
struct Cells {
    framing: Framing,
    train: Vec<Cell>,
    /// Fixed batches of the held-out cells, the same every epoch.
    validation: Vec<Batch>,
    /// The errors of predicting `validation`'s masked values without the model; `None` without
    /// validation cells.
    references: Option<ValidationReferences>,
    /// What `validation_cells.json` holds: the held-out cells by corpus.
    validation_file: serde_json::Value,
}

impl Cells {
    /// Bins the corpora's cells, holds out `validation_fraction` of each corpus, masks the
    /// held-out ones once and fits the references on the training cells; also returns the log
    /// lines that count the cells and give the references.
    fn split(s: &Settings, corpora: &[Corpus], vocab: &Vocab) -> Result<(Cells, Vec<String>)> {
        let split = data::split(corpora, vocab, s.n_bins, s.validation_fraction, &mut rng(s.seed, SPLIT_STREAM))?;
        if split.train.is_empty() {
            return Err(Error::invalid("no training cells: every cell is held out or expresses no gene"));
        }
        let framing = Framing {
            cls: vocab.special(CLS_TOKEN).expect("the pretraining vocabulary has <cls>"),
            pad: vocab.special(PAD_TOKEN).expect("the pretraining vocabulary has <pad>"),
            pad_value: PAD_VALUE,
            mask_value: MASK_VALUE,
            n_bins: s.n_bins,
        };
        let validation_refs: Vec<&Cell> = split.validation.iter().collect();
        let validation = data::evaluation_batches(
            &validation_refs,
            framing,
            s.max_seq_len - 1,
            &s.mask_ratio,
            EVAL_BATCH,
            &mut rng(s.seed, VALIDATION_STREAM),
        );
        let mut lines = vec![format!(
            "cells: {} training, {} validation ({} of each corpus, seed {}){}",
            split.train.len(),
            split.validation.len(),
            s.validation_fraction,
            s.seed,
            if split.empty > 0 { format!(", {} without expressed genes left out", split.empty) } else { String::new() }
        )];
        let references = if validation.is_empty() {
            None
        } else {
            let mut masks = rng(s.seed, REFERENCE_STREAM);
            let fitted = References::fit(&split.train, s.max_seq_len - 1, &s.mask_ratio, &mut masks)?;
            let r = fitted.evaluate(&validation);
            lines.push(format!(
                "validation references (masked values predicted without the model): cell mean {:.3}, gene mean {:.3}{}",
                r.cell_mean,
                r.gene_mean,
                r.ridge.map_or(String::new(), |ridge| format!(", ridge {ridge:.3}"))
            ));
            lines.extend(fitted.ridge_note());
            Some(r)
        };
        let validation_file = serde_json::json!({
            "seed": s.seed,
            "validation_fraction": s.validation_fraction,
            "cells": split.validation_names,
        });
        Ok((Cells { framing, train: split.train, validation, references, validation_file }, lines))
    }
}

/// Where a run starts.
struct Start {
    /// The weights, in the order of the parameter definitions.
    vars: Vec<Var>,
    history: Vec<EpochRecord>,
    epochs_done: usize,
}

impl Start {
    /// The training state in the output folder (with `resume`, where there is one: the settings
    /// other than `epochs` and the corpora must be the same), else the seeded initial weights.
    fn resumed_or_initial(
        request: &Request<'_>,
        settings: &Settings,
        defs: &[ParamDef],
        corpora: &[CorpusSummary],
        log: &mut Vec<String>,
    ) -> Result<Start> {
        let source = weights_file(request.output);
        let resumed = if request.resume {
            files::load(request.output, defs, |state| settings.check_resumable(&state.settings, &source))?
        } else {
            None
        };
        if let Some((state, vars)) = resumed {
            if state.corpora != corpora {
                return Err(Error::invalid(format!(
                    "resume: the corpora ({}) differ from those {source} was trained on ({})",
                    describe_corpora(corpora),
                    describe_corpora(&state.corpora)
                )));
            }
            log.push(format!("resuming after epoch {} from {source} (optimizer state restarts)", state.epochs_done));
            return Ok(Start { vars, history: state.history, epochs_done: state.epochs_done });
        }
        if request.resume {
            log.push(format!("no training state in {}: starting from scratch", request.output.display()));
        }
        let vars = initial_tensors(defs, settings.seed)?
            .iter()
            .map(Var::from_tensor)
            .collect::<candle_core::Result<_>>()
            .context("initialising weights")?;
        Ok(Start { vars, history: Vec::new(), epochs_done: 0 })
    }
}

/// One pretraining run, from its settings and data to the weights after the last epoch.
struct Trainer<'a> {
    settings: Settings,
    output: &'a Path,
    /// [`weights_file`] of `output`.
    source: String,
    corpora: Vec<CorpusSummary>,
    /// Token symbols in id order (`vocab.json`).
    symbols: Vec<String>,
    config: Config,
    vocab: Vocab,
    defs: Vec<ParamDef>,
    cells: Cells,
    /// The weights, in the order of `defs`.
    vars: Vec<Var>,
    /// The model over `vars`, which the optimizer updates in place.
    model: ScGptModel,
    optimizer: AdamW,
    history: Vec<EpochRecord>,
    epochs_done: usize,
    log: Vec<String>,
}

impl<'a> Trainer<'a> {
    /// Checks the settings, builds the vocabulary over the corpora, holds out the validation
    /// cells and starts from the output folder's training state (with `resume`) or from the
    /// seeded initial weights.
    fn setup(request: &Request<'a>) -> Result<Trainer<'a>> {
        let settings = Settings::from_params(request.params)?;
        if request.corpora.is_empty() {
            return Err(Error::invalid("no corpora to pretrain on"));
        }
        let output = request.output;
        std::fs::create_dir_all(output).map_err(|e| Error::file(output.display(), e))?;
        let symbols = data::vocabulary(request.corpora);
        let vocab = data::vocab_of(&symbols)?;
        let corpora: Vec<CorpusSummary> = request
            .corpora
            .iter()
            .map(|c| CorpusSummary { name: c.name.clone(), genes: c.genes.len(), cells: c.expression.values.cols })
            .collect();
        let config = Config::from_json(&settings.args(&corpora, 0, None).to_string()).map_err(Error::invalid)?;
        let defs = param_defs(&config, vocab.len());
        let (cells, cells_lines) = Cells::split(&settings, request.corpora, &vocab)?;
        let mut log = vec![describe_architecture(&settings, &defs, vocab.len())];
        log.extend(cells_lines);

        let Start { vars, history, epochs_done } =
            Start::resumed_or_initial(request, &settings, &defs, &corpora, &mut log)?;
        let model = model_over(named_tensors(&defs, &vars, false), &config, &vocab, "training weights")?;
        let optimizer = AdamW::new(
            vars.clone(),
            ParamsAdamW { lr: settings.learning_rate, weight_decay: settings.weight_decay, ..ParamsAdamW::default() },
        )
        .context("creating the optimizer")?;
        Ok(Trainer {
            settings,
            output,
            source: weights_file(output),
            corpora,
            symbols,
            config,
            vocab,
            defs,
            cells,
            vars,
            model,
            optimizer,
            history,
            epochs_done,
            log,
        })
    }

    fn steps_per_epoch(&self) -> usize {
        self.cells.train.len().div_ceil(self.settings.batch_size)
    }

    /// Trains one epoch: the training cells in the epoch's shuffled order, sampled and masked
    /// anew; returns the mean training loss per masked value.
    fn epoch(&mut self, progress: &dyn Progress) -> Result<f64> {
        let (seed, batch_size, epochs) = (self.settings.seed, self.settings.batch_size, self.settings.epochs);
        let mut rng = rng(seed, EPOCH_STREAM + self.epochs_done as u64);
        let mut order: Vec<usize> = (0..self.cells.train.len()).collect();
        order.shuffle(&mut rng);
        let (mut sse, mut masked) = (0.0, 0usize);
        for (b, cells) in order.chunks(batch_size).enumerate() {
            let batch = data::training_batch(
                &self.cells.train,
                cells,
                self.cells.framing,
                self.settings.max_seq_len - 1,
                &self.settings.mask_ratio,
                &mut rng,
            );
            let value = self.step(&batch, b)?;
            sse += value * batch.masked as f64;
            masked += batch.masked;
            progress.advance(1);
            progress.set_message(&format!("epoch {}/{epochs} loss {:.2}", self.epochs_done + 1, sse / masked as f64));
        }
        Ok(sse / masked as f64)
    }

    /// One optimisation step on the `b`-th batch of the epoch; returns its loss per masked value.
    fn step(&mut self, batch: &Batch, b: usize) -> Result<f64> {
        let (mlm, mvc) = squared_errors(&self.model, batch)?;
        let total = match mvc {
            Some(mvc) => (mlm + mvc).context("adding the MVC loss")?,
            None => mlm,
        };
        let loss = (total / batch.masked as f64).context("averaging the loss")?;
        let value = scalar(&loss)?;
        if !value.is_finite() {
            return Err(Error::compute(format!(
                "training diverged at epoch {}, step {}: loss {value}; try a lower learning_rate",
                self.epochs_done + 1,
                b + 1
            )));
        }
        let mut grads = loss.backward().context("backpropagation")?;
        clip_gradients(&mut grads, &self.vars).context("clipping gradients")?;
        let steps_per_epoch = self.steps_per_epoch();
        let step = self.epochs_done * steps_per_epoch + b;
        self.optimizer.set_learning_rate(learning_rate(
            self.settings.learning_rate,
            step,
            steps_per_epoch * self.settings.epochs,
        ));
        self.optimizer.step(&grads).context("optimizer step")?;
        Ok(value)
    }

    /// The errors on the validation batches, `None` without validation cells.
    fn validate(&self) -> Result<Option<Totals>> {
        if self.cells.validation.is_empty() {
            return Ok(None);
        }
        let frozen =
            model_over(named_tensors(&self.defs, &self.vars, true), &self.config, &self.vocab, "training weights")?;
        evaluate(&frozen, &self.cells.validation).map(Some)
    }

    /// Records the finished epoch and rewrites the output folder with its weights and state;
    /// `expression_mse` is the expression decoder's validation error, which the log compares
    /// with the references.
    fn save(&mut self, record: EpochRecord, expression_mse: Option<f64>) -> Result<()> {
        let line = format!(
            "epoch {}/{}: train loss {:.3}, validation loss {}{} ({:.0} s)",
            record.epoch,
            self.settings.epochs,
            record.train_loss,
            format_loss(record.validation_loss),
            self.compare_with_references(expression_mse),
            record.seconds
        );
        self.history.push(record);
        self.epochs_done += 1;
        let state = State {
            epochs_done: self.epochs_done,
            settings: self.settings.clone(),
            corpora: self.corpora.clone(),
            history: self.history.clone(),
            validation_references: self.cells.references,
        };
        let snapshot = Snapshot {
            args: &self.settings.args(&self.corpora, self.epochs_done, self.cells.references.as_ref()),
            symbols: &self.symbols,
            validation: &self.cells.validation_file,
            defs: &self.defs,
            vars: &self.vars,
            state: &state,
        };
        files::save(self.output, &snapshot)?;
        self.log.push(line);
        Ok(())
    }

    /// Where the expression decoder's validation error sits among the references: ` vs gene mean
    /// …, ridge …`, preceded by that error where MVC adds its own to the validation loss.
    fn compare_with_references(&self, expression_mse: Option<f64>) -> String {
        let (Some(mse), Some(r)) = (expression_mse, &self.cells.references) else {
            return String::new();
        };
        let decoder = if self.settings.mvc { format!(", expression decoder {mse:.3}") } else { String::new() };
        let ridge = r.ridge.map_or(String::new(), |ridge| format!(", ridge {ridge:.3}"));
        format!("{decoder} vs gene mean {:.3}{ridge}", r.gene_mean)
    }

    /// The log, ending with the final losses, wall time and the checkpoint written.
    fn finish(mut self, started: Instant) -> Vec<String> {
        let last = self.history.last().expect("at least one epoch ran");
        let size = std::fs::metadata(self.output.join(SAFETENSORS_FILE)).map(|m| m.len()).unwrap_or(0);
        let line = format!(
            "final (epoch {}): train loss {:.3}, validation loss {}; wall time {:.0} s this run, {:.0} s of training in all; \
             wrote {} ({:.1} MB)",
            last.epoch,
            last.train_loss,
            format_loss(last.validation_loss),
            started.elapsed().as_secs_f64(),
            self.history.iter().map(|h| h.seconds).sum::<f64>(),
            self.source,
            size as f64 / 1e6
        );
        self.log.push(line);
        self.log
    }
}

/// `model.safetensors` in `output`, as the log names it.
fn weights_file(output: &Path) -> String {
    output.join(SAFETENSORS_FILE).display().to_string()
}

/// The weights by tensor name: the variables themselves (for training) or `detach`ed copies.
fn named_tensors(defs: &[ParamDef], vars: &[Var], detach: bool) -> HashMap<String, Tensor> {
    defs.iter()
        .zip(vars)
        .map(|(d, v)| (d.name.clone(), if detach { v.as_tensor().detach() } else { v.as_tensor().clone() }))
        .collect()
}

fn describe_architecture(s: &Settings, defs: &[ParamDef], vocab_len: usize) -> String {
    let n_params: usize = defs.iter().map(|d| d.shape.iter().product::<usize>()).sum();
    format!(
        "scGPT architecture: embsize {}, {} heads, d_hid {}, {} layers, max_seq_len {}, {} bins, MVC {}; \
         {n_params} parameters, vocabulary of {vocab_len} tokens",
        s.embsize,
        s.nheads,
        s.d_hid,
        s.nlayers,
        s.max_seq_len,
        s.n_bins,
        if s.mvc { "on" } else { "off" },
    )
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

fn describe_corpora(corpora: &[CorpusSummary]) -> String {
    corpora.iter().map(|c| format!("{}: {} genes × {} cells", c.name, c.genes, c.cells)).collect::<Vec<_>>().join("; ")
}
