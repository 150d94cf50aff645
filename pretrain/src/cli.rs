//! The `ugrn-pretrain` command line, which `ugrn pretrain` runs with its own arguments.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{CommandFactory, FromArgMatches, Parser};
use ugrn_backbone_scgpt::PLUGIN_NAME;
use ugrn_sdk::{ParamValue, Params};

use crate::{Request, beeline_corpora, check_output, file_corpus, pretrain};

const EXAMPLES: &str = "Example:\n  ugrn pretrain --output models/ugrn-mini --force --set epochs=6 --set seed=0\n  \
                        ugrn pretrain --output my-model --expression cells.csv.gz --resume";

/// Pretrain a backbone (scGPT's masked-value objective) on expression matrices and write a
/// checkpoint the backbone loads unchanged.
#[derive(Debug, Parser)]
#[command(name = "ugrn-pretrain", bin_name = "ugrn pretrain")]
pub struct Cli {
    /// Backbone plugin that trains.
    #[arg(long, default_value = PLUGIN_NAME)]
    pub backbone: String,
    /// Accepted as `ugrn`'s global option, unused: pretraining loads no plugin.
    #[arg(long = "plugins", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Checkpoint folder to write (and resume from).
    #[arg(long)]
    pub output: PathBuf,
    /// No progress bars or summaries; errors only. Logs still follow RUST_LOG.
    // Repeatable: `ugrn -q pretrain ... -q` passes it twice.
    #[arg(long, short, overrides_with = "quiet")]
    pub quiet: bool,
    /// BEELINE data roots to take every available expression matrix from (default: the
    /// repo's data/beeline, then ../shared/data/beeline).
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_roots: Vec<PathBuf>,
    /// Expression files (genes × cells CSV, gzip or plain, or .h5ad) instead of BEELINE.
    #[arg(long = "expression", value_name = "FILE")]
    pub expression_files: Vec<PathBuf>,
    /// Pretraining parameter KEY=VALUE (listed below), repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Continue from the training state in the output folder.
    #[arg(long)]
    pub resume: bool,
    /// Train over a non-empty output folder: the checkpoint files are replaced, any other file
    /// is left and named.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Threads of candle's element-wise pool (CANDLE_NUM_THREADS; default 1). Models of
    /// pretraining's size are many small operations, and that pool spins at a barrier after
    /// each: on a 2-core machine two threads took 1.2× as long as one when idle, 5× as long
    /// beside other jobs. Matrix products run on rayon's threads (RAYON_NUM_THREADS) either way.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

impl Cli {
    /// Parses the process's arguments; `--help` lists the pretraining parameters after the
    /// options.
    pub fn parse_args() -> Cli {
        let matches = Cli::command().after_help(after_help()).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Every pretraining parameter with its default, kind and meaning, then examples.
fn after_help() -> String {
    let mut text = String::from("Pretraining parameters (--set KEY=VALUE):\n");
    for s in crate::params() {
        text += &format!("    {} = {}  ({})\n        {}\n", s.name, s.default, s.kind, s.doc);
    }
    text + "\n" + EXAMPLES
}

/// Parses `key=value` settings; values are TOML (`8`, `0.5`, `true`, `[4, 8]`, `"text"`), and
/// bare words are strings.
pub fn parse_settings(settings: &[String]) -> anyhow::Result<BTreeMap<String, ParamValue>> {
    let mut out = BTreeMap::new();
    for s in settings {
        let Some((key, value)) = s.split_once('=') else {
            bail!("--set {s:?}: expected KEY=VALUE");
        };
        let key = key.trim();
        let value = value.trim();
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let param = ugrn::workflow::toml_to_param(&parsed).map_err(|e| anyhow!("--set {key}: {e}"))?;
        out.insert(key.to_string(), param);
    }
    Ok(out)
}

/// Corpora are named by file name; files of one name (`…/net1/ExpressionData.csv.gz`,
/// `…/net2/ExpressionData.csv.gz`) by the shortest ends of their paths that tell them apart
/// (`net1/ExpressionData.csv.gz`), so that the names, which record the held-out cells and which
/// `--resume` compares, do not depend on the folder training runs from.
fn name_repeats_by_path(corpora: &mut [crate::Corpus]) {
    let mut counts = std::collections::HashMap::new();
    for c in corpora.iter() {
        *counts.entry(c.name.clone()).or_insert(0usize) += 1;
    }
    let repeated: Vec<usize> = (0..corpora.len()).filter(|&i| counts[&corpora[i].name] > 1).collect();
    let parts: Vec<Vec<String>> = repeated
        .iter()
        .map(|&i| {
            let path = Path::new(&corpora[i].source);
            path.components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .collect();
    let longest = parts.iter().map(Vec::len).max().unwrap_or(0);
    let tail = |p: &Vec<String>, k: usize| p[p.len().saturating_sub(k)..].join("/");
    let k = (1..=longest)
        .find(|&k| {
            let names: std::collections::HashSet<String> = parts.iter().map(|p| tail(p, k)).collect();
            names.len() == parts.len()
        })
        .unwrap_or(longest);
    for (&i, p) in repeated.iter().zip(&parts) {
        corpora[i].name = tail(p, k);
    }
}

/// Gathers the corpora (BEELINE from the data roots, or the expression files), pretrains on
/// them and prints the log.
pub fn run(cli: &Cli) -> anyhow::Result<()> {
    if cli.backbone != PLUGIN_NAME {
        bail!("backbone `{}` cannot pretrain", cli.backbone);
    }
    ugrn_candle_shared::memory::reuse_freed_memory();
    let params =
        Params::resolve(&crate::params(), parse_settings(&cli.settings)?).map_err(|e| anyhow!("--set: {e}"))?;
    let data_roots =
        if cli.data_roots.is_empty() { ugrn::workflow::default_data_roots() } else { cli.data_roots.clone() };
    let mut corpora = if cli.expression_files.is_empty() { beeline_corpora(&data_roots) } else { Vec::new() };
    for (i, f) in cli.expression_files.iter().enumerate() {
        if cli.expression_files[..i].contains(f) {
            bail!("--expression {} is given twice", f.display());
        }
        corpora.push(file_corpus(f).with_context(|| format!("reading {}", f.display()))?);
    }
    name_repeats_by_path(&mut corpora);
    if corpora.is_empty() {
        let roots: Vec<String> = data_roots.iter().map(|r| r.display().to_string()).collect();
        bail!("no expression matrix found in {} (pass --expression FILE)", roots.join(", "));
    }
    for c in &corpora {
        let line = format!(
            "corpus {}: {} genes × {} cells from {}",
            c.name,
            c.genes.len(),
            c.expression.values.cols,
            c.source
        );
        tracing::info!("{line}");
    }
    let others = check_output(&cli.output, cli.resume, cli.force).map_err(|e| anyhow!(e))?;
    if !others.is_empty() {
        tracing::warn!("{}: left as they are beside the new checkpoint: {}", cli.output.display(), others.join(", "));
    }
    std::fs::create_dir_all(&cli.output).with_context(|| format!("creating {}", cli.output.display()))?;
    let progress = ugrn::progress::Bar::new(cli.quiet, "pretrain", "steps");
    let request = Request { params: &params, corpora: &corpora, output: &cli.output, resume: cli.resume };
    let log = pretrain(&request, &progress).map_err(|e| anyhow!("{e}"))?;
    progress.finish();
    for line in log {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ugrn_sdk::{Expression, Matrix};

    use super::*;
    use crate::Corpus;

    #[test]
    fn files_of_one_name_are_named_by_the_ends_of_their_paths() {
        let corpus = |source: &str| Corpus {
            name: Path::new(source).file_name().unwrap().to_string_lossy().into_owned(),
            source: source.into(),
            genes: vec!["A".into()],
            expression: Expression { cell_names: vec!["c".into()], values: Matrix::zeros(1, 1) },
        };
        let mut corpora =
            vec![corpus("/data/sim/net1/x.csv.gz"), corpus("./sim/net2/x.csv.gz"), corpus("net3/y.csv.gz")];
        name_repeats_by_path(&mut corpora);
        let names: Vec<&str> = corpora.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["net1/x.csv.gz", "net2/x.csv.gz", "y.csv.gz"]);
        let mut deeper = vec![corpus("a/net1/x.csv.gz"), corpus("b/net1/x.csv.gz")];
        name_repeats_by_path(&mut deeper);
        assert_eq!((deeper[0].name.as_str(), deeper[1].name.as_str()), ("a/net1/x.csv.gz", "b/net1/x.csv.gz"));
    }

    #[test]
    fn a_non_empty_output_needs_resume_or_force() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model");
        assert_eq!(check_output(&out, false, false), Ok(Vec::new()), "a missing folder");
        std::fs::create_dir(&out).unwrap();
        assert_eq!(check_output(&out, false, false), Ok(Vec::new()), "an empty folder");
        std::fs::write(out.join("args.json"), "{}").unwrap();
        std::fs::write(out.join("README.md"), "mine").unwrap();
        assert_eq!(
            check_output(&out, false, false).unwrap_err(),
            format!(
                "{} exists and is not empty (README.md, args.json); pass --resume to continue its training, or --force to train over it",
                out.display()
            )
        );
        assert_eq!(check_output(&out, true, false), Ok(Vec::new()));
        assert_eq!(
            check_output(&out, false, true).unwrap_err(),
            format!(
                "{} holds no checkpoint written by `ugrn pretrain` (no training state in model.safetensors); \
                 --force replaces only those: choose another --output",
                out.display()
            )
        );
        let params = crate::params();
        let given = [("embsize", 8), ("nheads", 2), ("d_hid", 8), ("nlayers", 1), ("max_seq_len", 4), ("epochs", 1)]
            .map(|(k, v)| (k.to_string(), ParamValue::Int(v)));
        let params = Params::resolve(&params, BTreeMap::from(given)).unwrap();
        let genes: Vec<String> = ["A", "B", "C"].map(String::from).to_vec();
        let mut values = Matrix::zeros(3, 4);
        for c in 0..4 {
            for g in 0..3 {
                values.set(g, c, (1 + g + c) as f32);
            }
        }
        let cells = (0..4).map(|c| format!("c{c}")).collect();
        let corpus = Corpus {
            name: "toy".into(),
            source: "toy".into(),
            genes,
            expression: Expression { cell_names: cells, values },
        };
        let trained = tempfile::tempdir().unwrap();
        let request = Request { params: &params, corpora: &[corpus], output: trained.path(), resume: false };
        pretrain(&request, &ugrn_sdk::NoProgress).unwrap();
        std::fs::write(trained.path().join("README.md"), "mine").unwrap();
        assert_eq!(check_output(trained.path(), false, true), Ok(vec!["README.md".to_string()]));
    }
}
