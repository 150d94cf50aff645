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
    /// No progress bars or summaries; errors only. Logs still follow RUST_LOG.
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
        /// Replace an existing report folder.
        #[arg(long)]
        force: bool,
    },
    /// Validate a workflow without running it: unknown keys, unknown plugins, bad parameters
    /// and missing files, each reported with file, key and reason. Exits non-zero on problems.
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
    /// List the GPUs the CUDA driver sees (name, total and free memory), or say there are none.
    #[command(after_help = "Example:\n  ugrn devices")]
    Devices,
    /// List the plugins found: name, kind, version, file and parameters.
    #[command(after_help = "Example:\n  ugrn plugins --plugins ./my-plugins")]
    Plugins,
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
                match check(file, &cli.plugin_dirs) {
                    Ok(_) => {
                        if !cli.quiet {
                            println!("{}: ok", file.display());
                        }
                    }
                    Err(problems) => {
                        failed = true;
                        eprintln!("{problems}");
                    }
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
            if !cli.quiet {
                println!("{}", report.table_markdown());
                println!("report written to {}", report.folder.display());
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
