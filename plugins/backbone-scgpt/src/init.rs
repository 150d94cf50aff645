//! The model's parameters by checkpoint name, and how PyTorch initialises them: what pretraining
//! starts from and what a random checkpoint holds. The random numbers come from the caller, so
//! this crate needs no generator.
use candle_core::{Device, Tensor};

use crate::config::Config;

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Init {
    /// U(−bound, bound).
    Uniform(f64),
    Ones,
    Zeros,
}

/// A parameter: its tensor name in `model.safetensors`, shape and initialisation.
#[derive(Debug, Clone)]
pub struct ParamDef {
    pub name: String,
    pub shape: Vec<usize>,
    init: Init,
}

/// PyTorch's `nn.Linear` default: weight and bias U(±1/√fan_in).
fn linear(defs: &mut Vec<ParamDef>, prefix: &str, fan_in: usize, fan_out: usize, bias: bool) {
    let init = Init::Uniform(1.0 / (fan_in as f64).sqrt());
    defs.push(ParamDef { name: format!("{prefix}.weight"), shape: vec![fan_out, fan_in], init });
    if bias {
        defs.push(ParamDef { name: format!("{prefix}.bias"), shape: vec![fan_out], init });
    }
}

fn norm(defs: &mut Vec<ParamDef>, prefix: &str, dim: usize) {
    defs.push(ParamDef { name: format!("{prefix}.weight"), shape: vec![dim], init: Init::Ones });
    defs.push(ParamDef { name: format!("{prefix}.bias"), shape: vec![dim], init: Init::Zeros });
}

/// Every tensor [`crate::ScGptModel::new`] reads for `config`, sorted by name. Attention uses the
/// flash-attention names (`self_attn.Wqkv.*`) of the released checkpoints.
pub fn param_defs(config: &Config, vocab_len: usize) -> Vec<ParamDef> {
    let (d, f) = (config.embsize, config.d_hid);
    // scGPT's `init_weights` overrides the embedding's N(0, 1) with U(±0.1).
    let mut defs =
        vec![ParamDef { name: "encoder.embedding.weight".into(), shape: vec![vocab_len, d], init: Init::Uniform(0.1) }];
    norm(&mut defs, "encoder.enc_norm", d);
    linear(&mut defs, "value_encoder.linear1", 1, d, true);
    linear(&mut defs, "value_encoder.linear2", d, d, true);
    norm(&mut defs, "value_encoder.norm", d);
    for l in 0..config.nlayers {
        let p = format!("transformer_encoder.layers.{l}");
        linear(&mut defs, &format!("{p}.self_attn.Wqkv"), d, 3 * d, true);
        linear(&mut defs, &format!("{p}.self_attn.out_proj"), d, d, true);
        linear(&mut defs, &format!("{p}.linear1"), d, f, true);
        linear(&mut defs, &format!("{p}.linear2"), f, d, true);
        norm(&mut defs, &format!("{p}.norm1"), d);
        norm(&mut defs, &format!("{p}.norm2"), d);
    }
    linear(&mut defs, "decoder.fc.0", d, d, true);
    linear(&mut defs, "decoder.fc.2", d, d, true);
    linear(&mut defs, "decoder.fc.4", d, 1, true);
    if config.mvc {
        linear(&mut defs, "mvc_decoder.gene2query", d, d, true);
        linear(&mut defs, "mvc_decoder.W", d, d, false);
    }
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    defs
}

/// Initial tensors for `defs` on the CPU in f32: `uniform(bound)` draws each value of a
/// uniformly initialised parameter from [−bound, bound), in the (sorted) order given, so that a
/// seeded generator fixes every weight independently of candle's global one.
pub fn initial_tensors(defs: &[ParamDef], mut uniform: impl FnMut(f64) -> f64) -> candle_core::Result<Vec<Tensor>> {
    defs.iter()
        .map(|def| {
            let n: usize = def.shape.iter().product();
            let data: Vec<f32> = match def.init {
                Init::Uniform(bound) => (0..n).map(|_| uniform(bound) as f32).collect(),
                Init::Ones => vec![1.0; n],
                Init::Zeros => vec![0.0; n],
            };
            Tensor::from_vec(data, def.shape.as_slice(), &Device::Cpu)
        })
        .collect()
}
