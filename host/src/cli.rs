//! The `ugrn` command line.
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::plugin::{self, ComponentLimits, Registry};
use crate::workflow::{ResolvedWorkflow, Workflow};

#[derive(Debug, Parser)]
#[command(
    name = "ugrn",
    version,
    about = "Universal GRN inference from frozen single-cell foundation models",
    long_about = "Universal GRN inference from frozen single-cell foundation models.\n\n\
        Runs TOML workflows that load a backbone plugin, extract pair features with probe \
        plugins, train a translator on one dataset and evaluate it zero-shot on others.",
    after_help = "Example:\n  ugrn run workflows/quickstart.toml\n  RUST_LOG=debug ugrn check workflows/table1-string-nonspecific.toml"
)]
pub struct Cli {
    /// Extra folder to search for plugins (repeatable; searched before UGRN_PLUGIN_PATH).
    #[arg(long = "plugins", global = true, value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// No progress bars or summaries, warnings and errors only (logs still follow RUST_LOG);
    /// `run` still prints its results table on stdout.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a workflow and write its report folder.
    #[command(after_help = "Example:\n  ugrn run workflows/quickstart.toml --output runs/try1")]
    Run {
        /// The workflow file.
        workflow: PathBuf,
        /// Report folder (default: the workflow's run.output, else runs/<run.name>).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Replace an existing report folder that ugrn wrote (never another folder or file).
        #[arg(long)]
        force: bool,
    },
    /// Infer a GRN for your own expression data with a translator a run saved: every TF→gene
    /// candidate among the genes the model knows is scored. Writes edges.tsv (TF, target,
    /// score = P(TF regulates target), logit, rank), rankedEdges.csv (BEELINE's format),
    /// summary.md and plots/, into OUTPUT, whole or not at all.
    #[command(
        after_help = "Example:\n  ugrn run workflows/quickstart.toml\n  ugrn infer --translator runs/quickstart/translators/STRING/GDT \\\n      --expression my.h5ad --species human --output my-grn"
    )]
    Infer(Box<InferArgs>),
    /// Merge the shard folders of one `ugrn infer --shard k/N` (every k, any order) into the
    /// files one unsharded `ugrn infer` writes.
    #[command(
        after_help = "Example:\n  for k in 1 2 3 4; do ugrn infer ... --shard $k/4 --output shards/$k; done\n  ugrn merge shards/1 shards/2 shards/3 shards/4 --output my-grn"
    )]
    Merge {
        /// The shard folders.
        #[arg(required = true, value_name = "SHARD_DIR")]
        shards: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, value_name = "DIR")]
        output: PathBuf,
        /// Replace an existing output folder that ugrn wrote (never another folder or file).
        #[arg(long)]
        force: bool,
    },
    /// List the saved translators under a folder (a report, or its translators/ folder).
    #[command(after_help = "Example:\n  ugrn translators runs/quickstart")]
    Translators {
        /// The folder to list.
        dir: PathBuf,
    },
    /// Validate a workflow without running it: unknown keys, unknown plugins, bad parameters
    /// and missing files, then (loading the model) what its cells would refuse about the
    /// model: parameters it cannot take, a direct score on several columns. Each problem is reported
    /// with file, key and reason. Exits non-zero on problems.
    #[command(after_help = "Example:\n  ugrn check workflows/quickstart.toml")]
    Check {
        /// The workflow files.
        #[arg(required = true)]
        workflows: Vec<PathBuf>,
    },
    /// Pretrain a backbone (scGPT's masked-value objective) on expression matrices and write a
    /// checkpoint the backbone loads unchanged.
    ///
    /// Runs the `ugrn-pretrain` executable found beside `ugrn` (else on PATH) with the same
    /// arguments; `ugrn pretrain --help` shows its options.
    #[command(disable_help_flag = true)]
    Pretrain {
        /// The arguments of `ugrn-pretrain`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<OsString>,
    },
    /// Simulate single cells from a known regulatory network (SERGIO's steady-state model), in
    /// BEELINE's file layout: a positive control for the probes.
    Simulate(Box<ugrn_simulate::cli::SimulateArgs>),
    /// List the GPUs the CUDA driver sees (name, total and free memory), or say there are none.
    #[command(after_help = "Example:\n  ugrn devices")]
    Devices,
    /// List the plugins found: name, kind, version, file and parameters.
    #[command(after_help = "Example:\n  ugrn plugins --plugins ./my-plugins")]
    Plugins,
}

/// `ugrn infer`'s arguments.
#[derive(Debug, clap::Args)]
pub struct InferArgs {
    /// A saved method: a report's `translators/<network>/<method>/` folder (`ugrn translators`
    /// lists them).
    #[arg(long, value_name = "DIR")]
    pub translator: PathBuf,
    /// Expression: a genes × cells CSV (plain or gzip, gene names in the first column) or
    /// an AnnData .h5ad (cells × genes).
    #[arg(long, value_name = "FILE")]
    pub expression: PathBuf,
    /// .h5ad only: the var column with gene symbols (e.g. feature_name); default var's index.
    #[arg(long, value_name = "COLUMN")]
    pub gene_column: Option<String>,
    /// TF symbols, one per line, or a CSV with a TF column.
    #[arg(long, value_name = "FILE", conflicts_with = "species", required_unless_present = "species")]
    pub tfs: Option<PathBuf>,
    /// Use the shipped TF list of this species (data/tfs/).
    #[arg(long, value_enum)]
    pub species: Option<crate::infer::Species>,
    /// The backbone checkpoint folder; default the one the translator was trained on.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// Apply the translator to a checkpoint other than its own (the summary says so).
    #[arg(long)]
    pub allow_other_checkpoint: bool,
    /// Override the probes' context: each pair alone, or the whole dataset's genes.
    #[arg(long, value_parser = ["pair", "dataset"])]
    pub context: Option<String>,
    /// Override the probes' `cell`: `virtual` (every gene at the background, the paper's;
    /// VVP's and GDT's default) or `mean` (the dataset's real mean cell, so the network
    /// reflects your cells; Attn's default). The translator is applied unchanged.
    #[arg(long, value_parser = ["virtual", "mean"])]
    pub base: Option<String>,
    /// .h5ad only: one network per value of this obs column (cell type, condition), each
    /// from its group's mean cell (needs probes that read the cells, e.g. with --base mean);
    /// written to `OUTPUT/groups/<value>/`.
    #[arg(long, value_name = "OBS_COLUMN")]
    pub groupby: Option<String>,
    /// Write only the K best edges (default: every scored pair).
    #[arg(long, value_name = "K")]
    pub top: Option<usize>,
    /// Score only the pairs of this Gene1,Gene2 CSV.
    #[arg(long, value_name = "FILE")]
    pub pairs: Option<PathBuf>,
    /// Also write grn.h5ad: the genes as var, the scores as a sparse varp["GRN"] (TF rows,
    /// target columns) and the edge list as uns["grn_edges"], for anndata and scanpy.
    #[arg(long)]
    pub h5ad: bool,
    /// Score only shard k of N (1-based): its share of the sources, written unmerged to
    /// OUTPUT; `ugrn merge` combines the N shard folders into the network.
    #[arg(long, value_name = "k/N")]
    pub shard: Option<crate::infer::Shard>,
    /// Pairs scored at once (their features and logits held in memory); shards must agree.
    #[arg(long, value_name = "PAIRS", default_value_t = 1 << 18, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub block_pairs: u64,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Replace an existing output folder that ugrn wrote (never another folder or file).
    #[arg(long)]
    pub force: bool,
    /// `cpu`, `auto` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Feature cache folder.
    #[arg(long, value_name = "DIR", default_value = ".ugrn-cache")]
    pub cache: PathBuf,
    /// Memory one batch of cells may use on CPU.
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    pub memory_budget_mb: u64,
}

impl InferArgs {
    fn options(self, quiet: bool) -> crate::infer::InferOptions {
        let tfs = match (self.tfs, self.species) {
            (Some(file), _) => crate::infer::TfSource::File(file),
            // clap requires one of the two.
            (None, species) => crate::infer::TfSource::Species(species.expect("--tfs or --species")),
        };
        crate::infer::InferOptions {
            translator: self.translator,
            expression: self.expression,
            gene_column: self.gene_column,
            tfs,
            checkpoint: self.checkpoint,
            allow_other_checkpoint: self.allow_other_checkpoint,
            context: self.context,
            base: self.base,
            groupby: self.groupby,
            top: self.top,
            pairs: self.pairs,
            h5ad: self.h5ad,
            shard: self.shard,
            block_pairs: self.block_pairs as usize,
            output: self.output,
            force: self.force,
            device: self.device,
            memory_budget_mb: self.memory_budget_mb,
            cache: self.cache,
            quiet,
        }
    }
}

/// Logs go to stderr through `tracing`, filtered by RUST_LOG (default: warnings, or info
/// unless quiet).
pub fn init_logging(quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

/// The plugin search path: workflow folders first, then `--plugins`, `UGRN_PLUGIN_PATH`, and
/// the workspace's own builds.
pub fn search_path(workflow_dirs: &[PathBuf], cli_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = workflow_dirs.to_vec();
    dirs.extend(cli_dirs.iter().cloned());
    dirs.extend(plugin::env_search_path());
    dirs.extend(plugin::default_search_path());
    dirs
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Devices => {
            print!("{}", crate::devices::describe());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugins => {
            let registry = Registry::discover(&search_path(&[], &cli.plugin_dirs), ComponentLimits::default());
            print!("{}", list_plugins(&registry));
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { workflows } => {
            let mut failed = false;
            for file in &workflows {
                let problems = match check(file, &cli.plugin_dirs) {
                    Ok((resolved, registry)) => crate::experiment::check_against_model(&resolved, &registry),
                    Err(problems) => problems,
                };
                if problems.0.is_empty() {
                    if !cli.quiet {
                        println!("{}: ok", file.display());
                    }
                } else {
                    failed = true;
                    eprintln!("{problems}");
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Pretrain { args } => crate::pretrain::run(&args, cli.quiet),
        Command::Run { workflow, output, force } => {
            let (resolved, registry) = check(&workflow, &cli.plugin_dirs).map_err(|p| anyhow::anyhow!("{p}"))?;
            let options = crate::experiment::RunOptions { output, force, quiet: cli.quiet };
            let report = crate::experiment::run(&resolved, &registry, &options)
                .with_context(|| format!("running {}", workflow.display()))?;
            // The table is the run's answer: printed even when quiet, which drops the rest.
            println!("{}", report.table_markdown());
            if !cli.quiet {
                println!("report written to {}", report.folder.display());
            }
            // Pipelines must see a run that produced nothing as failed.
            if report.evaluated_cells() == 0 {
                eprintln!(
                    "error: no method produced an evaluated result; see the footnotes of {}",
                    report.folder.join("results.md").display()
                );
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            let line = args.run()?;
            if !cli.quiet {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Translators { dir } => {
            print!("{}", crate::translators::list(&dir)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Infer(args) => {
            let options = args.options(cli.quiet);
            let registry = Registry::discover(&search_path(&[], &cli.plugin_dirs), ComponentLimits::default());
            let inferred = crate::infer::infer(&registry, &options)?;
            if !cli.quiet {
                println!("{}", inferred.headline);
                println!("{} pairs scored; written to {}", inferred.pairs, inferred.folder.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge { shards, output, force } => {
            let merged = crate::infer::merge(&shards, &output, force)?;
            if !cli.quiet {
                println!("{}", merged.headline);
                println!("{} pairs per network; written to {}", merged.pairs, merged.folder.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses and resolves a workflow against the plugins it can see.
pub fn check(
    file: &std::path::Path,
    cli_dirs: &[PathBuf],
) -> Result<(ResolvedWorkflow, Registry), crate::workflow::Problems> {
    let workflow = Workflow::read(file)?;
    let base = file.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    let workflow_dirs: Vec<PathBuf> = workflow.run.plugin_dirs.iter().map(|d| base.join(d)).collect();
    let registry = Registry::discover(&search_path(&workflow_dirs, cli_dirs), workflow.run.component_limits());
    let resolved = ResolvedWorkflow::resolve(file, workflow, &registry)?;
    Ok((resolved, registry))
}

/// The text `ugrn plugins` prints.
pub fn list_plugins(registry: &Registry) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut any = false;
    for p in registry.plugins() {
        any = true;
        let i = &p.info;
        let _ =
            writeln!(out, "{} ({}) {}\n  file: {}\n  {}", i.name, i.kind, i.version, p.file.display(), i.description);
        if i.params.is_empty() {
            let _ = writeln!(out, "  parameters: none");
        } else {
            let _ = writeln!(out, "  parameters:");
            for s in &i.params {
                let _ = writeln!(out, "    {} = {}  ({})\n        {}", s.name, s.default, s.kind, s.doc);
            }
        }
    }
    if !any {
        let _ = writeln!(out, "no plugins found; build them with `cargo build --release` or pass --plugins DIR");
    }
    for refused in &registry.refused {
        let _ = writeln!(out, "refused: {refused}");
    }
    for (name, file) in &registry.shadowed {
        let _ = writeln!(out, "shadowed: {name} at {} (an earlier folder has it)", file.display());
    }
    out
}
