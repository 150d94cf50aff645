//! Hugging Face's `BertForMaskedLM` in eval mode (no dropout), one struct per PyTorch module
//! with the checkpoint's tensor names.
//!
//! Every forward takes a [`Dual`], so the same code computes values and, when a tangent rides
//! along, their exact derivative along one input direction. The input direction here is a
//! per-token scale of the word embedding ([`BertEmbeddings::forward`]): 1 is the token as
//! BERT sees it, 0 leaves only its position.
use candle_core::{D, DType, Device, Tensor};
use ugrn_candle_shared::Context;
use ugrn_candle_shared::checkpoint::LayerCount;
use ugrn_sdk::{Error, Result};

use crate::checkpoint::{Checkpoint, KNOWN_UNUSED_PREFIXES, Weights};
use crate::config::{Activation, Config};
use crate::dual::{self, Dual, Linear};

fn linear(w: &Weights, in_dim: usize, out_dim: usize) -> Result<Linear> {
    Ok(Linear { weight: w.get(&[out_dim, in_dim], "weight")?, bias: Some(w.get(&[out_dim], "bias")?) })
}

fn activate(activation: Activation, x: &Dual) -> candle_core::Result<Dual> {
    match activation {
        Activation::Relu => dual::relu(x),
        Activation::Gelu => dual::gelu(x),
    }
}

/// `LayerNorm` with the config's `layer_norm_eps`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(LayerNorm { weight: w.get(&[d], "weight")?, bias: w.get(&[d], "bias")?, eps: cfg.layer_norm_eps })
    }

    pub fn forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        dual::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// `bert.embeddings`: word + absolute position + token type 0, then `LayerNorm`.
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    pub word_embeddings: Tensor,
    pub position_embeddings: Tensor,
    pub token_type_embeddings: Tensor,
    pub layer_norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(BertEmbeddings {
            word_embeddings: w.pp("word_embeddings").get(&[cfg.vocab_size, d], "weight")?,
            position_embeddings: w.pp("position_embeddings").get(&[cfg.max_position_embeddings, d], "weight")?,
            token_type_embeddings: w.pp("token_type_embeddings").get(&[cfg.type_vocab_size, d], "weight")?,
            layer_norm: LayerNorm::load(&w.pp("LayerNorm"), cfg)?,
        })
    }

    /// Rows of the word embedding for `ids` of any shape: that shape × `hidden_size`.
    pub fn words(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let mut dims = ids.dims().to_vec();
        let rows = self.word_embeddings.embedding(&ids.flatten_all()?.contiguous()?)?;
        dims.push(rows.dim(1)?);
        rows.reshape(dims)
    }

    /// `ids` `(cells, tokens)` at positions 0.., each word embedding times its `scales` entry:
    /// `(cells, tokens, hidden)`. Geneformer gives every token type 0.
    pub fn forward(&self, ids: &Tensor, scales: &Dual) -> candle_core::Result<Dual> {
        let (_, l) = ids.dims2()?;
        let words = self.words(ids)?;
        let fixed = self.position_embeddings.narrow(0, 0, l)?.broadcast_add(&self.token_type_embeddings.get(0)?)?;
        let x = words.broadcast_mul(&scales.x.unsqueeze(2)?)?.broadcast_add(&fixed)?;
        // Positions and token types do not move with the scales.
        let t = scales.t.as_ref().map(|t| words.broadcast_mul(&t.unsqueeze(2)?)).transpose()?;
        self.layer_norm.forward(&Dual::new(x, t))
    }
}

/// `attention.self`: separate query, key and value projections.
#[derive(Debug, Clone)]
pub struct BertSelfAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub num_heads: usize,
}

impl BertSelfAttention {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.hidden_size;
        Ok(BertSelfAttention {
            query: linear(&w.pp("query"), d, d)?,
            key: linear(&w.pp("key"), d, d)?,
            value: linear(&w.pp("value"), d, d)?,
            num_heads: cfg.num_attention_heads,
        })
    }

    /// `(cells, tokens, hidden)` → `(cells, heads, tokens, head_dim)`.
    fn heads(&self, x: &Dual) -> candle_core::Result<Dual> {
        let (b, l, d) = x.x.dims3()?;
        x.map(|t| t.reshape((b, l, self.num_heads, d / self.num_heads))?.transpose(1, 2)?.contiguous())
    }

    /// Raw attention scores q·kᵀ (unscaled, pre-softmax): `(cells, heads, tokens, tokens)`.
    pub fn raw_scores(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = Dual::constant(x.clone());
        let q = self.heads(&self.query.forward(&x)?)?.x;
        let k = self.heads(&self.key.forward(&x)?)?.x;
        q.matmul(&k.t()?)
    }

    /// `key_mask`: `(cells, 1, 1, tokens)`, 0 where attended and −∞ at padding.
    pub fn forward(&self, x: &Dual, key_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        let q = self.heads(&self.query.forward(x)?)?;
        let k = self.heads(&self.key.forward(x)?)?;
        let v = self.heads(&self.value.forward(x)?)?;
        let (b, h, l, hd) = q.x.dims4()?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = dual::bilinear(&q, &k, |q, k| q.matmul(&k.t()?)?.affine(scale, 0.0))?;
        let scores = match key_mask {
            Some(mask) => Dual::new(scores.x.broadcast_add(mask)?, scores.t),
            None => scores,
        };
        let p = dual::softmax_last_dim(&scores)?;
        let context = dual::bilinear(&p, &v, |p, v| p.matmul(v))?;
        context.map(|t| t.transpose(1, 2)?.reshape((b, l, h * hd)))
    }
}

/// `attention.output`: dense, then `LayerNorm` over the residual sum.
#[derive(Debug, Clone)]
pub struct BertSelfOutput {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl BertSelfOutput {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertSelfOutput {
            dense: linear(&w.pp("dense"), cfg.hidden_size, cfg.hidden_size)?,
            layer_norm: LayerNorm::load(&w.pp("LayerNorm"), cfg)?,
        })
    }

    pub fn forward(&self, hidden: &Dual, input: &Dual) -> candle_core::Result<Dual> {
        self.layer_norm.forward(&self.dense.forward(hidden)?.add(input)?)
    }
}

/// `attention`: self-attention and its output block.
#[derive(Debug, Clone)]
pub struct BertAttention {
    pub self_attention: BertSelfAttention,
    pub output: BertSelfOutput,
}

impl BertAttention {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertAttention {
            self_attention: BertSelfAttention::load(&w.pp("self"), cfg)?,
            output: BertSelfOutput::load(&w.pp("output"), cfg)?,
        })
    }

    pub fn forward(&self, x: &Dual, key_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        self.output.forward(&self.self_attention.forward(x, key_mask)?, x)
    }
}

/// `intermediate`: dense to `intermediate_size` and the activation.
#[derive(Debug, Clone)]
pub struct BertIntermediate {
    pub dense: Linear,
    pub activation: Activation,
}

impl BertIntermediate {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertIntermediate {
            dense: linear(&w.pp("dense"), cfg.hidden_size, cfg.intermediate_size)?,
            activation: cfg.activation(),
        })
    }

    pub fn forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        activate(self.activation, &self.dense.forward(x)?)
    }
}

/// `output`: dense back to `hidden_size`, then `LayerNorm` over the residual sum.
#[derive(Debug, Clone)]
pub struct BertOutput {
    pub dense: Linear,
    pub layer_norm: LayerNorm,
}

impl BertOutput {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertOutput {
            dense: linear(&w.pp("dense"), cfg.intermediate_size, cfg.hidden_size)?,
            layer_norm: LayerNorm::load(&w.pp("LayerNorm"), cfg)?,
        })
    }

    pub fn forward(&self, hidden: &Dual, input: &Dual) -> candle_core::Result<Dual> {
        self.layer_norm.forward(&self.dense.forward(hidden)?.add(input)?)
    }
}

/// One `bert.encoder.layer.N`.
#[derive(Debug, Clone)]
pub struct BertLayer {
    pub attention: BertAttention,
    pub intermediate: BertIntermediate,
    pub output: BertOutput,
}

impl BertLayer {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertLayer {
            attention: BertAttention::load(&w.pp("attention"), cfg)?,
            intermediate: BertIntermediate::load(&w.pp("intermediate"), cfg)?,
            output: BertOutput::load(&w.pp("output"), cfg)?,
        })
    }

    pub fn forward(&self, x: &Dual, key_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        let attended = self.attention.forward(x, key_mask)?;
        self.output.forward(&self.intermediate.forward(&attended)?, &attended)
    }
}

/// `bert`: embeddings and encoder layers (`BertForMaskedLM` has no pooler).
#[derive(Debug, Clone)]
pub struct BertModel {
    pub embeddings: BertEmbeddings,
    pub layer: Vec<BertLayer>,
}

impl BertModel {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let layers = w.pp("encoder.layer");
        Ok(BertModel {
            embeddings: BertEmbeddings::load(&w.pp("embeddings"), cfg)?,
            layer: (0..cfg.num_hidden_layers).map(|i| BertLayer::load(&layers.pp(i), cfg)).collect::<Result<_>>()?,
        })
    }

    /// The embedding output and every layer's output, as Hugging Face's `hidden_states`; only
    /// the last carries its tangent.
    pub fn forward(
        &self,
        ids: &Tensor,
        scales: &Dual,
        key_mask: Option<&Tensor>,
    ) -> candle_core::Result<(Vec<Tensor>, Dual)> {
        let mut x = self.embeddings.forward(ids, scales)?;
        let mut hidden_states = vec![x.x.clone()];
        for layer in &self.layer {
            x = layer.forward(&x, key_mask)?;
            hidden_states.push(x.x.clone());
        }
        Ok((hidden_states, x))
    }
}

/// `cls.predictions.transform`: dense, activation, `LayerNorm`.
#[derive(Debug, Clone)]
pub struct BertPredictionHeadTransform {
    pub dense: Linear,
    pub activation: Activation,
    pub layer_norm: LayerNorm,
}

impl BertPredictionHeadTransform {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(BertPredictionHeadTransform {
            dense: linear(&w.pp("dense"), cfg.hidden_size, cfg.hidden_size)?,
            activation: cfg.activation(),
            layer_norm: LayerNorm::load(&w.pp("LayerNorm"), cfg)?,
        })
    }

    pub fn forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        self.layer_norm.forward(&activate(self.activation, &self.dense.forward(x)?)?)
    }
}

/// `cls.predictions`: the transform, then the decoder onto the vocabulary, whose weight is the
/// word embedding when tied, and the bias `cls.predictions.bias`.
#[derive(Debug, Clone)]
pub struct BertLMPredictionHead {
    pub transform: BertPredictionHeadTransform,
    /// `(vocab, hidden)`.
    pub decoder_weight: Tensor,
    pub bias: Tensor,
}

impl BertLMPredictionHead {
    /// `word_embeddings` is the decoder weight of a tied checkpoint.
    pub fn load(w: &Weights, cfg: &Config, word_embeddings: &Tensor) -> Result<Self> {
        let (v, d) = (cfg.vocab_size, cfg.hidden_size);
        let decoder_weight = if cfg.tie_word_embeddings {
            word_embeddings.clone()
        } else if w.contains("decoder.weight") {
            w.get(&[v, d], "decoder.weight")?
        } else {
            return Err(Error::file(
                w.source(),
                format!(
                    "missing tensor `{}` (config `tie_word_embeddings` = false, so the decoder is not the word embedding)",
                    w.full_name("decoder.weight")
                ),
            ));
        };
        // Checkpoints from older transformers store the same bias a second time as
        // `decoder.bias`; newer ones only as `bias`.
        let bias = if !w.contains("bias") && w.contains("decoder.bias") {
            w.get(&[v], "decoder.bias")?
        } else {
            w.get(&[v], "bias")?
        };
        Ok(BertLMPredictionHead {
            transform: BertPredictionHeadTransform::load(&w.pp("transform"), cfg)?,
            decoder_weight,
            bias,
        })
    }

    /// MLM logits of the transformed hidden states `h`: `(cells, tokens, vocab)`.
    fn decode(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        Linear { weight: self.decoder_weight.clone(), bias: Some(self.bias.clone()) }
            .forward(&Dual::constant(h.clone()))
            .map(|d| d.x)
    }

    /// MLM logits of encoder outputs: `(cells, tokens, vocab)`.
    pub fn forward(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        self.decode(&self.transform.forward(&Dual::constant(hidden.clone()))?.x)
    }

    /// log softmax of the logits at each token's own id: `(cells, tokens)`.
    ///
    /// With z = h Wᵀ + b and p = softmax(z), the tangent of z_own − logsumexp(z) is
    /// ḣ·(W_own − pW): the logits' tangent ḣWᵀ is never formed, only p (vocab wide) once.
    pub fn own_log_probs(&self, hidden: &Dual, ids: &Tensor) -> candle_core::Result<Dual> {
        let h = self.transform.forward(hidden)?;
        let logits = self.decode(&h.x)?;
        let lse = dual::logsumexp_last_dim(&logits)?;
        let own = logits.gather(&ids.unsqueeze(2)?.contiguous()?, 2)?;
        let value = (own - &lse)?.squeeze(2)?;
        let t = match &h.t {
            None => None,
            Some(ht) => {
                let (b, l, v) = logits.dims3()?;
                let p = logits.broadcast_sub(&lse)?.exp()?;
                let expected = p.reshape((b * l, v))?.matmul(&self.decoder_weight)?.reshape((b, l, ()))?;
                let own_rows = self.decoder_weight.embedding(&ids.flatten_all()?.contiguous()?)?.reshape((b, l, ()))?;
                Some((own_rows - expected)?.mul(ht)?.sum(D::Minus1)?)
            }
        };
        Ok(Dual::new(value, t))
    }
}

/// What `BertForMaskedLM` returns for a batch.
#[derive(Debug, Clone)]
pub struct MaskedLmOutput {
    /// The embedding output, then each layer's output: `layers + 1` tensors `(cells, tokens, hidden)`.
    pub hidden_states: Vec<Tensor>,
    /// `(cells, tokens, vocab)`.
    pub logits: Tensor,
}

impl MaskedLmOutput {
    pub fn last_hidden_state(&self) -> &Tensor {
        self.hidden_states.last().expect("the embedding output is always there")
    }

    /// Geneformer's default cell embedding (`emb_layer = -1`): the mean over attended tokens
    /// of the second-to-last layer's output, `(cells, hidden)`. `attention_mask` as in
    /// [`BertForMaskedLM::forward`].
    pub fn cell_embeddings(&self, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let layer = &self.hidden_states[self.hidden_states.len() - 2];
        (|| {
            let (b, l, _) = layer.dims3()?;
            let weights = match attention_mask {
                Some(mask) => mask.to_dtype(layer.dtype())?,
                None => Tensor::ones((b, l), layer.dtype(), layer.device())?,
            };
            let summed = layer.broadcast_mul(&weights.unsqueeze(2)?)?.sum(1)?;
            summed.broadcast_div(&weights.sum_keepdim(1)?)
        })()
        .context("cell embeddings")
    }
}

/// A loaded `BertForMaskedLM`.
#[derive(Debug, Clone)]
pub struct BertForMaskedLM {
    pub config: Config,
    pub bert: BertModel,
    pub cls: BertLMPredictionHead,
    device: Device,
    dtype: DType,
}

impl BertForMaskedLM {
    /// Loads the checkpoint's model, refusing a weight file with tensors it does not read (other
    /// than the released tensors `KNOWN_UNUSED_PREFIXES` lists): those mean `config.json`
    /// describes another model.
    pub fn from_checkpoint(ckpt: &Checkpoint, device: &Device, dtype: DType) -> Result<Self> {
        let w = ckpt.weights(dtype, device)?;
        let model = Self::load(&w, ckpt.config.clone())?;
        let layers = LayerCount {
            prefix: "bert.encoder.layer",
            setting: "config `num_hidden_layers`",
            count: model.config.num_hidden_layers,
        };
        w.ensure_all_read(KNOWN_UNUSED_PREFIXES, layers)?;
        Ok(model)
    }

    /// Builds the model from any tensor source (a checkpoint, or tensors made in a test).
    pub fn load(w: &Weights, config: Config) -> Result<Self> {
        let bert = BertModel::load(&w.pp("bert"), &config)?;
        let cls = BertLMPredictionHead::load(&w.pp("cls.predictions"), &config, &bert.embeddings.word_embeddings)?;
        Ok(BertForMaskedLM { bert, cls, device: w.device().clone(), dtype: w.dtype(), config })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    fn check_ids(&self, ids: &Tensor) -> Result<(usize, usize)> {
        let (b, l) = ids
            .dims2()
            .map_err(|_| Error::invalid(format!("token ids of shape {:?}: expected (cells, tokens)", ids.dims())))?;
        if ids.dtype() != DType::U32 {
            return Err(Error::invalid(format!("token ids of dtype {:?}: expected u32", ids.dtype())));
        }
        if l > self.config.max_position_embeddings {
            return Err(Error::invalid(format!(
                "{l} tokens exceed the model's {} positions (config `max_position_embeddings`)",
                self.config.max_position_embeddings
            )));
        }
        if b * l > 0 {
            let max_id = ids.max_all().and_then(|m| m.to_scalar::<u32>()).context("checking token ids")?;
            if max_id as usize >= self.config.vocab_size {
                return Err(Error::invalid(format!(
                    "token id {max_id} is outside the vocabulary of {} tokens",
                    self.config.vocab_size
                )));
            }
        }
        Ok((b, l))
    }

    fn check_like(&self, what: &str, t: &Tensor, shape: (usize, usize), dtype: DType) -> Result<()> {
        if t.dims() != [shape.0, shape.1] || t.dtype() != dtype {
            return Err(Error::invalid(format!(
                "{what} {:?} {:?}: expected {:?} {dtype:?} like the token ids",
                t.dims(),
                t.dtype(),
                [shape.0, shape.1]
            )));
        }
        Ok(())
    }

    /// The additive key mask for a Hugging Face `attention_mask` (`(cells, tokens)`, 1 where
    /// attended, 0 at padding): `(cells, 1, 1, tokens)`.
    fn key_mask(&self, attention_mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l) = attention_mask.dims2()?;
        let blocked = Tensor::full(f32::NEG_INFINITY, (b, l), &self.device)?.to_dtype(self.dtype)?;
        let open = Tensor::zeros((b, l), self.dtype, &self.device)?;
        attention_mask.ne(0u8)?.where_cond(&open, &blocked)?.reshape((b, 1, 1, l))
    }

    fn ones(&self, shape: (usize, usize)) -> Result<Tensor> {
        Tensor::ones(shape, self.dtype, &self.device).context("scales")
    }

    /// Hugging Face's forward: `ids` `(cells, tokens)` u32, `attention_mask` u8 of that shape (1
    /// where attended) or `None` for all.
    pub fn forward(&self, ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<MaskedLmOutput> {
        let shape = self.check_ids(ids)?;
        if let Some(m) = attention_mask {
            self.check_like("attention mask", m, shape, DType::U8)?;
        }
        let scales = Dual::constant(self.ones(shape)?);
        (|| {
            let key_mask = attention_mask.map(|m| self.key_mask(m)).transpose()?;
            let (hidden_states, last) = self.bert.forward(ids, &scales, key_mask.as_ref())?;
            let logits = self.cls.forward(&last.x)?;
            Ok(MaskedLmOutput { hidden_states, logits })
        })()
        .context("BertForMaskedLM forward")
    }

    /// The readout: each token's log-probability of its own id, log softmax over the vocabulary
    /// of its MLM logits, with every word embedding scaled by `scales` (`(cells, tokens)`).
    /// With `tangent` (a direction in scale space, same shape) also its exact derivative along
    /// it. No padding: every token is attended.
    pub fn own_log_probs(
        &self,
        ids: &Tensor,
        scales: &Tensor,
        tangent: Option<&Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let shape = self.check_ids(ids)?;
        self.check_like("scales", scales, shape, self.dtype)?;
        if let Some(t) = tangent {
            self.check_like("tangent", t, shape, self.dtype)?;
        }
        (|| {
            let scales = Dual::new(scales.clone(), tangent.cloned());
            let (_, last) = self.bert.forward(ids, &scales, None)?;
            let out = self.cls.own_log_probs(&last, ids)?;
            Ok((out.x, out.t))
        })()
        .context("Geneformer readout")
    }

    /// Raw attention scores q·kᵀ (unscaled, pre-softmax) of encoder layer `layer` (0-based)
    /// over all tokens: `(cells, heads, tokens, tokens)`.
    pub fn attention_scores(&self, ids: &Tensor, scales: &Tensor, layer: usize) -> Result<Tensor> {
        let shape = self.check_ids(ids)?;
        self.check_like("scales", scales, shape, self.dtype)?;
        let layers = &self.bert.layer;
        if layer >= layers.len() {
            return Err(Error::invalid(format!("layer {layer} does not exist (the model has {})", layers.len())));
        }
        (|| {
            let mut x = self.bert.embeddings.forward(ids, &Dual::constant(scales.clone()))?;
            for l in &layers[..layer] {
                x = l.forward(&x, None)?;
            }
            layers[layer].attention.self_attention.raw_scores(&x.x)
        })()
        .context("Geneformer attention scores")
    }

    /// Word embeddings of `ids` (1-D u32): `(ids, hidden)`.
    pub fn word_embeddings(&self, ids: &Tensor) -> Result<Tensor> {
        let n =
            ids.dims1().map_err(|_| Error::invalid(format!("token ids of shape {:?}: expected a list", ids.dims())))?;
        if n > 0 {
            let max_id = ids.max_all().and_then(|m| m.to_scalar::<u32>()).context("checking token ids")?;
            if max_id as usize >= self.config.vocab_size {
                return Err(Error::invalid(format!(
                    "token id {max_id} is outside the vocabulary of {} tokens",
                    self.config.vocab_size
                )));
            }
        }
        self.bert.embeddings.words(ids).context("word embeddings")
    }
}
