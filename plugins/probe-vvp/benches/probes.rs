//! Pairs per second of the five probes, in both contexts, on BEELINE hESC (STRING, TFs+500)
//! pairs through the scGPT fixture model.
//!
//! `cargo bench -p ugrn-probe-vvp --bench probes [-- RUNS]` (default 3 runs, median reported).
//! Env: `UGRN_BEELINE` (folder holding `benchmark_datasets/`, default the shared copy beside the
//! repository), `UGRN_SCGPT_FIXTURE` (default the shared `scgpt-tiny`).
//!
//! Pairs: the first 200 edges of `BL--network.csv` and 200 non-edges drawn from the same sources
//! (fixed seed). The fixture's vocabulary has 48 made-up genes, so gene k of the dataset is fed
//! to the model as token k mod 48 (speed does not depend on which token a gene gets). hESC has
//! no expression matrix here, so Pert and Attn read a fixed pseudo-random one (910 genes × 100
//! cells). As the host does, the oracle splits batches under a memory budget (1 GiB).
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ugrn_backbone_scgpt::ScGpt;
use ugrn_probe_attn::Attn;
use ugrn_probe_emb::Emb;
use ugrn_probe_gdt::Gdt;
use ugrn_probe_pert::Pert;
use ugrn_probe_vvp::Vvp;
use ugrn_sdk::{
    AttentionMaps, Backbone, CellBatch, DatasetView, Expression, GeneSymbol, LoadRequest, Matrix, ModelInfo,
    ModelOracle, NoProgress, Pair, ParamValue, Params, Pass, Probe, ProbeRequest, Result, TokenId,
};

const POSITIVES: usize = 200;
const NEGATIVES: usize = 200;
const BUDGET_BYTES: u64 = 1 << 30;

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
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
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

/// hESC's genes and the benchmark pairs.
fn hesc() -> (Vec<GeneSymbol>, Vec<Pair>) {
    let dir = shared("UGRN_BEELINE", "data/beeline").join("benchmark_datasets/STRING Dataset/hESC/TFs+500");
    let genes: Vec<GeneSymbol> =
        read_csv(&dir.join("Target.csv.gz")).iter().map(|r| r[1].to_string()).collect();
    let index: HashMap<&str, usize> = genes.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect();
    let edges: Vec<Pair> = read_csv(&dir.join("BL--network.csv.gz"))
        .iter()
        .filter_map(|r| Some(Pair { source: *index.get(&r[0])?, target: *index.get(&r[1])? }))
        .collect();
    let known: HashSet<Pair> = edges.iter().copied().collect();
    let mut pairs: Vec<Pair> = edges[..POSITIVES].to_vec();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut negatives = HashSet::new();
    while negatives.len() < NEGATIVES {
        let source = pairs[rng.below(POSITIVES)].source;
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
    let data = (0..genes * cells)
        .map(|_| if rng.below(10) < 6 { 0.0 } else { (1.0 + rng.below(50) as f32).ln() })
        .collect();
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
    cells: [AtomicU64; 3],
}

impl BenchOracle {
    fn batches(&self, cells: &CellBatch, pass: Pass) -> Vec<(usize, usize)> {
        let size = (BUDGET_BYTES / self.inner.bytes_per_cell(cells.genes(), pass).max(1)).max(1) as usize;
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
        let mut all =
            AttentionMaps { cells: 0, heads: self.info().heads, genes: cells.genes(), data: Vec::new() };
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3);
    let (genes, pairs) = hesc();
    let expression = expression(genes.len(), 100);
    let fixture = shared("UGRN_SCGPT_FIXTURE", "fixtures/scgpt-tiny");
    let request = LoadRequest {
        checkpoint: fixture.clone(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::defaults(&ScGpt.describe().params),
    };
    let inner = ScGpt.load(&request).unwrap();
    let vocabulary = (inner.info().vocabulary - 3) as TokenId;
    let oracle = BenchOracle {
        inner,
        tokens: genes.iter().enumerate().map(|(k, g)| (g.clone(), k as TokenId % vocabulary)).collect(),
        cells: Default::default(),
    };
    let sources: HashSet<usize> = pairs.iter().map(|p| p.source).collect();
    println!(
        "hESC STRING TFs+500: {} genes, {} pairs ({} sources); {}; candle threads {}; median of {runs} runs",
        genes.len(),
        pairs.len(),
        sources.len(),
        fixture.display(),
        candle_core::utils::get_num_threads()
    );
    println!(
        "\n| probe | context | median s | pairs/s | readout cells/pair | derivative cells/pair | attention cells/pair |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let probes: [(&str, &dyn Probe); 5] =
        [("vvp", &Vvp), ("gdt", &Gdt), ("pert", &Pert), ("emb", &Emb), ("attn", &Attn)];
    for (name, probe) in probes {
        let specs = probe.describe().params;
        let contexts: &[&str] =
            if specs.iter().any(|s| s.name == "context") { &["pair", "dataset"] } else { &["-"] };
        for &context in contexts {
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
                let f = probe.features(&request, &oracle, &NoProgress).unwrap();
                times.push(start.elapsed().as_secs_f64());
                assert_eq!(f.values.rows, pairs.len());
                cells = oracle.take_cells();
            }
            let seconds = median(times);
            let per_pair = |c: u64| c as f64 / pairs.len() as f64;
            println!(
                "| {name} | {context} | {seconds:.4} | {:.0} | {:.2} | {:.2} | {:.4} |",
                pairs.len() as f64 / seconds,
                per_pair(cells[Pass::Readout as usize]),
                per_pair(cells[Pass::Derivative as usize]),
                per_pair(cells[Pass::Attention as usize])
            );
        }
    }
}
