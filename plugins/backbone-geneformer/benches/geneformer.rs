//! Load time and oracle throughput of the Geneformer backbone for a model of Geneformer V1's
//! size (`gf-6L-30M-i2048`: 6 layers, 256 wide, 4 heads, 25 426 tokens) with random weights and
//! the real dictionaries.
//!
//! `cargo bench -p ugrn-backbone-geneformer` (env `UGRN_GENEFORMER_DICTIONARIES` for the folder
//! of `token_dictionary.pkl` and `gene_median_dictionary.pkl`).
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use ugrn_backbone_geneformer::{DEFAULT_BACKGROUND, Geneformer};
use ugrn_sdk::{Backbone, CellBatch, LoadRequest, Matrix, ModelOracle, Params};

const CONTEXTS: [usize; 3] = [2, 512, 1200];
const CELLS: usize = 4;

/// xorshift, so the random model is the same on every run.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn dictionaries_dir() -> PathBuf {
    std::env::var_os("UGRN_GENEFORMER_DICTIONARIES").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/geneformer-v1-tokenizer-data"))
    })
}

fn random(rng: &mut Rng, shape: &[usize], scale: f32, offset: f32) -> Tensor {
    let n = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| offset + scale * (2.0 * rng.uniform() - 1.0)).collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

/// A checkpoint folder with Geneformer V1 6L's config, random weights and the real dictionaries.
fn write_v1_sized(dir: &Path) {
    let source = dictionaries_dir();
    std::fs::copy(source.join("config_gf-6L-30M-i2048.json"), dir.join("config.json")).unwrap();
    for file in ["token_dictionary.pkl", "gene_median_dictionary.pkl"] {
        std::fs::copy(source.join(file), dir.join(file)).unwrap();
    }
    let (d, f, layers, vocab, positions) = (256usize, 512usize, 6usize, 25426usize, 2048usize);
    let rng = &mut Rng(0x9e37_79b9_7f4a_7c15);
    let w = 1.0 / (d as f32).sqrt();
    let mut t: HashMap<String, Tensor> = HashMap::new();
    let dense = |t: &mut HashMap<String, Tensor>, rng: &mut Rng, name: String, i: usize, o: usize| {
        t.insert(format!("{name}.weight"), random(rng, &[o, i], 1.0 / (i as f32).sqrt(), 0.0));
        t.insert(format!("{name}.bias"), random(rng, &[o], 0.02, 0.0));
    };
    let mut norms = vec!["bert.embeddings.LayerNorm".to_string(), "cls.predictions.transform.LayerNorm".to_string()];
    dense(&mut t, rng, "cls.predictions.transform.dense".into(), d, d);
    for i in 0..layers {
        let p = format!("bert.encoder.layer.{i}");
        for qkv in ["query", "key", "value"] {
            dense(&mut t, rng, format!("{p}.attention.self.{qkv}"), d, d);
        }
        dense(&mut t, rng, format!("{p}.attention.output.dense"), d, d);
        dense(&mut t, rng, format!("{p}.intermediate.dense"), d, f);
        dense(&mut t, rng, format!("{p}.output.dense"), f, d);
        norms.push(format!("{p}.attention.output.LayerNorm"));
        norms.push(format!("{p}.output.LayerNorm"));
    }
    for norm in norms {
        t.insert(format!("{norm}.weight"), random(rng, &[d], 0.1, 1.0));
        t.insert(format!("{norm}.bias"), random(rng, &[d], 0.1, 0.0));
    }
    t.insert("bert.embeddings.word_embeddings.weight".into(), random(rng, &[vocab, d], w, 0.0));
    t.insert("bert.embeddings.position_embeddings.weight".into(), random(rng, &[positions, d], w, 0.0));
    t.insert("bert.embeddings.token_type_embeddings.weight".into(), random(rng, &[2, d], w, 0.0));
    t.insert("cls.predictions.bias".into(), random(rng, &[vocab], 0.02, 0.0));
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("ugrn-geneformer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    write_v1_sized(&tmp);
    let params = Params::resolve(&Geneformer.describe().params, BTreeMap::new()).unwrap();
    let start = Instant::now();
    let oracle = Geneformer
        .load_oracle(&LoadRequest { checkpoint: tmp.clone(), device: "cpu".into(), dtype: "f32".into(), params })
        .unwrap();
    println!("load (weights, config, .pkl dictionaries): {:.2} s", start.elapsed().as_secs_f64());
    println!("| genes | readout cells/s | derivative cells/s |");
    println!("|---:|---:|---:|");
    for genes in CONTEXTS {
        let context: Vec<u32> = (0..genes as u32).map(|i| 2 + 7 * i).collect();
        let cells = CellBatch::shared(&context, Matrix::repeat_row(&vec![DEFAULT_BACKGROUND; genes], CELLS)).unwrap();
        let sources: Vec<usize> = (0..CELLS).map(|c| c % genes).collect();
        oracle.readout(&cells).unwrap();
        let start = Instant::now();
        oracle.readout(&cells).unwrap();
        let readout = CELLS as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        oracle.readout_derivative(&cells, &sources).unwrap();
        let derivative = CELLS as f64 / start.elapsed().as_secs_f64();
        println!("| {genes} | {readout:.1} | {derivative:.1} |");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
