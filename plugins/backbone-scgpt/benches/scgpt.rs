//! Load time, resident memory and oracle throughput (virtual cells/s) of the scGPT backbone, for
//! the fixture and for a model of scGPT whole-human's size with random weights.
//!
//! `cargo bench -p ugrn-backbone-scgpt` (env `UGRN_SCGPT_FIXTURE` for the fixture folder).
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use ugrn_backbone_scgpt::{DEFAULT_BACKGROUND, ScGpt, ScGptOracle};
use ugrn_sdk::{Backbone, CellBatch, LoadRequest, Matrix, ModelOracle, Params, Pass};

const CONTEXTS: [usize; 3] = [3, 512, 1200];

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

/// Resets the peak resident size (VmHWM) to the current one.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM through /proc/self/clear_refs");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

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

/// A checkpoint folder with scGPT whole-human's shapes (12 layers, 512 wide, 8 heads, d_hid
/// 512, 60697 tokens) and random weights.
fn write_whole_human_sized(dir: &Path) {
    let (d, f, layers, genes) = (512usize, 512usize, 12usize, 60694usize);
    let vocab_len = genes + 3;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tensor = |shape: &[usize], scale: f32, offset: f32| {
        let n = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| offset + scale * (2.0 * rng.uniform() - 1.0)).collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    };
    let w = 1.0 / (d as f32).sqrt();
    let mut t: HashMap<String, Tensor> = HashMap::new();
    t.insert("encoder.embedding.weight".into(), tensor(&[vocab_len, d], 0.1, 0.0));
    for norm in ["encoder.enc_norm", "value_encoder.norm"] {
        t.insert(format!("{norm}.weight"), tensor(&[d], 0.1, 1.0));
        t.insert(format!("{norm}.bias"), tensor(&[d], 0.1, 0.0));
    }
    t.insert("value_encoder.linear1.weight".into(), tensor(&[d, 1], 1.0, 0.0));
    t.insert("value_encoder.linear1.bias".into(), tensor(&[d], 1.0, 0.0));
    t.insert("value_encoder.linear2.weight".into(), tensor(&[d, d], w, 0.0));
    t.insert("value_encoder.linear2.bias".into(), tensor(&[d], w, 0.0));
    for i in 0..layers {
        let p = format!("transformer_encoder.layers.{i}");
        t.insert(format!("{p}.self_attn.Wqkv.weight"), tensor(&[3 * d, d], w, 0.0));
        t.insert(format!("{p}.self_attn.Wqkv.bias"), tensor(&[3 * d], w, 0.0));
        t.insert(format!("{p}.self_attn.out_proj.weight"), tensor(&[d, d], w, 0.0));
        t.insert(format!("{p}.self_attn.out_proj.bias"), tensor(&[d], w, 0.0));
        t.insert(format!("{p}.linear1.weight"), tensor(&[f, d], w, 0.0));
        t.insert(format!("{p}.linear1.bias"), tensor(&[f], w, 0.0));
        t.insert(format!("{p}.linear2.weight"), tensor(&[d, f], 1.0 / (f as f32).sqrt(), 0.0));
        t.insert(format!("{p}.linear2.bias"), tensor(&[d], w, 0.0));
        for norm in ["norm1", "norm2"] {
            t.insert(format!("{p}.{norm}.weight"), tensor(&[d], 0.1, 1.0));
            t.insert(format!("{p}.{norm}.bias"), tensor(&[d], 0.1, 0.0));
        }
    }
    for (i, out) in [(0, d), (2, d), (4, 1)] {
        t.insert(format!("decoder.fc.{i}.weight"), tensor(&[out, d], w, 0.0));
        t.insert(format!("decoder.fc.{i}.bias"), tensor(&[out], w, 0.0));
    }
    t.insert("mvc_decoder.gene2query.weight".into(), tensor(&[d, d], w, 0.0));
    t.insert("mvc_decoder.gene2query.bias".into(), tensor(&[d], w, 0.0));
    t.insert("mvc_decoder.W.weight".into(), tensor(&[d, d], w, 0.0));
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();

    let args = serde_json::json!({
        "embsize": d, "nheads": 8, "d_hid": f, "nlayers": layers, "n_bins": 51, "pad_token": "<pad>",
        "pad_value": -2, "mask_value": -1, "input_style": "binned", "input_emb_style": "continuous",
        "max_seq_len": 1200, "MVC": true, "fast_transformer": true,
    });
    std::fs::write(dir.join("args.json"), args.to_string()).unwrap();
    let mut vocab: BTreeMap<String, usize> = (0..genes).map(|i| (format!("GENE{i:05}"), i)).collect();
    for (k, special) in ["<pad>", "<cls>", "<eoc>"].into_iter().enumerate() {
        vocab.insert(special.into(), genes + k);
    }
    std::fs::write(dir.join("vocab.json"), serde_json::to_string(&vocab).unwrap()).unwrap();
}

fn load(dir: &Path) -> ScGptOracle {
    let request = LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    ScGpt.load_oracle(&request).unwrap()
}

/// Virtual cells over `genes` genes (the vocabulary's first ones, repeated where the vocabulary
/// is smaller), each with a different source raised to bin 20.
fn virtual_cells(genes: usize, vocab_genes: usize, cells: usize) -> (CellBatch, Vec<usize>) {
    let context: Vec<u32> = (0..genes).map(|i| (i % vocab_genes) as u32).collect();
    let mut values = Matrix::repeat_row(&vec![DEFAULT_BACKGROUND; genes], cells);
    let sources: Vec<usize> = (0..cells).map(|c| c % genes).collect();
    for (c, &s) in sources.iter().enumerate() {
        values.set(c, s, 20.0);
    }
    (CellBatch::shared(&context, values).unwrap(), sources)
}

/// Cells per timed call and repetitions, kept affordable on two cores.
fn plan(genes: usize, big: bool) -> (usize, usize) {
    match (genes, big) {
        (3, _) => (512, 5),
        (512, false) => (32, 5),
        (512, true) => (4, 3),
        (_, false) => (8, 5),
        (_, true) => (2, 3),
    }
}

fn bench(name: &str, dir: &Path, big: bool) {
    let rss_before = status_kib("VmRSS:");
    let start = Instant::now();
    let oracle = load(dir);
    let load_s = start.elapsed().as_secs_f64();
    let rss_loaded = status_kib("VmRSS:");
    println!(
        "\n### {name}\nload (with SHA-256 of the files): {load_s:.2} s; resident memory {:.0} MiB before load, {:.0} MiB after (+{:.0} MiB)",
        mib(rss_before),
        mib(rss_loaded),
        mib(rss_loaded.saturating_sub(rss_before))
    );
    println!(
        "\n| context | cells/call | readout cells/s | derivative cells/s | peak extra MiB/cell (readout, derivative) | estimate MiB/cell (readout, derivative) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for genes in CONTEXTS {
        let (cells, reps) = plan(genes, big);
        // The vocabulary ends with `<pad>`, `<cls>` and `<eoc>`.
        let (batch, sources) = virtual_cells(genes, oracle.info().vocabulary - 3, cells);
        let measure = |derivative: bool| -> (f64, f64) {
            let base = status_kib("VmRSS:");
            reset_peak();
            let mut times = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                let out = if derivative { oracle.readout_derivative(&batch, &sources) } else { oracle.readout(&batch) };
                assert_eq!(out.unwrap().rows, cells);
                times.push(t.elapsed().as_secs_f64());
            }
            let peak = status_kib("VmHWM:").saturating_sub(base);
            (cells as f64 / median(times), mib(peak) / cells as f64)
        };
        let (readout, readout_mem) = measure(false);
        let (derivative, derivative_mem) = measure(true);
        let estimate = |pass| oracle.bytes_per_cell(genes, pass) as f64 / (1024.0 * 1024.0);
        println!(
            "| {genes} | {cells} | {readout:.1} | {derivative:.1} | {readout_mem:.2}, {derivative_mem:.2} | {:.2}, {:.2} |",
            estimate(Pass::Readout),
            estimate(Pass::Derivative)
        );
    }
}

fn fixture_dir() -> PathBuf {
    let path = std::env::var_os("UGRN_SCGPT_FIXTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/scgpt-tiny")));
    assert!(path.is_dir(), "scGPT fixture folder {} not found: set UGRN_SCGPT_FIXTURE", path.display());
    path
}

/// Benchmarks one checkpoint folder in a fresh process, so that its resident memory is not
/// mixed with what this process allocated before (the allocator keeps freed memory).
fn bench_in_child(name: &str, dir: &Path, big: bool) {
    let status = std::process::Command::new(std::env::current_exe().expect("bench executable"))
        .args([CHILD_FLAG, name, &dir.display().to_string(), if big { "big" } else { "small" }])
        .status()
        .expect("starting the bench child process");
    assert!(status.success(), "benchmark of {name} failed");
}

const CHILD_FLAG: &str = "--checkpoint";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        bench(&args[i + 1], Path::new(&args[i + 2]), args[i + 3] == "big");
        return;
    }
    println!(
        "candle threads: {}; medians over repetitions; virtual cells = <cls> + context genes at bin {DEFAULT_BACKGROUND}, one source at 20",
        candle_core::utils::get_num_threads()
    );
    bench_in_child("fixture (scgpt-tiny: 2 layers, 32 wide, 4 heads)", &fixture_dir(), false);
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    write_whole_human_sized(tmp.path());
    println!("\n(random whole-human-sized checkpoint written in {:.1} s)", start.elapsed().as_secs_f64());
    bench_in_child(
        "whole-human size (12 layers, 512 wide, 8 heads, d_hid 512, 60697 tokens), random weights",
        tmp.path(),
        true,
    );
}
