//! Single-cell expression simulated from a known regulatory network, SERGIO's steady-state model
//! (Dibaeinia & Sinha 2020) written from its equations: the positive control that shows whether
//! a probe recovers regulation a model has had the chance to learn. See README.md.
//!
//! Every draw comes from its own ChaCha8 stream of the seed (the network, the basal rates, each
//! cell's trajectory, the technical noise, the shuffled labels), so a seed gives the same files
//! bit for bit whatever the number of threads.
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

pub mod cli;
pub mod kinetics;
pub mod network;
mod output;
pub mod technical;

pub use kinetics::{Kinetics, Model, hill};
pub use network::{Edge, Network, RandomNetwork, Sign};
pub use output::write_dataset;
pub use technical::{Technical, log_normalise};

/// A simulator error, naming the file and line or the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{key}: {why}")]
    Setting { key: String, why: String },
    #[error("{}:{line}: {why}", path.display())]
    Network { path: PathBuf, line: usize, why: String },
    #[error("{}: the network has a cycle {}; the simulator needs a DAG", path.display(), genes.join(" → "))]
    Cycle { path: PathBuf, genes: Vec<String> },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {why}", path.display())]
    Output { path: PathBuf, why: String },
}

impl SimulateError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SimulateError {
        SimulateError::Io { path: path.into(), source }
    }
}

/// Seed streams: one per kind of draw, and one per cell from `CELL_STREAMS` on.
const NETWORK_STREAM: u64 = 0;
const BASAL_STREAM: u64 = 1;
const TECHNICAL_STREAM: u64 = 2;
const SHUFFLE_STREAM: u64 = 3;
const CELL_STREAMS: u64 = 1 << 32;

pub(crate) fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Where the network comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkSource {
    Random { spec: RandomNetwork, names: Vec<String> },
    File { path: PathBuf, names: Option<Vec<String>>, strength: (f64, f64) },
}

impl NetworkSource {
    pub fn build(&self, seed: u64) -> Result<Network, SimulateError> {
        let mut rng = stream(seed, NETWORK_STREAM);
        match self {
            NetworkSource::Random { spec, names } => Network::random(spec, names.clone(), &mut rng),
            NetworkSource::File { path, names, strength } => {
                Network::read_csv(path, names.clone(), *strength, &mut rng)
            }
        }
    }
}

/// Everything a simulation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub network: NetworkSource,
    pub cells: usize,
    pub kinetics: Kinetics,
    pub technical: Technical,
    pub seed: u64,
}

/// A simulated dataset: the network, the cells' true levels and their measured counts.
#[derive(Debug, Clone)]
pub struct SimulatedData {
    pub network: Network,
    /// True levels, genes × cells.
    pub levels: Vec<Vec<f64>>,
    /// Measured counts, genes × cells.
    pub counts: Vec<Vec<u32>>,
    /// Half-response of every gene as a regulator.
    pub half_response: Vec<f64>,
    /// The edges (regulator, target) after a degree-preserving shuffle: a negative control.
    pub shuffled_edges: Vec<(usize, usize)>,
}

impl Simulation {
    pub fn run(&self) -> Result<SimulatedData, SimulateError> {
        if self.cells == 0 {
            return Err(SimulateError::Setting { key: "cells".into(), why: "must be at least 1".into() });
        }
        self.kinetics.check()?;
        self.technical.check()?;
        let network = self.network.build(self.seed)?;
        let genes = network.genes.len();
        let masters: Vec<bool> = network.inputs().iter().map(Vec::is_empty).collect();
        let (low, high) = self.kinetics.basal;
        let mut basal_rng = stream(self.seed, BASAL_STREAM);
        let basal: Vec<Vec<f64>> = (0..self.cells)
            .map(|_| (0..genes).map(|g| if masters[g] { basal_rng.random_range(low..=high) } else { 0.0 }).collect())
            .collect();
        let model = Model::new(&network, self.kinetics.clone(), &basal)?;
        let by_cell: Vec<Vec<f64>> = (0..self.cells)
            .into_par_iter()
            .map(|c| model.cell(&basal[c], &mut stream(self.seed, CELL_STREAMS + c as u64)))
            .collect();
        let levels: Vec<Vec<f64>> = (0..genes).map(|g| by_cell.iter().map(|x| x[g]).collect()).collect();
        let counts = self.technical.counts(&levels, &mut stream(self.seed, TECHNICAL_STREAM))?;
        let half_response = model.half_response.clone();
        let shuffled_edges = network.degree_preserving_shuffle(&mut stream(self.seed, SHUFFLE_STREAM));
        Ok(SimulatedData { network, levels, counts, half_response, shuffled_edges })
    }
}

/// Gene names `<prefix>001`, … zero-padded to the width of `genes`.
pub fn numbered_genes(prefix: &str, genes: usize) -> Vec<String> {
    let width = genes.to_string().len().max(3);
    (1..=genes).map(|i| format!("{prefix}{i:0width$}")).collect()
}

/// What `simulation.json` records besides the settings.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub genes: usize,
    pub cells: usize,
    pub edges: usize,
    pub repressing_edges: usize,
    pub master_regulators: usize,
    pub regulators: usize,
    pub levels: usize,
    pub mean_library: f64,
    pub zero_share: f64,
}

impl SimulatedData {
    pub fn summary(&self) -> Summary {
        let cells = self.counts.first().map_or(0, Vec::len);
        let total: f64 = self.counts.iter().flatten().map(|&v| f64::from(v)).sum();
        let zeros = self.counts.iter().flatten().filter(|&&v| v == 0).count();
        let entries = self.counts.len() * cells;
        Summary {
            genes: self.network.genes.len(),
            cells,
            edges: self.network.edges.len(),
            repressing_edges: self.network.edges.iter().filter(|e| e.sign == Sign::Represses).count(),
            master_regulators: self.network.inputs().iter().filter(|i| i.is_empty()).count(),
            regulators: self.network.regulators().len(),
            levels: self.network.levels().map_or(0, |l| l.len()),
            mean_library: if cells > 0 { total / cells as f64 } else { 0.0 },
            zero_share: if entries > 0 { zeros as f64 / entries as f64 } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn small(seed: u64, cells: usize) -> Simulation {
        Simulation {
            network: NetworkSource::Random {
                spec: RandomNetwork {
                    genes: 30,
                    masters: 3,
                    regulators: 8,
                    max_in_degree: 3,
                    repressor_share: 0.3,
                    strength: (1.0, 5.0),
                },
                names: numbered_genes("G", 30),
            },
            cells,
            kinetics: Kinetics { steps: 400, ..Kinetics::default() },
            technical: Technical { library_mean: 1500.0, ..Technical::default() },
            seed,
        }
    }

    fn pearson(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn a_seed_gives_the_same_data_whatever_the_threads() {
        let sim = small(11, 40);
        let on = |threads| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| sim.run().unwrap())
        };
        let (one, two) = (on(1), on(4));
        assert_eq!(one.counts, two.counts);
        assert_eq!(one.network, two.network);
        assert_ne!(small(12, 40).run().unwrap().counts, one.counts, "another seed, other cells");
    }

    /// Regulation leaves its mark: in the true levels, a gene with one activating regulator
    /// correlates positively with it and one with a single repressor negatively.
    #[test]
    fn single_input_targets_follow_the_sign_of_their_regulator() {
        let data = small(2, 600).run().unwrap();
        let inputs = data.network.inputs();
        let mut checked = 0;
        for (g, ins) in inputs.iter().enumerate() {
            let [e] = ins.as_slice() else { continue };
            let edge = &data.network.edges[*e];
            let r = pearson(&data.levels[edge.regulator], &data.levels[g]);
            match edge.sign {
                Sign::Activates => assert!(r > 0.15, "{}→{}: r = {r}", edge.regulator, g),
                Sign::Represses => assert!(r < -0.15, "{}⊣{}: r = {r}", edge.regulator, g),
            }
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} single-input genes");
    }

    #[test]
    fn bad_settings_are_named() {
        let mut sim = small(0, 0);
        assert_eq!(sim.run().unwrap_err().to_string(), "cells: must be at least 1");
        sim.cells = 5;
        sim.kinetics.decay = 0.0;
        assert_eq!(sim.run().unwrap_err().to_string(), "decay: must be positive, got 0");
        sim.kinetics.decay = 0.8;
        sim.kinetics.basal = (3.0, 1.0);
        assert_eq!(sim.run().unwrap_err().to_string(), "basal: needs 0 < low <= high, got 3,1");
    }

    #[test]
    fn gene_names_are_zero_padded() {
        assert_eq!(numbered_genes("N1G", 3), ["N1G001", "N1G002", "N1G003"]);
        assert_eq!(numbered_genes("G", 1500)[0], "G0001");
    }
}
