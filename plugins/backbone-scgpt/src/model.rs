//! scGPT's `TransformerModel` (scGPT 0.2.4, `scgpt/model/model.py`) with continuous value
//! encoding, the `<cls>` cell embedding and the inner-product MVC decoder, in eval mode.
//!
//! One struct per PyTorch module, with the checkpoint's tensor names. Every forward takes a
//! [`Dual`], so the same code computes values and, when a tangent rides along, their exact
//! derivative along one input direction.
use candle_core::{D, DType, Device, Tensor};
use ugrn_candle_shared::checkpoint::LayerCount;
use ugrn_candle_shared::{Context, kernels};
use ugrn_sdk::{Error, Result};

use crate::checkpoint::{Checkpoint, KNOWN_UNUSED_PREFIXES, Weights};
use crate::config::{Config, LAYER_NORM_EPS};
use crate::dual::{self, Dual, Linear};
use crate::vocab::{CLS_TOKEN, Vocab};

/// scGPT clamps input values to this before encoding them (`ContinuousValueEncoder.max_value`).
pub const VALUE_CLAMP_MAX: f64 = 512.0;
/// `nn.LeakyReLU()`'s default slope, used by the expression decoder.
const LEAKY_RELU_SLOPE: f64 = 0.01;
/// Where the encoder layers' tensors are: `transformer_encoder.layers.N.…`.
const LAYERS_PREFIX: &str = "transformer_encoder.layers";

fn linear(w: &Weights, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    Ok(Linear {
        weight: w.get(&[out_dim, in_dim], "weight")?,
        bias: if bias { Some(w.get(&[out_dim], "bias")?) } else { None },
    })
}

/// `nn.LayerNorm` (eps 1e-5) as stored: `weight` and `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNorm {
    pub fn load(w: &Weights, dim: usize) -> Result<Self> {
        Ok(LayerNorm { weight: w.get(&[dim], "weight")?, bias: w.get(&[dim], "bias")? })
    }

    pub fn forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        dual::layer_norm(x, &self.weight, &self.bias, LAYER_NORM_EPS)
    }
}

/// `encoder`: token embedding followed by `enc_norm`.
#[derive(Debug, Clone)]
pub struct GeneEncoder {
    pub embedding: Tensor,
    pub enc_norm: LayerNorm,
}

impl GeneEncoder {
    pub fn load(w: &Weights, cfg: &Config, vocab_len: usize) -> Result<Self> {
        Ok(GeneEncoder {
            embedding: w.pp("embedding").get(&[vocab_len, cfg.embsize], "weight")?,
            enc_norm: LayerNorm::load(&w.pp("enc_norm"), cfg.embsize)?,
        })
    }

    /// `ids`: any shape of u32 token ids; returns that shape × `embsize`.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let mut dims = ids.dims().to_vec();
        let rows = self.embedding.embedding(&ids.flatten_all()?)?;
        dims.push(rows.dim(1)?);
        Ok(self.enc_norm.forward(&Dual::constant(rows.reshape(dims)?))?.x)
    }
}

/// `value_encoder`: clamp to 512, `linear1` (1 → d), ReLU, `linear2`, `norm`.
#[derive(Debug, Clone)]
pub struct ContinuousValueEncoder {
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm: LayerNorm,
}

impl ContinuousValueEncoder {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(ContinuousValueEncoder {
            linear1: linear(&w.pp("linear1"), 1, cfg.embsize, true)?,
            linear2: linear(&w.pp("linear2"), cfg.embsize, cfg.embsize, true)?,
            norm: LayerNorm::load(&w.pp("norm"), cfg.embsize)?,
        })
    }

    /// `values`: `(cells, tokens)`; returns `(cells, tokens, embsize)`.
    pub fn forward(&self, values: &Dual) -> candle_core::Result<Dual> {
        // Where the clamp is active the value no longer moves the output (PyTorch passes the
        // gradient at the bound itself).
        let t = match &values.t {
            Some(t) => Some((t * values.x.le(VALUE_CLAMP_MAX)?.to_dtype(t.dtype())?)?),
            None => None,
        };
        let x = Dual::new(values.x.minimum(VALUE_CLAMP_MAX)?, t).map(|v| v.unsqueeze(D::Minus1))?;
        let h = dual::relu(&self.linear1.forward(&x)?)?;
        self.norm.forward(&self.linear2.forward(&h)?)
    }
}

/// `self_attn`: multi-head attention with q, k and v stacked in one projection, stored either
/// as flash-attention's `Wqkv.{weight,bias}` or PyTorch's `in_proj_{weight,bias}`.
#[derive(Debug, Clone)]
pub struct SelfAttention {
    pub wqkv: Linear,
    pub out_proj: Linear,
    pub nheads: usize,
}

impl SelfAttention {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.embsize;
        // Released checkpoints use the flash-attention names, so a missing tensor is reported
        // under those.
        let wqkv = if w.contains("in_proj_weight") && !w.contains("Wqkv.weight") {
            Linear { weight: w.get(&[3 * d, d], "in_proj_weight")?, bias: Some(w.get(&[3 * d], "in_proj_bias")?) }
        } else {
            linear(&w.pp("Wqkv"), d, 3 * d, true)?
        };
        Ok(SelfAttention { wqkv, out_proj: linear(&w.pp("out_proj"), d, d, true)?, nheads: cfg.nheads })
    }

    /// q, k and v as `(cells, heads, tokens, head_dim)`, from the stacked projection `qkv`.
    fn split_heads(&self, qkv: &Dual) -> candle_core::Result<[Dual; 3]> {
        let (b, l, three_d) = qkv.x.dims3()?;
        let d = three_d / 3;
        let head = |i: usize| {
            qkv.map(|t| {
                t.narrow(2, i * d, d)?.reshape((b, l, self.nheads, d / self.nheads))?.transpose(1, 2)?.contiguous()
            })
        };
        Ok([head(0)?, head(1)?, head(2)?])
    }

    /// Raw attention scores q·kᵀ (unscaled, pre-softmax): `(cells, heads, tokens, tokens)`.
    pub fn raw_scores(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let [q, k, _] = self.split_heads(&self.wqkv.forward(&Dual::constant(x.clone()))?)?;
        q.x.matmul(&k.x.t()?)
    }

    /// `key_mask`: `(cells, 1, 1, tokens)`, 0 for real tokens and −∞ for padding.
    pub fn forward(&self, x: &Dual, key_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        let qkv = self.wqkv.forward(x)?;
        // Inference in f32 on the CPU: one (cell, head) at a time, q, k and v read in place. The
        // kernel builds no autograd graph, so it is taken only where nothing upstream (input or
        // projection weights) is tracked.
        if kernels::applies(&qkv.x) && !qkv.x.track_op() && qkv.t.as_ref().is_none_or(|t| !t.track_op()) {
            let (b, l, _) = qkv.x.dims3()?;
            let mask = key_mask.map(|m| m.reshape((b, l))).transpose()?;
            let (out, out_t) = kernels::attention(&qkv.x, qkv.t.as_ref(), self.nheads, mask.as_ref())?;
            return self.out_proj.forward(&Dual::new(out, out_t));
        }
        let [q, k, v] = self.split_heads(&qkv)?;
        let (b, h, l, hd) = q.x.dims4()?;
        // Scaling q (tokens × head_dim) is cheaper than scaling the tokens² scores.
        let q = q.map(|t| t * (1.0 / (hd as f64).sqrt()))?;
        let scores = q.x.matmul(&k.x.t()?)?;
        let scores = match key_mask {
            Some(mask) => scores.broadcast_add(mask)?,
            None => scores,
        };
        // ṡ = q̇ kᵀ + q k̇ᵀ, as one product [q̇ q]·[k k̇]ᵀ when both move.
        let scores_t = match (&q.t, &k.t) {
            (Some(qt), Some(kt)) => {
                Some(Tensor::cat(&[qt, &q.x], D::Minus1)?.matmul(&Tensor::cat(&[&k.x, kt], D::Minus1)?.t()?)?)
            }
            (Some(qt), None) => Some(qt.matmul(&k.x.t()?)?),
            (None, Some(kt)) => Some(q.x.matmul(&kt.t()?)?),
            (None, None) => None,
        };
        let p = dual::softmax_last_dim(&Dual::new(scores, scores_t))?;
        // ȯ = ṗ v + p v̇
        let out = p.x.matmul(&v.x)?;
        let out_t = match (&p.t, &v.t) {
            (Some(pt), Some(vt)) => Some((pt.matmul(&v.x)? + p.x.matmul(vt)?)?),
            (Some(pt), None) => Some(pt.matmul(&v.x)?),
            (None, Some(vt)) => Some(p.x.matmul(vt)?),
            (None, None) => None,
        };
        let merged = Dual::new(out, out_t).map(|t| t.transpose(1, 2)?.reshape((b, l, h * hd)))?;
        self.out_proj.forward(&merged)
    }
}

/// One `transformer_encoder.layers.N`: attention and a ReLU feed-forward, each with a residual
/// connection and LayerNorm (post-norm as PyTorch, or scGPT's pre-norm variant).
#[derive(Debug, Clone)]
pub struct TransformerEncoderLayer {
    pub self_attn: SelfAttention,
    pub linear1: Linear,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub pre_norm: bool,
}

impl TransformerEncoderLayer {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        Ok(TransformerEncoderLayer {
            self_attn: SelfAttention::load(&w.pp("self_attn"), cfg)?,
            linear1: linear(&w.pp("linear1"), cfg.embsize, cfg.d_hid, true)?,
            linear2: linear(&w.pp("linear2"), cfg.d_hid, cfg.embsize, true)?,
            norm1: LayerNorm::load(&w.pp("norm1"), cfg.embsize)?,
            norm2: LayerNorm::load(&w.pp("norm2"), cfg.embsize)?,
            pre_norm: cfg.is_pre_norm(),
        })
    }

    fn feed_forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        self.linear2.forward(&dual::relu(&self.linear1.forward(x)?)?)
    }

    pub fn forward(&self, x: &Dual, key_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        if self.pre_norm {
            // scGPT's FlashTransformerEncoderLayer "pre" scheme: the residual is taken after
            // the norm, unlike the textbook pre-norm layer.
            let x = self.norm1.forward(x)?;
            let x = x.add(&self.self_attn.forward(&x, key_mask)?)?;
            let x = self.norm2.forward(&x)?;
            x.add(&self.feed_forward(&x)?)
        } else {
            let x = self.norm1.forward(&x.add(&self.self_attn.forward(x, key_mask)?)?)?;
            self.norm2.forward(&x.add(&self.feed_forward(&x)?)?)
        }
    }

    /// What the attention of this layer is applied to, given the layer input.
    fn attention_input(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.pre_norm { Ok(self.norm1.forward(&Dual::constant(x.clone()))?.x) } else { Ok(x.clone()) }
    }
}

/// `decoder`: `fc` = Linear, LeakyReLU, Linear, LeakyReLU, Linear(d → 1).
#[derive(Debug, Clone)]
pub struct ExprDecoder {
    pub fc: [Linear; 3],
}

impl ExprDecoder {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.embsize;
        let fc = w.pp("fc");
        Ok(ExprDecoder {
            fc: [linear(&fc.pp(0), d, d, true)?, linear(&fc.pp(2), d, d, true)?, linear(&fc.pp(4), d, 1, true)?],
        })
    }

    /// `(cells, tokens, d)` → `(cells, tokens)`.
    pub fn forward(&self, x: &Dual) -> candle_core::Result<Dual> {
        let h = dual::leaky_relu(&self.fc[0].forward(x)?, LEAKY_RELU_SLOPE)?;
        let h = dual::leaky_relu(&self.fc[1].forward(&h)?, LEAKY_RELU_SLOPE)?;
        self.fc[2].forward(&h)?.map(|t| t.squeeze(D::Minus1))
    }
}

/// `mvc_decoder` ("inner product"): pred_j = W(σ(gene2query(gene_emb_j))) · cell_emb.
#[derive(Debug, Clone)]
#[allow(non_snake_case)]
pub struct MVCDecoder {
    pub gene2query: Linear,
    pub W: Linear,
}

impl MVCDecoder {
    pub fn load(w: &Weights, cfg: &Config) -> Result<Self> {
        let d = cfg.embsize;
        Ok(MVCDecoder { gene2query: linear(&w.pp("gene2query"), d, d, true)?, W: linear(&w.pp("W"), d, d, false)? })
    }

    /// `cell_emb`: `(cells, d)`, `gene_embs`: `(cells, tokens, d)` → `(cells, tokens)`.
    pub fn forward(&self, cell_emb: &Tensor, gene_embs: &Tensor) -> candle_core::Result<Tensor> {
        let query = candle_nn::ops::sigmoid(&self.gene2query.forward(&Dual::constant(gene_embs.clone()))?.x)?;
        let projected = self.W.forward(&Dual::constant(query))?.x;
        projected.matmul(&cell_emb.unsqueeze(2)?)?.squeeze(2)
    }
}

/// Everything one forward pass gives, per token (`<cls>` at position 0).
#[derive(Debug, Clone)]
pub struct ScGptOutput {
    /// Expression decoder output, `(cells, tokens)`: the readout.
    pub mlm_output: Tensor,
    /// Encoder output at `<cls>`, `(cells, embsize)`.
    pub cell_emb: Tensor,
    /// MVC decoder output, `(cells, tokens)`; `None` when the checkpoint has no MVC decoder.
    pub mvc_output: Option<Tensor>,
    /// Transformer encoder output, `(cells, tokens, embsize)`, zero at padding.
    pub encoder_output: Tensor,
    /// `encoder(ids)`: gene token embeddings after `enc_norm`, `(cells, tokens, embsize)`.
    pub gene_embs: Tensor,
}

/// A loaded scGPT model.
#[derive(Debug, Clone)]
pub struct ScGptModel {
    pub config: Config,
    pub vocab: Vocab,
    pub encoder: GeneEncoder,
    pub value_encoder: ContinuousValueEncoder,
    pub layers: Vec<TransformerEncoderLayer>,
    pub decoder: ExprDecoder,
    pub mvc_decoder: Option<MVCDecoder>,
    cls_id: u32,
    device: Device,
    dtype: DType,
}

impl ScGptModel {
    /// Loads the checkpoint folder `dir` (safetensors preferred over `best_model.pt`).
    pub fn load(dir: &std::path::Path, device: &Device, dtype: DType) -> Result<Self> {
        Self::from_checkpoint(&Checkpoint::open(dir, Default::default())?, device, dtype)
    }

    /// Loads the checkpoint's model, refusing a weight file with tensors it does not read (other
    /// than the released tensors `KNOWN_UNUSED_PREFIXES` lists): those mean `args.json` describes
    /// another model.
    pub fn from_checkpoint(ckpt: &Checkpoint, device: &Device, dtype: DType) -> Result<Self> {
        let w = ckpt.weights(dtype, device)?;
        let model = Self::new(&w, ckpt.config.clone(), ckpt.vocab.clone())?;
        let layers = LayerCount { prefix: LAYERS_PREFIX, setting: "option `nlayers`", count: model.config.nlayers };
        w.ensure_all_read(KNOWN_UNUSED_PREFIXES, layers)?;
        Ok(model)
    }

    /// Builds the model from any tensor source (a checkpoint, or e.g. `Var`s for training).
    pub fn new(w: &Weights, config: Config, vocab: Vocab) -> Result<Self> {
        let cls_id = vocab
            .special(CLS_TOKEN)
            .ok_or_else(|| Error::file(w.source(), format!("the vocabulary has no `{CLS_TOKEN}` token")))?;
        if vocab.special(&config.pad_token).is_none() {
            return Err(Error::file(
                w.source(),
                format!("the vocabulary has no pad token {:?} (option `pad_token`)", config.pad_token),
            ));
        }
        let layers = (0..config.nlayers)
            .map(|i| TransformerEncoderLayer::load(&w.pp(LAYERS_PREFIX).pp(i), &config))
            .collect::<Result<Vec<_>>>()?;
        Ok(ScGptModel {
            encoder: GeneEncoder::load(&w.pp("encoder"), &config, vocab.len())?,
            value_encoder: ContinuousValueEncoder::load(&w.pp("value_encoder"), &config)?,
            layers,
            decoder: ExprDecoder::load(&w.pp("decoder"), &config)?,
            mvc_decoder: if config.mvc { Some(MVCDecoder::load(&w.pp("mvc_decoder"), &config)?) } else { None },
            cls_id,
            device: w.device().clone(),
            dtype: w.dtype(),
            config,
            vocab,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Token id of `<cls>`.
    pub fn cls_id(&self) -> u32 {
        self.cls_id
    }

    /// The additive attention mask for `padding_mask` (`(cells, tokens)`, nonzero at padding).
    fn key_mask(&self, padding_mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l) = padding_mask.dims2()?;
        let blocked = Tensor::full(f32::NEG_INFINITY, (b, l), &self.device)?.to_dtype(self.dtype)?;
        let open = Tensor::zeros((b, l), self.dtype, &self.device)?;
        padding_mask.ne(0u8)?.where_cond(&blocked, &open)?.reshape((b, 1, 1, l))
    }

    /// The transformer encoder on `gene_embs + value_encoder(values)`; padded positions come out
    /// as zeros, as PyTorch's `TransformerEncoder` returns them.
    fn encode(&self, gene_embs: &Tensor, values: &Dual, padding_mask: Option<&Tensor>) -> candle_core::Result<Dual> {
        let mut x = Dual::constant(gene_embs.clone()).add(&self.value_encoder.forward(values)?)?;
        let key_mask = padding_mask.map(|m| self.key_mask(m)).transpose()?;
        for layer in &self.layers {
            x = layer.forward(&x, key_mask.as_ref())?;
        }
        match padding_mask {
            Some(mask) => {
                let keep = mask.eq(0u8)?.to_dtype(self.dtype)?.unsqueeze(2)?;
                x.map(|t| t.broadcast_mul(&keep))
            }
            None => Ok(x),
        }
    }

    fn check_inputs(&self, gene_ids: &Tensor, values: &Tensor, padding_mask: Option<&Tensor>) -> Result<()> {
        let shape = gene_ids.dims();
        let ok = shape.len() == 2
            && values.dims() == shape
            && padding_mask.is_none_or(|m| m.dims() == shape && m.dtype() == DType::U8)
            && gene_ids.dtype() == DType::U32
            && values.dtype() == self.dtype;
        if !ok {
            return Err(Error::invalid(format!(
                "gene ids {:?} {:?}, values {:?} {:?} and padding mask {:?}: expected (cells, tokens) u32 ids, {:?} values and a u8 mask of the same shape",
                shape,
                gene_ids.dtype(),
                values.dims(),
                values.dtype(),
                padding_mask.map(|m| (m.dims().to_vec(), m.dtype())),
                self.dtype,
            )));
        }
        let max_id = gene_ids.max_all().and_then(|m| m.to_scalar::<u32>()).context("checking token ids")?;
        if max_id as usize >= self.vocab.len() {
            return Err(Error::invalid(format!(
                "token id {max_id} is outside the vocabulary of {} tokens",
                self.vocab.len()
            )));
        }
        Ok(())
    }

    /// scGPT's forward pass: `gene_ids` `(cells, tokens)` u32 with `<cls>` first, `values` of
    /// the model dtype (binned, `<cls>` at 0), `padding_mask` u8, nonzero at padding.
    pub fn forward(&self, gene_ids: &Tensor, values: &Tensor, padding_mask: Option<&Tensor>) -> Result<ScGptOutput> {
        self.check_inputs(gene_ids, values, padding_mask)?;
        (|| {
            let gene_embs = self.encoder.forward(gene_ids)?;
            let encoder_output = self.encode(&gene_embs, &Dual::constant(values.clone()), padding_mask)?.x;
            let mlm_output = self.decoder.forward(&Dual::constant(encoder_output.clone()))?.x;
            let cell_emb = encoder_output.narrow(1, 0, 1)?.squeeze(1)?;
            let mvc_output = self.mvc_decoder.as_ref().map(|m| m.forward(&cell_emb, &gene_embs)).transpose()?;
            Ok(ScGptOutput { mlm_output, cell_emb, mvc_output, encoder_output, gene_embs })
        })()
        .context("scGPT forward")
    }

    /// The readout alone (`mlm_output`, `(cells, tokens)`), skipping the MVC decoder.
    pub fn readout(&self, gene_ids: &Tensor, values: &Tensor, padding_mask: Option<&Tensor>) -> Result<Tensor> {
        self.check_inputs(gene_ids, values, padding_mask)?;
        (|| {
            let gene_embs = self.encoder.forward(gene_ids)?;
            let encoded = self.encode(&gene_embs, &Dual::constant(values.clone()), padding_mask)?;
            Ok(self.decoder.forward(&encoded)?.x)
        })()
        .context("scGPT readout")
    }

    /// The readout `mlm_output` and its exact derivative along `tangent` (same shape as
    /// `values`): ∂mlm_output / ∂values · tangent, in one forward pass.
    pub fn forward_with_tangent(
        &self,
        gene_ids: &Tensor,
        values: &Tensor,
        tangent: &Tensor,
        padding_mask: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        self.check_inputs(gene_ids, values, padding_mask)?;
        if tangent.dims() != values.dims() || tangent.dtype() != self.dtype {
            return Err(Error::invalid(format!(
                "tangent {:?} {:?} for values {:?} {:?}",
                tangent.dims(),
                tangent.dtype(),
                values.dims(),
                self.dtype
            )));
        }
        (|| {
            let gene_embs = self.encoder.forward(gene_ids)?;
            let encoded = self.encode(&gene_embs, &Dual::new(values.clone(), Some(tangent.clone())), padding_mask)?;
            let out = self.decoder.forward(&encoded)?;
            let derivative = match out.t {
                Some(t) => t,
                None => out.x.zeros_like()?,
            };
            Ok((out.x, derivative))
        })()
        .context("scGPT forward with tangent")
    }

    /// Raw attention scores q·kᵀ (unscaled, pre-softmax, as scGPT's attention-GRN tutorial
    /// takes them) of encoder layer `layer`, over all tokens: `(cells, heads, tokens, tokens)`.
    pub fn attention_scores(&self, gene_ids: &Tensor, values: &Tensor, layer: usize) -> Result<Tensor> {
        self.check_inputs(gene_ids, values, None)?;
        if layer >= self.layers.len() {
            return Err(Error::invalid(format!("layer {layer} does not exist (the model has {})", self.layers.len())));
        }
        (|| {
            let gene_embs = self.encoder.forward(gene_ids)?;
            let mut x = Dual::constant(gene_embs).add(&self.value_encoder.forward(&Dual::constant(values.clone()))?)?;
            for l in &self.layers[..layer] {
                x = l.forward(&x, None)?;
            }
            let target = &self.layers[layer];
            target.self_attn.raw_scores(&target.attention_input(&x.x)?)
        })()
        .context("scGPT attention scores")
    }

    /// `encoder(ids)`: gene embeddings after `enc_norm`, `(ids, embsize)`.
    pub fn gene_embeddings(&self, ids: &Tensor) -> Result<Tensor> {
        let max_id = ids.max_all().and_then(|m| m.to_scalar::<u32>()).context("checking token ids")?;
        if max_id as usize >= self.vocab.len() {
            return Err(Error::invalid(format!(
                "token id {max_id} is outside the vocabulary of {} tokens",
                self.vocab.len()
            )));
        }
        self.encoder.forward(ids).context("scGPT gene embeddings")
    }
}
