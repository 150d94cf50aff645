//! Load time, resident memory, oracle throughput (virtual cells/s) and the peak bytes a pass
//! allocates, per cell, of the scGPT backbone, for the fixture and for a model of scGPT
//! whole-human's size with random weights.
//!
//! `cargo bench -p ugrn-backbone-scgpt --bench scgpt -- [--device D] [--dtype T] [--cells N]`
//! - `--device cpu` (default) or `cuda:N` (a `--features cuda` build); `--dtype f32` (default),
//!   `f64`, or on CUDA `bf16`/`f16`.
//! - `--cells N`: cells per timed call at contexts 512 and 1200 (default: a few on the CPU,
//!   64 and 16 on a GPU).
//! - `--side-by-side DIR`: instead, writes the random whole-human-sized checkpoint into DIR, times
//!   readout and derivative at contexts 512 and 1200 after one warm-up call, and writes the
//!   timings and outputs to `DIR/ugrn.json`, for `scripts/bench-vs-pytorch.sh` to time PyTorch on
//!   the same weights and cells.
//!
//! Env: `UGRN_SCGPT_FIXTURE` for the fixture folder, `UGRN_SCGPT_WHOLE_HUMAN` for the folder
//! with whole-human's `args.json` and census vocabulary. Resident and allocated memory are the
//! host's; on a GPU they say nothing of device memory, so those columns are left out there.
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ugrn_backbone_scgpt::testing::write_random_checkpoint;
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

/// The system allocator, counting the bytes allocated now and at their peak: the memory a pass
/// needs, which resident size no longer shows once the backbone keeps freed memory for reuse.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// Counts `size` more bytes live when `p`, a fresh allocation, is not null; returns `p`.
fn counted(p: *mut u8, size: usize) -> *mut u8 {
    if !p.is_null() {
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
    p
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's.
        counted(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's.
        counted(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's.
        let p = counted(unsafe { System.realloc(ptr, layout, new_size) }, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resets the peak of allocated bytes to the bytes allocated now, which it returns.
fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// scGPT whole-human's `args.json` and census vocabulary: `UGRN_SCGPT_WHOLE_HUMAN`, else the
/// shared copy beside the repository.
fn whole_human_files() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("UGRN_SCGPT_WHOLE_HUMAN").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/models/scgpt-whole-human-vocab"))
    });
    assert!(dir.is_dir(), "{} not found: set UGRN_SCGPT_WHOLE_HUMAN", dir.display());
    (dir.join("args.json"), dir.join("default_census_vocab.json"))
}

/// The command line after `--`.
struct Options {
    device: String,
    dtype: String,
    cells: Option<usize>,
    side_by_side: Option<PathBuf>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Options {
        let mut o = Options { device: "cpu".into(), dtype: "f32".into(), cells: None, side_by_side: None };
        while let Some(flag) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
            match flag.as_str() {
                "--device" => o.device = value(),
                "--dtype" => o.dtype = value(),
                "--cells" => o.cells = Some(value().parse().expect("--cells takes a number")),
                "--side-by-side" => o.side_by_side = Some(PathBuf::from(value())),
                // cargo bench passes --bench to harness-less benches.
                "--bench" => {}
                other => panic!("unknown argument {other:?}; see the doc comment of benches/scgpt.rs"),
            }
        }
        o
    }

    fn on_gpu(&self) -> bool {
        self.device != "cpu"
    }

    /// The same options as arguments, for the child process.
    fn args(&self) -> Vec<String> {
        let mut args = vec!["--device".into(), self.device.clone(), "--dtype".into(), self.dtype.clone()];
        if let Some(n) = self.cells {
            args.extend(["--cells".into(), n.to_string()]);
        }
        args
    }
}

fn load(dir: &Path, options: &Options) -> ScGptOracle {
    let request = LoadRequest {
        checkpoint: dir.to_path_buf(),
        device: options.device.clone(),
        dtype: options.dtype.clone(),
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

/// Cells per timed call and repetitions: affordable on two CPU cores, enough to fill a GPU.
fn plan(genes: usize, big: bool, options: &Options) -> (usize, usize) {
    let (cells, reps) = match (genes, big, options.on_gpu()) {
        (3, _, _) => return (512, 5),
        (512, _, true) => (64, 5),
        (_, _, true) => (16, 5),
        (512, false, false) => (32, 5),
        (512, true, false) => (4, 3),
        (_, false, false) => (8, 5),
        (_, true, false) => (2, 3),
    };
    (options.cells.unwrap_or(cells), reps)
}

fn bench(name: &str, dir: &Path, big: bool, options: &Options) {
    let rss_before = status_kib("VmRSS:");
    let start = Instant::now();
    let oracle = load(dir, options);
    let load_s = start.elapsed().as_secs_f64();
    let rss_loaded = status_kib("VmRSS:");
    println!(
        "\n### {name}\nload (with SHA-256 of the files): {load_s:.2} s; resident memory {:.0} MiB before load, {:.0} MiB after (+{:.0} MiB)",
        mib(rss_before),
        mib(rss_loaded),
        mib(rss_loaded.saturating_sub(rss_before))
    );
    println!(
        "\n| context | cells/call | readout cells/s | derivative cells/s | GFLOP/s (readout, derivative) | peak allocated MiB/cell (readout, derivative) | estimate MiB/cell (readout, derivative) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for genes in CONTEXTS {
        let (cells, reps) = plan(genes, big, options);
        // The vocabulary ends with `<pad>`, `<cls>` and `<eoc>`.
        let (batch, sources) = virtual_cells(genes, oracle.info().vocabulary - 3, cells);
        let measure = |derivative: bool| -> (f64, f64) {
            let base = reset_peak();
            let mut times = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                let out = if derivative { oracle.readout_derivative(&batch, &sources) } else { oracle.readout(&batch) };
                assert_eq!(out.unwrap().rows, cells);
                times.push(t.elapsed().as_secs_f64());
            }
            let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
            (cells as f64 / median(times), peak as f64 / (1024.0 * 1024.0) / cells as f64)
        };
        let (readout, readout_mem) = measure(false);
        let (derivative, derivative_mem) = measure(true);
        let estimate = |pass| oracle.bytes_per_cell(genes, pass) as f64 / (1024.0 * 1024.0);
        let host_memory =
            if options.on_gpu() { "–".to_string() } else { format!("{readout_mem:.2}, {derivative_mem:.2}") };
        let (forward, attention) = flops_per_cell(&oracle.model().config, genes + 1);
        println!(
            "| {genes} | {cells} | {readout:.2} | {derivative:.2} | {:.0}, {:.0} | {host_memory} | {:.2}, {:.2} |",
            readout * forward / 1e9,
            derivative * (2.0 * forward + attention) / 1e9,
            estimate(Pass::Readout),
            estimate(Pass::Derivative)
        );
    }
}

/// FLOP (2 × multiply-adds of the matrix products) of one cell's forward over `tokens` tokens
/// (value encoder, encoder layers, expression decoder), and the attention's share of them. The
/// derivative's primal and tangent take 2 × forward + attention: the tangent repeats every dense
/// product and doubles the attention's. The same count as `scripts/bench_vs_pytorch.py`.
fn flops_per_cell(cfg: &ugrn_backbone_scgpt::Config, tokens: usize) -> (f64, f64) {
    let (d, f, layers, t) = (cfg.embsize as f64, cfg.d_hid as f64, cfg.nlayers as f64, tokens as f64);
    let dense = 2.0 * t * (d * d + layers * (4.0 * d * d + 2.0 * d * f) + 2.0 * d * d + d);
    let attention = layers * 4.0 * t * t * d;
    (dense + attention, attention)
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
fn bench_in_child(name: &str, dir: &Path, big: bool, options: &Options) {
    let status = std::process::Command::new(std::env::current_exe().expect("bench executable"))
        .args([CHILD_FLAG, name, &dir.display().to_string(), if big { "big" } else { "small" }])
        .args(options.args())
        .status()
        .expect("starting the bench child process");
    assert!(status.success(), "benchmark of {name} failed");
}

const CHILD_FLAG: &str = "--checkpoint";

/// The contexts, cells per call and repetitions of the side-by-side comparison with PyTorch.
const SIDE_BY_SIDE: [(usize, usize, usize); 2] = [(512, 4, 3), (1200, 2, 3)];

/// `--side-by-side DIR`: see the doc comment at the top.
fn side_by_side(dir: &Path, options: &Options) {
    let (args, genes) = whole_human_files();
    write_random_checkpoint(&args, &genes, dir, 0).unwrap();
    let oracle = load(dir, options);
    let mut runs = Vec::new();
    for (genes, cells, reps) in SIDE_BY_SIDE {
        let (batch, sources) = virtual_cells(genes, oracle.info().vocabulary - 3, cells);
        let time = |derivative: bool| {
            let call = || {
                if derivative { oracle.readout_derivative(&batch, &sources) } else { oracle.readout(&batch) }.unwrap()
            };
            let output = call();
            let seconds: Vec<f64> = (0..reps)
                .map(|_| {
                    let t = Instant::now();
                    call();
                    t.elapsed().as_secs_f64()
                })
                .collect();
            (seconds, output.data)
        };
        let (readout_s, readout) = time(false);
        let (derivative_s, derivative) = time(true);
        println!(
            "ugrn, context {genes}, {cells} cells/call: readout {:.2} cells/s, derivative {:.2} cells/s",
            cells as f64 / median(readout_s.clone()),
            cells as f64 / median(derivative_s.clone())
        );
        runs.push(serde_json::json!({
            "genes": genes, "cells": cells, "sources": sources,
            "readout_s": readout_s, "derivative_s": derivative_s,
            "readout": readout, "derivative": derivative,
        }));
    }
    let report = serde_json::json!({ "threads": candle_core::utils::get_num_threads(), "runs": runs });
    std::fs::write(dir.join("ugrn.json"), report.to_string()).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_FLAG) {
        let options = Options::parse(args[i + 4..].iter().cloned());
        bench(&args[i + 1], Path::new(&args[i + 2]), args[i + 3] == "big", &options);
        return;
    }
    let options = Options::parse(args.into_iter());
    if let Some(dir) = &options.side_by_side {
        side_by_side(dir, &options);
        return;
    }
    println!(
        "device {} {}; candle threads: {}; medians over repetitions; virtual cells = <cls> + context genes at bin {DEFAULT_BACKGROUND}, one source at 20",
        options.device,
        options.dtype,
        candle_core::utils::get_num_threads()
    );
    bench_in_child("fixture (scgpt-tiny: 2 layers, 32 wide, 4 heads)", &fixture_dir(), false, &options);
    let tmp = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let (args, genes) = whole_human_files();
    write_random_checkpoint(&args, &genes, tmp.path(), 0).unwrap();
    println!("\n(random whole-human-sized checkpoint written in {:.1} s)", start.elapsed().as_secs_f64());
    bench_in_child(
        "scGPT whole-human's args.json and vocabulary (12 layers, 512 wide, 8 heads, d_hid 512, 60697 tokens), random weights",
        tmp.path(),
        true,
        &options,
    );
}
