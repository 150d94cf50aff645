//! `ugrn simulate`: the command line over [`Simulation`].
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::network::RandomNetwork;
use crate::{Kinetics, NetworkSource, SimulateError, Simulation, Technical, numbered_genes, write_dataset};

/// Simulate single cells from a regulatory network (SERGIO's steady-state model) and write them
/// in BEELINE's layout: ExpressionData.csv.gz (genes × cells, log2(1 + CP10k)), counts.csv.gz,
/// refNetwork.csv (Gene1,Gene2,Type,Strength), shuffledNetwork.csv (a negative control's
/// labels), TFs.txt and simulation.json.
#[derive(Debug, Clone, Args)]
#[command(after_help = "Examples:\n  ugrn simulate --output sim/net1 --gene-prefix N1G --seed 1\n  \
    ugrn simulate --output sim/mine --network my-network.csv --cells 3000")]
pub struct SimulateArgs {
    /// The folder to write (whole or not at all).
    #[arg(long)]
    pub output: PathBuf,
    /// Replace an existing output folder that ugrn simulate wrote (never another folder).
    #[arg(long)]
    pub force: bool,
    /// Seeds the network, the cells and the technical noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Cells to simulate, each its own trajectory.
    #[arg(long, default_value_t = 1500)]
    pub cells: usize,

    /// A network CSV `Gene1,Gene2,Type` (regulator, target, + or -), optionally `Strength`
    /// (|K|); without it a random DAG is drawn.
    #[arg(long, help_heading = "Network")]
    pub network: Option<PathBuf>,
    /// Gene names, one per line: the random DAG's genes, or with `--network` every gene (listed
    /// genes without edges become master regulators).
    #[arg(long, help_heading = "Network")]
    pub gene_names: Option<PathBuf>,
    /// Random DAG: genes in all.
    #[arg(long, default_value_t = 100, help_heading = "Network")]
    pub genes: usize,
    /// Random DAG: master regulators (unregulated, produced at a basal rate).
    #[arg(long, default_value_t = 5, help_heading = "Network")]
    pub masters: usize,
    /// Random DAG: genes that regulate others (TFs), master regulators included.
    #[arg(long, default_value_t = 20, help_heading = "Network")]
    pub regulators: usize,
    /// Random DAG: each regulated gene draws 1 to this many regulators.
    #[arg(long, default_value_t = 4, help_heading = "Network")]
    pub max_regulators: usize,
    /// Random DAG: the chance that an edge represses.
    #[arg(long, default_value_t = 0.3, help_heading = "Network")]
    pub repressor_share: f64,
    /// Random DAG (and a network CSV without `Strength`): |K| drawn uniformly from LOW,HIGH.
    #[arg(long, default_value = "1,5", value_parser = range, help_heading = "Network")]
    pub strength: (f64, f64),
    /// Random DAG: names are PREFIX001, PREFIX002, …
    #[arg(long, default_value = "G", help_heading = "Network")]
    pub gene_prefix: String,

    /// Decay rate λ.
    #[arg(long, default_value_t = Kinetics::default().decay, help_heading = "Kinetics")]
    pub decay: f64,
    /// Hill coefficient n.
    #[arg(long, default_value_t = Kinetics::default().hill, help_heading = "Kinetics")]
    pub hill: f64,
    /// Noise amplitude q of the chemical Langevin equation.
    #[arg(long, default_value_t = Kinetics::default().noise, help_heading = "Kinetics")]
    pub noise: f64,
    /// Master regulators' basal production rate, drawn uniformly from LOW,HIGH per cell.
    #[arg(long, default_value = "0.5,5", value_parser = range, help_heading = "Kinetics")]
    pub basal: (f64, f64),
    /// Time step of the Langevin update.
    #[arg(long, default_value_t = Kinetics::default().dt, help_heading = "Kinetics")]
    pub dt: f64,
    /// Langevin steps from each cell's deterministic steady state.
    #[arg(long, default_value_t = Kinetics::default().steps, help_heading = "Kinetics")]
    pub steps: usize,

    /// Mean library size (total counts per cell).
    #[arg(long, default_value_t = Technical::default().library_mean, help_heading = "Technical noise")]
    pub library_mean: f64,
    /// σ of the log-normal library size.
    #[arg(long, default_value_t = Technical::default().library_sigma, help_heading = "Technical noise")]
    pub library_sigma: f64,
    /// Share of outlier genes (levels scaled by a log-normal factor).
    #[arg(long, default_value_t = Technical::default().outlier_share, help_heading = "Technical noise")]
    pub outlier_share: f64,
    /// μ of the outlier factor's logarithm.
    #[arg(long, default_value_t = Technical::default().outlier_log_mean, help_heading = "Technical noise")]
    pub outlier_log_mean: f64,
    /// σ of the outlier factor's logarithm.
    #[arg(long, default_value_t = Technical::default().outlier_log_sigma, help_heading = "Technical noise")]
    pub outlier_log_sigma: f64,
    /// Logistic dropout centred on this percentile of ln(1 + level); none without it.
    #[arg(long, help_heading = "Technical noise")]
    pub dropout_percentile: Option<f64>,
    /// Steepness k of the logistic dropout.
    #[arg(long, default_value_t = Technical::default().dropout_shape, help_heading = "Technical noise")]
    pub dropout_shape: f64,
}

fn range(s: &str) -> Result<(f64, f64), String> {
    let parse = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("`{v}` is not a number"));
    match s.split_once(',') {
        Some((low, high)) => Ok((parse(low)?, parse(high)?)),
        None => Err(format!("expected LOW,HIGH, got `{s}`")),
    }
}

fn read_names(path: &PathBuf) -> Result<Vec<String>, SimulateError> {
    let text = std::fs::read_to_string(path).map_err(|e| SimulateError::io(path, e))?;
    let mut names = Vec::new();
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        if let Some(was) = first.insert(name, i + 1) {
            let why = format!("gene `{name}` is listed twice (first on line {was})");
            return Err(SimulateError::Network { path: path.clone(), line: i + 1, why });
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        return Err(SimulateError::Network { path: path.clone(), line: 1, why: "lists no gene".into() });
    }
    Ok(names)
}

impl SimulateArgs {
    pub fn simulation(&self) -> Result<Simulation, SimulateError> {
        let names = self.gene_names.as_ref().map(read_names).transpose()?;
        let network = match &self.network {
            Some(path) => NetworkSource::File { path: path.clone(), names, strength: self.strength },
            None => {
                let genes = names.as_ref().map_or(self.genes, Vec::len);
                let spec = RandomNetwork {
                    genes,
                    masters: self.masters,
                    regulators: self.regulators,
                    max_in_degree: self.max_regulators,
                    repressor_share: self.repressor_share,
                    strength: self.strength,
                };
                NetworkSource::Random { spec, names: names.unwrap_or_else(|| numbered_genes(&self.gene_prefix, genes)) }
            }
        };
        Ok(Simulation {
            network,
            cells: self.cells,
            kinetics: Kinetics {
                decay: self.decay,
                hill: self.hill,
                noise: self.noise,
                dt: self.dt,
                steps: self.steps,
                basal: self.basal,
            },
            technical: Technical {
                library_mean: self.library_mean,
                library_sigma: self.library_sigma,
                outlier_share: self.outlier_share,
                outlier_log_mean: self.outlier_log_mean,
                outlier_log_sigma: self.outlier_log_sigma,
                dropout_percentile: self.dropout_percentile,
                dropout_shape: self.dropout_shape,
            },
            seed: self.seed,
        })
    }

    /// Simulates and writes the folder; returns a one-line summary.
    pub fn run(&self) -> Result<String, SimulateError> {
        let start = Instant::now();
        let simulation = self.simulation()?;
        let data = simulation.run()?;
        let summary = data.summary();
        let network = match &simulation.network {
            NetworkSource::Random { spec, .. } => serde_json::json!({ "random": spec }),
            NetworkSource::File { path, strength, .. } => {
                serde_json::json!({ "file": path.display().to_string(), "strength": strength })
            }
        };
        // Not in the record, which a seed reproduces bit for bit.
        let seconds = start.elapsed().as_secs_f64();
        let record = serde_json::json!({
            "simulator": format!("ugrn simulate {}", env!("CARGO_PKG_VERSION")),
            "seed": simulation.seed,
            "cells": simulation.cells,
            "network": network,
            "kinetics": simulation.kinetics,
            "technical": simulation.technical,
            "summary": summary,
        });
        write_dataset(&self.output, &data, &record, self.force)?;
        Ok(format!(
            "{}: {} genes ({} master regulators, {} TFs, {} levels), {} edges ({} repressing), {} cells, \
             mean library {:.0}, {:.1}% zeros ({seconds:.1} s)",
            self.output.display(),
            summary.genes,
            summary.master_regulators,
            summary.regulators,
            summary.levels,
            summary.edges,
            summary.repressing_edges,
            summary.cells,
            summary.mean_library,
            100.0 * summary.zero_share,
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        args: SimulateArgs,
    }

    /// The command line's defaults are the library's, including the two ranges clap takes as text.
    #[test]
    fn command_line_defaults_are_the_librarys() {
        let sim = Command::parse_from(["simulate", "--output", "out"]).args.simulation().unwrap();
        assert_eq!(sim.kinetics, Kinetics::default());
        assert_eq!(sim.technical, Technical::default());
        assert_eq!((sim.cells, sim.seed), (1500, 0));
    }

    #[test]
    fn repeated_gene_names_are_refused_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let names = dir.path().join("genes.txt");
        std::fs::write(&names, "A\nB\n\nA\n").unwrap();
        let args = ["simulate", "--output", "out", "--genes", "3", "--gene-names", names.to_str().unwrap()];
        let e = Command::parse_from(args).args.simulation().unwrap_err().to_string();
        assert_eq!(e, format!("{}:4: gene `A` is listed twice (first on line 1)", names.display()));
    }
}
