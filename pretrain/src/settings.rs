//! The pretraining parameters and their checked settings.
use serde::{Deserialize, Serialize};
use ugrn_backbone_scgpt::{PAD_TOKEN, PLUGIN_NAME};
use ugrn_sdk::{Error, ParamSpec, Params, Result};

use crate::data::{MASK_VALUE, PAD_VALUE};
use crate::files::CorpusSummary;
use crate::references::ValidationReferences;
use crate::trainer::{MAX_GRAD_NORM, WARMUP_FRACTION};

/// The parameters of `ugrn pretrain` (its `--set KEY=VALUE`). The defaults train the planted
/// control's `ugrn-planted` (5,400 cells of 100 genes) to within 0.5% of the ridge reference;
/// with 6 epochs it ended level with the gene-mean reference, having learned gene identity
/// only. `ugrn-mini` was trained with them but `epochs = 6`.
pub fn params() -> Vec<ParamSpec> {
    // Sizes are bounded so that a typo is refused before anything is allocated from it.
    vec![
        ParamSpec::int("embsize", 64, "model width d_model (scGPT's `embsize`)").within(1.0, 65536.0),
        ParamSpec::int("nheads", 4, "attention heads; must divide embsize").within(1.0, 1024.0),
        ParamSpec::int("d_hid", 128, "feed-forward width of each encoder layer").within(1.0, 262_144.0),
        ParamSpec::int("nlayers", 4, "transformer encoder layers").within(1.0, 1024.0),
        ParamSpec::int(
            "max_seq_len",
            256,
            "tokens per cell, <cls> included (at least 2: <cls> and a gene): cells with more expressed genes get a \
             random sample of them each epoch",
        )
        .within(2.0, 1_048_576.0),
        ParamSpec::int(
            "n_bins",
            51,
            "expression bins (bin 0 = not expressed; values 1..n_bins-1 are per-cell quantiles)",
        )
        .within(3.0, 65536.0),
        ParamSpec::floats(
            "mask_ratio",
            &[0.25, 0.5, 0.75],
            "shares of a cell's values to mask; each training batch draws one (as scGPT's generative pretraining), \
             validation cycles through them cell by cell",
        ),
        ParamSpec::bool("mvc", false, "also train the MVC decoder (masked values from the <cls> embedding)"),
        ParamSpec::int("epochs", 20, "passes over the training cells (with resume: the total to reach)")
            .within(1.0, 1e6),
        ParamSpec::int("batch_size", 16, "cells per optimisation step").within(1.0, 1_048_576.0),
        ParamSpec::float(
            "learning_rate",
            1e-3,
            "peak AdamW learning rate, reached after a linear warm-up over 10% of the steps, then cosine decay to 0",
        )
        .within(1e-12, 1000.0),
        ParamSpec::float("weight_decay", 0.0, "AdamW weight decay (0: Adam, as scGPT pretrains)").within(0.0, 1000.0),
        ParamSpec::float(
            "validation_fraction",
            0.1,
            "share of every corpus's cells held out from training (listed in validation_cells.json)",
        ),
        ParamSpec::int("seed", 0, "seeds initialisation, the held-out split, sampling and masking")
            .within(0.0, u32::MAX as f64),
    ]
}

/// The checked pretraining settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    pub(crate) embsize: usize,
    pub(crate) nheads: usize,
    pub(crate) d_hid: usize,
    pub(crate) nlayers: usize,
    pub(crate) max_seq_len: usize,
    pub(crate) n_bins: usize,
    pub(crate) mask_ratio: Vec<f64>,
    pub(crate) mvc: bool,
    pub(crate) epochs: usize,
    pub(crate) batch_size: usize,
    pub(crate) learning_rate: f64,
    pub(crate) weight_decay: f64,
    pub(crate) validation_fraction: f64,
    pub(crate) seed: u64,
}

impl Settings {
    pub(crate) fn from_params(p: &Params) -> Result<Settings> {
        // The declared ranges have bounded every size and rate already.
        let s = Settings {
            embsize: p.usize("embsize")?,
            nheads: p.usize("nheads")?,
            d_hid: p.usize("d_hid")?,
            nlayers: p.usize("nlayers")?,
            max_seq_len: p.usize("max_seq_len")?,
            n_bins: p.usize("n_bins")?,
            mask_ratio: p.f64_list("mask_ratio")?,
            mvc: p.bool("mvc")?,
            epochs: p.usize("epochs")?,
            batch_size: p.usize("batch_size")?,
            learning_rate: p.f64("learning_rate")?,
            weight_decay: p.f64("weight_decay")?,
            validation_fraction: p.f64("validation_fraction")?,
            seed: p.usize("seed")? as u64,
        };
        if !s.embsize.is_multiple_of(s.nheads) {
            return Err(Error::param("nheads", format!("{} does not divide embsize = {}", s.nheads, s.embsize)));
        }
        check_ratios("mask_ratio", &s.mask_ratio)?;
        if !(0.0..1.0).contains(&s.validation_fraction) {
            return Err(Error::param(
                "validation_fraction",
                format!("must be in [0, 1), got {}", s.validation_fraction),
            ));
        }
        Ok(s)
    }

    /// `args.json`: the keys [`Config`](ugrn_backbone_scgpt::Config) reads (scGPT's names and its
    /// settings for everything this model does not vary), then how it was trained and what its
    /// validation loss compares with.
    pub(crate) fn args(
        &self,
        corpora: &[CorpusSummary],
        trained_epochs: usize,
        references: Option<&ValidationReferences>,
    ) -> serde_json::Value {
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
            "validation_references": references,
            "trainer": format!("ugrn pretrain, {} {}", PLUGIN_NAME, env!("CARGO_PKG_VERSION")),
        })
    }

    /// Errors naming the first setting other than `epochs` that differs from `earlier`.
    pub(crate) fn check_resumable(&self, earlier: &Settings, source: &str) -> Result<()> {
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

pub(crate) fn check_ratios(key: &str, ratios: &[f64]) -> Result<()> {
    if ratios.is_empty() {
        return Err(Error::param(key, "needs at least one ratio"));
    }
    if let Some(r) = ratios.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
        return Err(Error::param(key, format!("ratios must lie strictly between 0 and 1, got {r}")));
    }
    Ok(())
}
