//! Pairs per second of the five probes, in both contexts, on BEELINE hESC (STRING, TFs+500)
//! pairs through an scGPT-architecture model.
//!
//! `cargo bench -p ugrn-probe-bench --bench probes -- [--model M] [--runs N] [--sources K] [--contexts C]
//!  [--pairs P] [--probes L] [--device D] [--dtype T] [--budget-mib B]`
//! - `--model fixture` (default): the scGPT fixture (`UGRN_SCGPT_FIXTURE`, default the shared
//!   `scgpt-tiny`); `whole-human`: scGPT whole-human's `args.json` and vocabulary
//!   (`UGRN_SCGPT_WHOLE_HUMAN`, default the shared `scgpt-whole-human-vocab`) with seeded random
//!   weights; `ugrn-mini`: the embedded default (`models/ugrn-mini`).
//! - `--runs N`: repetitions, median reported (default 3).
//! - `--sources K`: only the pairs of the first K sources (default all), for the slow
//!   `dataset` context of a large model; `dataset` cost grows with sources, `pair` cost with pairs.
//! - `--contexts pair,dataset` (default both).
//! - `--pairs sample` (default): the first 200 edges and 200 non-edges of their sources;
//!   `all`: every edge and as many non-edges, so every source of the network is computed, as a
//!   leave-dataset-out run does.
//! - `--probes vvp,gdt,pert,emb,attn` (default all five).
//! - `--device cpu` (default) or `cuda:N` (build with `--features cuda`); `--dtype f32`
//!   (default), `f64`, or on CUDA `bf16`/`f16`; `--budget-mib`: the oracle's batch budget
//!   (default 1024; on a GPU give about 80% of its free memory, as the host does).
//!
//! Env: `UGRN_BEELINE` (folder holding `benchmark_datasets/`, default the shared copy beside the
//! repository).
//!
//! Pairs: edges of `BL--network.csv` and as many non-edges drawn from the same sources (fixed
//! seed). A gene is fed as its token where the model's vocabulary has it, else as token
//! k mod V for dataset gene k (the fixture's 48 made-up genes; speed does not depend on which
//! token a gene gets). hESC has no expression matrix here, so Pert and Attn read a fixed
//! pseudo-random one (910 genes × 100 cells). As the host does, the oracle splits batches under a
//! memory budget.
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ugrn_backbone_scgpt::ScGpt;
use ugrn_backbone_scgpt::testing::write_random_checkpoint;
use ugrn_probe_attn::Attn;
use ugrn_probe_emb::Emb;
use ugrn_probe_gdt::Gdt;
use ugrn_probe_pert::Pert;
use ugrn_probe_vvp::Vvp;
use ugrn_sdk::{
    AttentionMaps, Backbone, CellBatch, DatasetView, Expression, GeneSymbol, LoadRequest, Matrix, ModelInfo,
    ModelOracle, NoProgress, Pair, ParamValue, Params, Pass, Probe, ProbeRequest, Result, TokenId,
};

/// Edges (and as many non-edges) in the `sample` pairs.
const SAMPLED_EDGES: usize = 200;

fn shared(env: &str, below_shared: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(below_shared));
    assert!(path.is_dir(), "{} not found: set {env}", path.display());
    path
}

/// The rows of a gzipped CSV file as records (header skipped).
fn read_csv(path: &Path) -> Vec<csv::StringRecord> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// xorshift, so pairs and expression are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// hESC's genes and the benchmark pairs: the first `edges` edges (all where `None`) and as many
/// non-edges from their sources.
fn hesc(edges: Option<usize>) -> (Vec<GeneSymbol>, Vec<Pair>) {
    let dir = shared("UGRN_BEELINE", "data/beeline").join("benchmark_datasets/STRING Dataset/hESC/TFs+500");
    let genes: Vec<GeneSymbol> = read_csv(&dir.join("Target.csv.gz")).iter().map(|r| r[1].to_string()).collect();
    let index: HashMap<&str, usize> = genes.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect();
    let network: Vec<Pair> = read_csv(&dir.join("BL--network.csv.gz"))
        .iter()
        .filter_map(|r| Some(Pair { source: *index.get(&r[0])?, target: *index.get(&r[1])? }))
        .collect();
    let known: HashSet<Pair> = network.iter().copied().collect();
    let positives = edges.unwrap_or(network.len()).min(network.len());
    let mut pairs: Vec<Pair> = network[..positives].to_vec();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut negatives = HashSet::new();
    while negatives.len() < positives {
        let source = pairs[rng.below(positives)].source;
        let p = Pair { source, target: rng.below(genes.len()) };
        if p.source != p.target && !known.contains(&p) && negatives.insert(p) {
            pairs.push(p);
        }
    }
    (genes, pairs)
}

fn expression(genes: usize, cells: usize) -> Expression {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Log-normalised-looking values: zero 60% of the time, else up to about 4.
    let data =
        (0..genes * cells).map(|_| if rng.below(10) < 6 { 0.0 } else { (1.0 + rng.below(50) as f32).ln() }).collect();
    Expression {
        cell_names: (0..cells).map(|c| format!("c{c}")).collect(),
        values: Matrix::new(genes, cells, data).unwrap(),
    }
}

/// The fixture model behind dataset gene names, with batches split under the budget; counts
/// the cells each pass runs.
struct BenchOracle {
    inner: Box<dyn ModelOracle>,
    tokens: HashMap<GeneSymbol, TokenId>,
    budget_bytes: u64,
    cells: [AtomicU64; 3],
}

impl BenchOracle {
    fn batches(&self, cells: &CellBatch, pass: Pass) -> Vec<(usize, usize)> {
        let size = (self.budget_bytes / self.inner.bytes_per_cell(cells.genes(), pass).max(1)).max(1) as usize;
        self.cells[pass as usize].fetch_add(cells.cells() as u64, Ordering::Relaxed);
        (0..cells.cells()).step_by(size).map(|s| (s, (s + size).min(cells.cells()))).collect()
    }

    fn take_cells(&self) -> [u64; 3] {
        self.cells.each_ref().map(|c| c.swap(0, Ordering::Relaxed))
    }
}

impl ModelOracle for BenchOracle {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|g| self.tokens.get(g).copied()).collect()
    }
    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        let parts: Vec<Matrix> = self
            .batches(cells, Pass::Readout)
            .into_iter()
            .map(|(s, e)| self.inner.readout(&cells.slice(s, e)))
            .collect::<Result<_>>()?;
        Matrix::vstack(&parts)
    }
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        let parts: Vec<Matrix> = self
            .batches(cells, Pass::Derivative)
            .into_iter()
            .map(|(s, e)| self.inner.readout_derivative(&cells.slice(s, e), &sources[s..e]))
            .collect::<Result<_>>()?;
        Matrix::vstack(&parts)
    }
    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        self.inner.gene_embeddings(tokens)
    }
    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        let mut all = AttentionMaps { cells: 0, heads: self.info().heads, genes: cells.genes(), data: Vec::new() };
        for (s, e) in self.batches(cells, Pass::Attention) {
            let part = self.inner.attention_scores(&cells.slice(s, e), layer)?;
            all.cells += part.cells;
            all.data.extend(part.data);
        }
        Ok(all)
    }
    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        self.inner.prepare_expression(context, expression)
    }
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        self.inner.bytes_per_cell(genes, pass)
    }
}

/// Three significant digits, without exponent notation.
fn significant(x: f64) -> String {
    let digits = if x > 0.0 { (2 - x.log10().floor() as i32).max(0) as usize } else { 0 };
    format!("{x:.digits$}")
}

const PROBES: [&str; 5] = ["vvp", "gdt", "pert", "emb", "attn"];

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The command line after `--`.
struct Options {
    model: String,
    runs: usize,
    sources: Option<usize>,
    contexts: Vec<String>,
    all_pairs: bool,
    probes: Vec<String>,
    device: String,
    dtype: String,
    budget_mib: u64,
}

fn options() -> Options {
    let mut o = Options {
        model: "fixture".into(),
        runs: 3,
        sources: None,
        contexts: vec!["pair".into(), "dataset".into()],
        all_pairs: false,
        probes: PROBES.iter().map(|p| p.to_string()).collect(),
        device: "cpu".into(),
        dtype: "f32".into(),
        budget_mib: 1024,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => o.model = value(),
            "--runs" => o.runs = value().parse().expect("--runs takes a number"),
            "--sources" => o.sources = Some(value().parse().expect("--sources takes a number")),
            "--contexts" => o.contexts = value().split(',').map(str::to_string).collect(),
            "--pairs" => {
                o.all_pairs = match value().as_str() {
                    "sample" => false,
                    "all" => true,
                    other => panic!("--pairs {other:?}: expected sample or all"),
                }
            }
            "--probes" => {
                o.probes = value().split(',').map(str::to_string).collect();
                if let Some(p) = o.probes.iter().find(|p| !PROBES.contains(&p.as_str())) {
                    panic!("--probes: unknown probe {p:?}; expected some of {}", PROBES.join(","));
                }
            }
            "--device" => o.device = value(),
            "--dtype" => o.dtype = value(),
            "--budget-mib" => o.budget_mib = value().parse().expect("--budget-mib takes a number"),
            // cargo bench passes --bench to harness-less benches.
            "--bench" => {}
            other => panic!("unknown argument {other:?}; see the doc comment of benches/probes/benches/probes.rs"),
        }
    }
    o
}

/// The checkpoint folder of `--model` and a line describing it; `tmp` holds a generated one.
fn checkpoint(model: &str, tmp: &Path) -> (PathBuf, String) {
    match model {
        "fixture" => {
            let dir = shared("UGRN_SCGPT_FIXTURE", "fixtures/scgpt-tiny");
            let line = format!("scGPT fixture {} (2 layers, 32 wide, 4 heads, 48 genes)", dir.display());
            (dir, line)
        }
        "whole-human" => {
            let files = shared("UGRN_SCGPT_WHOLE_HUMAN", "models/scgpt-whole-human-vocab");
            let start = Instant::now();
            write_random_checkpoint(&files.join("args.json"), &files.join("default_census_vocab.json"), tmp, 0)
                .unwrap();
            let line = format!(
                "scGPT whole-human's args and vocabulary (12 layers, 512 wide, 8 heads, 60697 tokens), seeded random weights written in {:.1} s",
                start.elapsed().as_secs_f64()
            );
            (tmp.to_path_buf(), line)
        }
        "ugrn-mini" => {
            let dir = std::env::var_os("UGRN_MINI")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/ugrn-mini"));
            let line = format!("ugrn-mini {} (4 layers, 64 wide, 4 heads, 4054 tokens)", dir.display());
            (dir, line)
        }
        other => panic!("--model {other:?}: expected fixture, whole-human or ugrn-mini"),
    }
}

fn main() {
    let options = options();
    let runs = options.runs;
    let (genes, mut pairs) = hesc(if options.all_pairs { None } else { Some(SAMPLED_EDGES) });
    let all_sources = pairs.iter().map(|p| p.source).collect::<HashSet<usize>>().len();
    if let Some(k) = options.sources {
        let mut kept = Vec::new();
        for p in &pairs {
            if !kept.contains(&p.source) && kept.len() < k {
                kept.push(p.source);
            }
        }
        pairs.retain(|p| kept.contains(&p.source));
    }
    let expression = expression(genes.len(), 100);
    let tmp = tempfile::tempdir().unwrap();
    let (dir, model_line) = checkpoint(&options.model, tmp.path());
    let request = LoadRequest {
        checkpoint: dir,
        device: options.device.clone(),
        dtype: options.dtype.clone(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    let inner = ScGpt.load(&request).unwrap_or_else(|e| panic!("loading the model: {e}"));
    let vocabulary = (inner.info().vocabulary - 3) as TokenId;
    let known = inner.token_ids(&genes);
    let in_vocabulary = known.iter().flatten().count();
    let tokens = genes
        .iter()
        .zip(known)
        .enumerate()
        .map(|(k, (g, t))| (g.clone(), t.unwrap_or(k as TokenId % vocabulary)))
        .collect();
    let oracle = BenchOracle { inner, tokens, budget_bytes: options.budget_mib << 20, cells: Default::default() };
    let sources: HashSet<usize> = pairs.iter().map(|p| p.source).collect();
    println!(
        "hESC STRING TFs+500: {} genes ({in_vocabulary} in the vocabulary), {} pairs ({} of {all_sources} sources); {model_line}; {} {}, batch budget {} MiB; candle threads {}; median of {runs} runs",
        genes.len(),
        pairs.len(),
        sources.len(),
        options.device,
        options.dtype,
        options.budget_mib,
        candle_core::utils::get_num_threads()
    );
    println!(
        "\n| probe | context | median s | pairs/s | readout cells/pair | derivative cells/pair | attention cells/pair |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let probes: [(&str, &dyn Probe); 5] =
        [("vvp", &Vvp), ("gdt", &Gdt), ("pert", &Pert), ("emb", &Emb), ("attn", &Attn)];
    for (name, probe) in probes.into_iter().filter(|(name, _)| options.probes.iter().any(|p| p == name)) {
        let specs = probe.describe().params;
        let contexts: Vec<&str> = if specs.iter().any(|s| s.name == "context") {
            options.contexts.iter().map(String::as_str).collect()
        } else {
            vec!["-"]
        };
        for context in contexts {
            let given = specs
                .iter()
                .filter(|s| s.name == "context")
                .map(|s| (s.name.clone(), ParamValue::Str(context.into())))
                .collect();
            let params = Params::resolve(&specs, given).unwrap();
            let request = ProbeRequest {
                params: &params,
                dataset: DatasetView {
                    name: "hESC",
                    genes: &genes,
                    expression: Some(&expression),
                    expression_source: "pseudo-random",
                },
                pairs: &pairs,
            };
            let mut times = Vec::with_capacity(runs);
            let mut cells = [0; 3];
            for _ in 0..runs {
                let start = Instant::now();
                // A model with a shorter context than the dataset refuses `dataset` context.
                let f = match probe.features(&request, &oracle, &NoProgress) {
                    Ok(f) => f,
                    Err(e) => {
                        println!("| {name} | {context} | refused: {e} | | | | |");
                        break;
                    }
                };
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(f.values.rows, pairs.len());
                cells = oracle.take_cells();
            }
            if times.is_empty() {
                continue;
            }
            let seconds = median(times);
            let per_pair = |c: u64| c as f64 / pairs.len() as f64;
            println!(
                "| {name} | {context} | {seconds:.4} | {} | {:.2} | {:.2} | {:.4} |",
                significant(pairs.len() as f64 / seconds),
                per_pair(cells[Pass::Readout as usize]),
                per_pair(cells[Pass::Derivative as usize]),
                per_pair(cells[Pass::Attention as usize])
            );
        }
    }
}
