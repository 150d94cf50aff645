//! How much a tiled `dataset` context changes VVP and GDT features, on BEELINE mDC (STRING,
//! TFs+1000), through ugrn-mini: its own 255-gene context (tiled) against the same weights with
//! `max_seq_len` 2048 (scGPT has no position embedding, so the longer model takes the whole
//! context in one cell and is untiled), and `pair` context for scale.
//!
//! `cargo run --release -p ugrn-probe-bench --example tiling -- [--sources K] [--probes vvp,gdt]`
//! - `--sources K`: the first K TFs in the vocabulary as sources (default 30), every vocabulary
//!   gene of the dataset a target.
//!
//! Env: `UGRN_BEELINE` (folder holding `benchmark_datasets/`, default the shared copy beside the
//! repository), `UGRN_MINI` (default `models/ugrn-mini`).
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ugrn_backbone_scgpt::ScGpt;
use ugrn_probe_gdt::Gdt;
use ugrn_probe_kit::ContextTiling;
use ugrn_probe_vvp::Vvp;
use ugrn_sdk::{
    AttentionMaps, Backbone, CellBatch, DatasetView, GeneSymbol, LoadRequest, Matrix, ModelInfo, ModelOracle,
    NoProgress, Pair, ParamValue, Params, Pass, Probe, ProbeRequest, Result, TokenId,
};

/// Cells per forward under this many bytes, as the host's batching does.
const BUDGET_BYTES: u64 = 1 << 30;

fn gz_column(path: &Path, column: usize) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", path.display()))[column].to_string())
        .collect()
}

/// The oracle with its batches split under [`BUDGET_BYTES`].
struct Budgeted(Box<dyn ModelOracle>);

impl Budgeted {
    fn batches(&self, cells: &CellBatch, pass: Pass) -> Vec<(usize, usize)> {
        let per = (BUDGET_BYTES / self.0.bytes_per_cell(cells.genes(), pass).max(1)).max(1) as usize;
        (0..cells.cells()).step_by(per).map(|s| (s, (s + per).min(cells.cells()))).collect()
    }
}

impl ModelOracle for Budgeted {
    fn info(&self) -> &ModelInfo {
        self.0.info()
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        self.0.token_ids(genes)
    }
    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        let parts = self.batches(cells, Pass::Readout).into_iter().map(|(s, e)| self.0.readout(&cells.slice(s, e)));
        Matrix::vstack(&parts.collect::<Result<Vec<_>>>()?)
    }
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        let parts = self
            .batches(cells, Pass::Derivative)
            .into_iter()
            .map(|(s, e)| self.0.readout_derivative(&cells.slice(s, e), &sources[s..e]));
        Matrix::vstack(&parts.collect::<Result<Vec<_>>>()?)
    }
    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        self.0.gene_embeddings(tokens)
    }
    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        self.0.attention_scores(cells, layer)
    }
    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        self.0.prepare_expression(context, expression)
    }
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        self.0.bytes_per_cell(genes, pass)
    }
}

fn load(dir: &Path) -> Budgeted {
    let request = LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    Budgeted(ScGpt.load(&request).unwrap_or_else(|e| panic!("loading {}: {e}", dir.display())))
}

fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut r = vec![0.0; xs.len()];
    for (rank, &i) in order.iter().enumerate() {
        r[i] = rank as f64;
    }
    r
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Pearson r, Spearman ρ and the median |a| / |b| over every feature value.
fn compare(a: &Matrix, b: &Matrix) -> String {
    let x: Vec<f64> = a.data.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = b.data.iter().map(|&v| v as f64).collect();
    let ratio = median(x.iter().zip(&y).filter(|(_, b)| **b != 0.0).map(|(a, b)| (a / b).abs()).collect());
    format!("{:.3} | {:.3} | {ratio:.2}", pearson(&x, &y), pearson(&ranks(&x), &ranks(&y)))
}

fn main() {
    let mut sources = 30usize;
    let mut probes = vec!["vvp".to_string(), "gdt".to_string()];
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sources" => sources = value.parse().expect("--sources K"),
            "--probes" => probes = value.split(',').map(str::to_string).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    let beeline = std::env::var_os("UGRN_BEELINE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/beeline"));
    let dir = beeline.join("benchmark_datasets/STRING Dataset/mDC/TFs+1000");
    let genes = gz_column(&dir.join("Target.csv.gz"), 1);
    let tfs = gz_column(&dir.join("TF.csv.gz"), 1);
    let mini = std::env::var_os("UGRN_MINI")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/ugrn-mini"));
    let long = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&mini).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), long.path().join(e.file_name())).unwrap();
        }
    }
    let args_file = long.path().join("args.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&args_file).unwrap()).unwrap();
    config["max_seq_len"] = 2048.into();
    std::fs::write(&args_file, config.to_string()).unwrap();
    let (tiled, untiled) = (load(&mini), load(long.path()));

    let known = tiled.token_ids(&genes);
    let in_vocabulary: Vec<usize> = (0..genes.len()).filter(|&g| known[g].is_some()).collect();
    let source_genes: Vec<usize> = tfs
        .iter()
        .filter_map(|tf| genes.iter().position(|g| g == tf))
        .filter(|&g| known[g].is_some())
        .take(sources)
        .collect();
    let pairs: Vec<Pair> =
        source_genes.iter().flat_map(|&s| in_vocabulary.iter().map(move |&t| Pair { source: s, target: t })).collect();
    let tiling = ContextTiling::new(in_vocabulary.len(), tiled.info().max_context).unwrap();
    println!(
        "mDC STRING TFs+1000: {} genes, {} in ugrn-mini's vocabulary; {} sources × every vocabulary gene = {} pairs; \
         tiled (max_context {}): {}; untiled: max_context {}; CPU, candle threads {}",
        genes.len(),
        in_vocabulary.len(),
        source_genes.len(),
        pairs.len(),
        tiled.info().max_context,
        tiling.describe(),
        untiled.info().max_context,
        candle_core::utils::get_num_threads()
    );
    println!(
        "\n| probe | compared with untiled | Pearson r | Spearman ρ | median \\|x\\| / \\|untiled\\| | seconds (untiled / x) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let all: [(&str, &dyn Probe); 2] = [("vvp", &Vvp), ("gdt", &Gdt)];
    for (name, probe) in all.into_iter().filter(|(n, _)| probes.iter().any(|p| p == n)) {
        let features = |oracle: &Budgeted, context: &str| {
            let given = [("context".to_string(), ParamValue::Str(context.into()))].into();
            let params = Params::resolve(&probe.describe().params, given).unwrap();
            let dataset = DatasetView { name: "mDC", genes: &genes, expression: None, expression_source: "none" };
            let start = Instant::now();
            let f =
                probe.features(&ProbeRequest { params: &params, dataset, pairs: &pairs }, oracle, &NoProgress).unwrap();
            (f.values, start.elapsed().as_secs_f64())
        };
        let (whole, whole_s) = features(&untiled, "dataset");
        for (label, oracle, context) in [("tiled dataset", &tiled, "dataset"), ("pair", &tiled, "pair")] {
            let (x, s) = features(oracle, context);
            println!("| {name} | {label} | {} | {whole_s:.0} / {s:.0} |", compare(&x, &whole));
        }
    }
}
