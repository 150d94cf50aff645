//! The regulatory network: genes on a DAG with signed, weighted edges, generated at random or
//! read from a CSV, and its topological levels.
use std::collections::{HashMap, HashSet};
use std::path::Path;

use rand::Rng;
use rand::seq::index;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::SimulateError;

/// Activation (K > 0) or repression (K < 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Sign {
    Activates,
    Represses,
}

impl Sign {
    pub fn symbol(self) -> char {
        match self {
            Sign::Activates => '+',
            Sign::Represses => '-',
        }
    }
}

/// One edge: `regulator` sets `target`'s production through a Hill term of weight `strength`
/// (|K|, positive).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub regulator: usize,
    pub target: usize,
    pub sign: Sign,
    pub strength: f64,
}

/// Genes and edges of an acyclic network. Genes without regulators are master regulators.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub genes: Vec<String>,
    pub edges: Vec<Edge>,
}

/// How [`Network::random`] draws a DAG.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RandomNetwork {
    /// Genes in all.
    pub genes: usize,
    /// Master regulators: regulated by nothing, produced at a basal rate.
    pub masters: usize,
    /// Genes that regulate others (TFs), master regulators included.
    pub regulators: usize,
    /// Each non-master gene draws 1..=this many regulators (fewer where fewer precede it).
    pub max_in_degree: usize,
    /// Chance that an edge represses.
    pub repressor_share: f64,
    /// |K| is drawn uniformly from this range.
    pub strength: (f64, f64),
}

impl RandomNetwork {
    fn check(&self) -> Result<(), SimulateError> {
        let bad = |key: &str, why: String| Err(SimulateError::Setting { key: key.into(), why });
        if self.genes < 2 {
            return bad("genes", format!("a network needs at least 2 genes, got {}", self.genes));
        }
        if self.masters == 0 || self.masters >= self.genes {
            return bad(
                "masters",
                format!("must be between 1 and genes - 1 = {}, got {}", self.genes - 1, self.masters),
            );
        }
        if self.regulators < self.masters || self.regulators > self.genes - 1 {
            return bad(
                "regulators",
                format!(
                    "must be between masters = {} and genes - 1 = {}, got {}",
                    self.masters,
                    self.genes - 1,
                    self.regulators
                ),
            );
        }
        if self.max_in_degree == 0 {
            return bad("max-regulators", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.repressor_share) {
            return bad("repressor-share", format!("must lie in [0, 1], got {}", self.repressor_share));
        }
        check_range("strength", self.strength)
    }
}

/// A range `(low, high)` with 0 < low ≤ high, finite.
pub(crate) fn check_range(key: &str, (low, high): (f64, f64)) -> Result<(), SimulateError> {
    if !(low.is_finite() && high.is_finite() && low > 0.0 && low <= high) {
        return Err(SimulateError::Setting {
            key: key.into(),
            why: format!("needs 0 < low <= high, got {low},{high}"),
        });
    }
    Ok(())
}

impl Network {
    /// A random DAG: genes in index order, the first `masters` unregulated, the first
    /// `regulators` the TFs. Every later gene draws its regulators among the TFs before it, so
    /// the index order is a topological order and no cycle can arise.
    pub fn random(spec: &RandomNetwork, names: Vec<String>, rng: &mut ChaCha8Rng) -> Result<Network, SimulateError> {
        spec.check()?;
        if names.len() != spec.genes {
            return Err(SimulateError::Setting {
                key: "gene-names".into(),
                why: format!("{} names for {} genes", names.len(), spec.genes),
            });
        }
        let mut edges = Vec::new();
        for target in spec.masters..spec.genes {
            let available = target.min(spec.regulators);
            let k = rng.random_range(1..=spec.max_in_degree.min(available));
            let mut chosen = index::sample(rng, available, k).into_vec();
            chosen.sort_unstable();
            for regulator in chosen {
                let sign = if rng.random_bool(spec.repressor_share) { Sign::Represses } else { Sign::Activates };
                let strength = rng.random_range(spec.strength.0..=spec.strength.1);
                edges.push(Edge { regulator, target, sign, strength });
            }
        }
        Ok(Network { genes: names, edges })
    }

    /// Reads `Gene1,Gene2,Type` (regulator, target, `+` or `-`), with an optional `Strength`
    /// column (|K|; else drawn from `strength`). The genes are `names` when given (an edge
    /// naming another gene is refused; listed genes without edges are master regulators), else
    /// those the edges name, in order of first appearance.
    pub fn read_csv(
        path: &Path,
        names: Option<Vec<String>>,
        strength: (f64, f64),
        rng: &mut ChaCha8Rng,
    ) -> Result<Network, SimulateError> {
        check_range("strength", strength)?;
        let text = std::fs::read_to_string(path).map_err(|e| SimulateError::io(path, e))?;
        let at = |line: usize, why: String| SimulateError::Network { path: path.into(), line, why };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty());
        let Some((header_line, header)) = lines.next() else {
            return Err(at(1, "the file is empty; expected a header `Gene1,Gene2,Type`".into()));
        };
        let columns: Vec<&str> = header.split(',').map(str::trim).collect();
        let column = |name: &str| columns.iter().position(|c| *c == name);
        let (Some(from), Some(to), Some(kind)) = (column("Gene1"), column("Gene2"), column("Type")) else {
            return Err(at(header_line, format!("header `{header}` lacks one of the columns Gene1, Gene2, Type")));
        };
        let weight = column("Strength");
        let fixed = names.is_some();
        let mut genes = names.unwrap_or_default();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, g) in genes.iter().enumerate() {
            if index.insert(g.clone(), i).is_some() {
                return Err(SimulateError::Setting {
                    key: "gene-names".into(),
                    why: format!("gene `{g}` is listed twice"),
                });
            }
        }
        let mut edges: Vec<Edge> = Vec::new();
        let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
        for (line, row) in lines {
            let fields: Vec<&str> = row.split(',').map(str::trim).collect();
            let field = |c: usize, name: &str| {
                fields.get(c).copied().filter(|f| !f.is_empty()).ok_or_else(|| at(line, format!("no `{name}` value")))
            };
            let mut gene = |name: &str| -> Result<usize, SimulateError> {
                if let Some(&i) = index.get(name) {
                    return Ok(i);
                }
                if fixed {
                    return Err(at(line, format!("gene `{name}` is not among the given gene names")));
                }
                genes.push(name.to_string());
                index.insert(name.to_string(), genes.len() - 1);
                Ok(genes.len() - 1)
            };
            let regulator = gene(field(from, "Gene1")?)?;
            let target = gene(field(to, "Gene2")?)?;
            let sign = match field(kind, "Type")? {
                "+" => Sign::Activates,
                "-" => Sign::Represses,
                other => return Err(at(line, format!("Type `{other}` is neither `+` nor `-`"))),
            };
            if regulator == target {
                return Err(at(line, format!("`{}` regulates itself; the simulator needs a DAG", genes[regulator])));
            }
            if let Some(first) = seen.insert((regulator, target), line) {
                return Err(at(
                    line,
                    format!("edge {}→{} is listed twice (first on line {first})", genes[regulator], genes[target]),
                ));
            }
            let strength = match weight {
                Some(c) => {
                    let v = field(c, "Strength")?;
                    match v.parse::<f64>() {
                        Ok(s) if s.is_finite() && s > 0.0 => s,
                        _ => return Err(at(line, format!("Strength `{v}` is not a positive number"))),
                    }
                }
                None => rng.random_range(strength.0..=strength.1),
            };
            edges.push(Edge { regulator, target, sign, strength });
        }
        if edges.is_empty() {
            return Err(at(1, "the network has no edges".into()));
        }
        let network = Network { genes, edges };
        network.levels().map_err(|cycle| SimulateError::Cycle { path: path.into(), genes: cycle })?;
        Ok(network)
    }

    /// Regulators of every gene, as indices into `edges`.
    pub fn inputs(&self) -> Vec<Vec<usize>> {
        let mut inputs = vec![Vec::new(); self.genes.len()];
        for (e, edge) in self.edges.iter().enumerate() {
            inputs[edge.target].push(e);
        }
        inputs
    }

    /// Genes by topological level (level 0: master regulators; a gene's level is one more than
    /// its deepest regulator's), or the names along a cycle.
    pub fn levels(&self) -> Result<Vec<Vec<usize>>, Vec<String>> {
        let n = self.genes.len();
        let inputs = self.inputs();
        let mut level: Vec<Option<usize>> = vec![None; n];
        let mut on_path = vec![false; n];
        fn visit(
            g: usize,
            net: &Network,
            inputs: &[Vec<usize>],
            level: &mut [Option<usize>],
            on_path: &mut [bool],
            path: &mut Vec<usize>,
        ) -> Result<usize, Vec<usize>> {
            if let Some(l) = level[g] {
                return Ok(l);
            }
            if on_path[g] {
                let start = path.iter().position(|&p| p == g).expect("a gene on the path is in it");
                return Err(path[start..].iter().copied().chain([g]).collect());
            }
            on_path[g] = true;
            path.push(g);
            let mut l = 0;
            for &e in &inputs[g] {
                l = l.max(visit(net.edges[e].regulator, net, inputs, level, on_path, path)? + 1);
            }
            path.pop();
            on_path[g] = false;
            level[g] = Some(l);
            Ok(l)
        }
        let mut path = Vec::new();
        for g in 0..n {
            visit(g, self, &inputs, &mut level, &mut on_path, &mut path)
                .map_err(|cycle| cycle.into_iter().rev().map(|g| self.genes[g].clone()).collect::<Vec<_>>())?;
        }
        let depth = level.iter().flatten().max().map_or(0, |m| m + 1);
        let mut levels = vec![Vec::new(); depth];
        for (g, l) in level.into_iter().enumerate() {
            levels[l.expect("every gene was visited")].push(g);
        }
        Ok(levels)
    }

    /// The edges rewired by degree-preserving swaps (a→b, c→d become a→d, c→b), 10 attempts per
    /// edge (one that would make a self-loop or a repeated edge is skipped):
    /// every regulator keeps its out-degree and every target its in-degree, but which gene
    /// regulates which is random. Labels for a negative control; the result may hold cycles.
    pub fn degree_preserving_shuffle(&self, rng: &mut ChaCha8Rng) -> Vec<(usize, usize)> {
        let mut edges: Vec<(usize, usize)> = self.edges.iter().map(|e| (e.regulator, e.target)).collect();
        let mut present: HashSet<(usize, usize)> = edges.iter().copied().collect();
        if edges.len() < 2 {
            return edges;
        }
        for _ in 0..10 * edges.len() {
            let (x, y) = (rng.random_range(0..edges.len()), rng.random_range(0..edges.len()));
            let ((a, b), (c, d)) = (edges[x], edges[y]);
            if a == d || c == b || present.contains(&(a, d)) || present.contains(&(c, b)) {
                continue;
            }
            present.remove(&(a, b));
            present.remove(&(c, d));
            present.insert((a, d));
            present.insert((c, b));
            edges[x] = (a, d);
            edges[y] = (c, b);
        }
        edges.sort_unstable();
        edges
    }

    /// Genes that regulate at least one other, in gene order.
    pub fn regulators(&self) -> Vec<usize> {
        let set: HashSet<usize> = self.edges.iter().map(|e| e.regulator).collect();
        (0..self.genes.len()).filter(|g| set.contains(g)).collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn read(text: &str, names: Option<&[&str]>) -> Result<Network, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.csv");
        std::fs::write(&path, text).unwrap();
        let names = names.map(|n| n.iter().map(|s| s.to_string()).collect());
        Network::read_csv(&path, names, (1.0, 5.0), &mut rng())
            .map_err(|e| e.to_string().replace(&path.display().to_string(), "net.csv"))
    }

    #[test]
    fn random_dag_respects_its_shape() {
        let spec = RandomNetwork {
            genes: 60,
            masters: 4,
            regulators: 12,
            max_in_degree: 3,
            repressor_share: 0.3,
            strength: (1.0, 5.0),
        };
        let names = (0..60).map(|i| format!("G{i}")).collect();
        let net = Network::random(&spec, names, &mut rng()).unwrap();
        let inputs = net.inputs();
        for g in 0..60 {
            let n = inputs[g].len();
            if g < 4 {
                assert_eq!(n, 0, "master {g} has regulators");
            } else {
                assert!((1..=3).contains(&n), "gene {g} has {n} regulators");
            }
        }
        assert!(net.edges.iter().all(|e| e.regulator < 12 && e.regulator < e.target));
        assert!(net.edges.iter().all(|e| (1.0..=5.0).contains(&e.strength)));
        let repressed = net.edges.iter().filter(|e| e.sign == Sign::Represses).count() as f64;
        let share = repressed / net.edges.len() as f64;
        assert!((0.15..0.45).contains(&share), "repressor share {share}");
        assert!(net.levels().is_ok());
        let again = Network::random(&spec, (0..60).map(|i| format!("G{i}")).collect(), &mut rng()).unwrap();
        assert_eq!(net, again, "the same seed gives the same network");
    }

    #[test]
    fn the_shuffle_keeps_degrees_and_moves_edges() {
        let spec = RandomNetwork {
            genes: 80,
            masters: 4,
            regulators: 16,
            max_in_degree: 4,
            repressor_share: 0.3,
            strength: (1.0, 5.0),
        };
        let net = Network::random(&spec, (0..80).map(|i| format!("G{i}")).collect(), &mut rng()).unwrap();
        let shuffled = net.degree_preserving_shuffle(&mut rng());
        let degrees = |edges: &mut dyn Iterator<Item = (usize, usize)>| {
            let (mut out, mut inn) = (vec![0; 80], vec![0; 80]);
            for (a, b) in edges {
                out[a] += 1;
                inn[b] += 1;
            }
            (out, inn)
        };
        let original: HashSet<(usize, usize)> = net.edges.iter().map(|e| (e.regulator, e.target)).collect();
        assert_eq!(degrees(&mut original.iter().copied()), degrees(&mut shuffled.iter().copied()));
        assert_eq!(shuffled.iter().collect::<HashSet<_>>().len(), shuffled.len(), "no repeated edge");
        assert!(shuffled.iter().all(|(a, b)| a != b), "no self-loop");
        let kept = shuffled.iter().filter(|e| original.contains(e)).count() as f64 / shuffled.len() as f64;
        assert!(kept < 0.35, "{kept} of the edges stayed in place");
    }

    #[test]
    fn reads_a_network_and_orders_its_levels() {
        let net = read("Gene1,Gene2,Type\nA,B,+\nB,C,-\nA,C,+\n", None).unwrap();
        assert_eq!(net.genes, ["A", "B", "C"]);
        assert_eq!(net.edges[1].sign, Sign::Represses);
        assert_eq!(net.levels().unwrap(), vec![vec![0], vec![1], vec![2]]);
        let with_extra = read("Gene1,Gene2,Type,Strength\nA,B,+,2.5\n", Some(&["A", "B", "Z"])).unwrap();
        assert_eq!(with_extra.edges[0].strength, 2.5);
        assert_eq!(with_extra.levels().unwrap(), vec![vec![0, 2], vec![1]]);
    }

    #[test]
    fn bad_networks_are_named() {
        assert_eq!(
            read("Gene1,Gene2,Type\nA,B,+\nB,C,+\nC,A,-\n", None).unwrap_err(),
            "net.csv: the network has a cycle A → B → C → A; the simulator needs a DAG"
        );
        assert_eq!(
            read("Gene1,Gene2,Type\nA,B,+\nA,Q,+\n", Some(&["A", "B"])).unwrap_err(),
            "net.csv:3: gene `Q` is not among the given gene names"
        );
        assert_eq!(
            read("Gene1,Gene2,Type\nA,B,activates\n", None).unwrap_err(),
            "net.csv:2: Type `activates` is neither `+` nor `-`"
        );
        assert_eq!(
            read("Gene1,Gene2,Type\nA,A,+\n", None).unwrap_err(),
            "net.csv:2: `A` regulates itself; the simulator needs a DAG"
        );
        assert_eq!(
            read("Gene1,Gene2,Type\nA,B,+\n\nA,B,-\n", None).unwrap_err(),
            "net.csv:4: edge A→B is listed twice (first on line 2)"
        );
        assert_eq!(
            read("Gene1,Gene2\nA,B\n", None).unwrap_err(),
            "net.csv:1: header `Gene1,Gene2` lacks one of the columns Gene1, Gene2, Type"
        );
        assert_eq!(
            read("Gene1,Gene2,Type,Strength\nA,B,+,-1\n", None).unwrap_err(),
            "net.csv:2: Strength `-1` is not a positive number"
        );
        assert_eq!(read("Gene1,Gene2,Type\nA,,+\n", None).unwrap_err(), "net.csv:2: no `Gene2` value");
    }
}
