//! Transcription kinetics: Hill-regulated production, linear decay, and the chemical Langevin
//! equation that gives every cell its own noisy state.
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::SimulateError;
use crate::network::{Network, Sign, check_range};

/// The kinetic constants shared by all genes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kinetics {
    /// Decay rate λ.
    pub decay: f64,
    /// Hill coefficient n.
    pub hill: f64,
    /// Noise amplitude q of the chemical Langevin equation (0: deterministic).
    pub noise: f64,
    /// Time step of the Euler–Maruyama update.
    pub dt: f64,
    /// Steps from the deterministic steady state to the sampled state.
    pub steps: usize,
    /// A master regulator's basal production rate is drawn uniformly from this range, anew for
    /// every cell: the cell-to-cell variation that regulation passes downstream.
    pub basal: (f64, f64),
}

impl Default for Kinetics {
    /// SERGIO's decay and Hill coefficient; 1500 steps of 0.01 are 12 decay times.
    fn default() -> Self {
        Kinetics { decay: 0.8, hill: 2.0, noise: 1.0, dt: 0.01, steps: 1500, basal: (0.5, 5.0) }
    }
}

impl Kinetics {
    pub(crate) fn check(&self) -> Result<(), SimulateError> {
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(SimulateError::Setting { key: key.into(), why: format!("must be positive, got {v}") })
            }
        };
        positive("decay", self.decay)?;
        positive("hill", self.hill)?;
        positive("dt", self.dt)?;
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(SimulateError::Setting {
                key: "noise".into(),
                why: format!("must be 0 or positive, got {}", self.noise),
            });
        }
        check_range("basal", self.basal)
    }
}

/// Hill response of a target to regulator level `x` with half-response `h`: x^n/(h^n+x^n) for
/// an activator, one minus that for a repressor.
pub fn hill(x: f64, h: f64, n: f64, sign: Sign) -> f64 {
    let on = if x <= 0.0 {
        0.0
    } else {
        let r = (x / h).powf(n);
        r / (1.0 + r)
    };
    match sign {
        Sign::Activates => on,
        Sign::Represses => 1.0 - on,
    }
}

/// The network prepared for simulation: each gene's regulators, each regulator's half-response
/// and the topological order.
#[derive(Debug, Clone)]
pub struct Model<'n> {
    network: &'n Network,
    inputs: Vec<Vec<usize>>,
    order: Vec<usize>,
    /// Half-response h of every gene as a regulator: its mean deterministic steady-state level
    /// over the cells (computed for every gene; only regulators' are used).
    pub half_response: Vec<f64>,
    kinetics: Kinetics,
}

impl<'n> Model<'n> {
    /// Computes the half-responses level by level, as SERGIO does: a regulator's h is its mean
    /// steady state over the cells, which depends only on the levels above it. `basal[c][g]` is
    /// master regulator g's production rate in cell c.
    pub fn new(network: &'n Network, kinetics: Kinetics, basal: &[Vec<f64>]) -> Result<Model<'n>, SimulateError> {
        kinetics.check()?;
        let levels = network.levels().map_err(|genes| SimulateError::Cycle { path: "network".into(), genes })?;
        let order: Vec<usize> = levels.iter().flatten().copied().collect();
        let mut model =
            Model { network, inputs: network.inputs(), order, half_response: vec![0.0; network.genes.len()], kinetics };
        let mut states: Vec<Vec<f64>> = vec![vec![0.0; network.genes.len()]; basal.len()];
        for level in &levels {
            for (state, rates) in states.iter_mut().zip(basal) {
                for &g in level {
                    state[g] = model.production(g, state, rates) / model.kinetics.decay;
                }
            }
            for &g in level {
                model.half_response[g] = states.iter().map(|s| s[g]).sum::<f64>() / basal.len().max(1) as f64;
            }
        }
        Ok(model)
    }

    /// Production rate of gene `g` given the current levels: the basal rate for a master
    /// regulator, Σ |K| H(x_regulator) otherwise.
    pub fn production(&self, g: usize, x: &[f64], basal: &[f64]) -> f64 {
        let inputs = &self.inputs[g];
        if inputs.is_empty() {
            return basal[g];
        }
        inputs
            .iter()
            .map(|&e| {
                let edge = &self.network.edges[e];
                let h = self.half_response[edge.regulator];
                edge.strength * hill(x[edge.regulator], h, self.kinetics.hill, edge.sign)
            })
            .sum()
    }

    /// The deterministic steady state of a cell with master rates `basal` (P(x) = λx, solved
    /// in topological order).
    pub fn steady_state(&self, basal: &[f64]) -> Vec<f64> {
        let mut x = vec![0.0; self.network.genes.len()];
        for &g in &self.order {
            x[g] = self.production(g, &x, basal) / self.kinetics.decay;
        }
        x
    }

    /// One cell: `steps` Euler–Maruyama steps of the chemical Langevin equation
    /// x ← max(0, x + (P − λx)dt + q(√P ξ₁ + √(λx) ξ₂)√dt) from the cell's deterministic steady
    /// state. Every cell is its own trajectory, so cells are independent draws.
    pub fn cell(&self, basal: &[f64], rng: &mut ChaCha8Rng) -> Vec<f64> {
        let k = &self.kinetics;
        let mut x = self.steady_state(basal);
        let mut production = vec![0.0; x.len()];
        let sqrt_dt = k.dt.sqrt();
        for _ in 0..k.steps {
            for (g, p) in production.iter_mut().enumerate() {
                *p = self.production(g, &x, basal);
            }
            for (g, xg) in x.iter_mut().enumerate() {
                let (p, d) = (production[g], k.decay * *xg);
                let (xi1, xi2): (f64, f64) = (rng.sample(StandardNormal), rng.sample(StandardNormal));
                let noise = k.noise * (p.sqrt() * xi1 + d.sqrt() * xi2) * sqrt_dt;
                *xg = (*xg + (p - d) * k.dt + noise).max(0.0);
            }
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::network::Edge;

    fn kinetics(noise: f64, basal: (f64, f64)) -> Kinetics {
        Kinetics { noise, basal, ..Kinetics::default() }
    }

    fn cascade(strengths: [f64; 2], signs: [Sign; 2]) -> Network {
        Network {
            genes: vec!["A".into(), "B".into(), "C".into()],
            edges: vec![
                Edge { regulator: 0, target: 1, sign: signs[0], strength: strengths[0] },
                Edge { regulator: 1, target: 2, sign: signs[1], strength: strengths[1] },
            ],
        }
    }

    #[test]
    fn hill_has_its_shape() {
        let h = 2.0;
        assert_eq!(hill(0.0, h, 2.0, Sign::Activates), 0.0);
        assert!((hill(h, h, 2.0, Sign::Activates) - 0.5).abs() < 1e-15);
        assert!((hill(3.0 * h, h, 2.0, Sign::Activates) - 0.9).abs() < 1e-12, "9/(1+9)");
        assert!((hill(3.0 * h, h, 2.0, Sign::Represses) - 0.1).abs() < 1e-12);
        assert_eq!(hill(0.0, h, 2.0, Sign::Represses), 1.0);
        let xs: Vec<f64> = (0..50).map(|i| i as f64 * 0.3).collect();
        assert!(xs.windows(2).all(|w| hill(w[1], h, 2.0, Sign::Activates) > hill(w[0], h, 2.0, Sign::Activates)));
        assert!(hill(1e6, h, 2.0, Sign::Activates) > 1.0 - 1e-9);
    }

    /// With one basal rate for every cell, each regulator sits at its own half-response, so
    /// every Hill term is 1/2: x_A = b/λ, x_B = K₁/(2λ), x_C = K₂/(2λ), and a noiseless
    /// trajectory stays there.
    #[test]
    fn cascade_steady_state_has_its_closed_form() {
        let net = cascade([3.0, 4.0], [Sign::Activates, Sign::Represses]);
        let basal = vec![vec![2.0, 0.0, 0.0]; 5];
        let model = Model::new(&net, kinetics(0.0, (2.0, 2.0)), &basal).unwrap();
        let expected = [2.0 / 0.8, 3.0 / 1.6, 4.0 / 1.6];
        for (got, want) in model.half_response.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "half-response {got} vs {want}");
        }
        let x = model.cell(&basal[0], &mut ChaCha8Rng::seed_from_u64(1));
        for (got, want) in x.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "noiseless state {got} vs {want}");
        }
    }

    /// Basal rates that differ between cells: h_A is the mean of x_A = b/λ over the cells (not
    /// one cell's), and each cell's x_B follows its own x_A through the Hill term; a repressor
    /// turns the response around.
    #[test]
    fn half_responses_are_means_over_cells() {
        for sign in [Sign::Activates, Sign::Represses] {
            let net = cascade([3.0, 4.0], [sign, Sign::Activates]);
            let basal = vec![vec![1.0, 0.0, 0.0], vec![3.0, 0.0, 0.0]];
            let model = Model::new(&net, kinetics(0.0, (1.0, 3.0)), &basal).unwrap();
            let (a1, a2) = (1.0 / 0.8, 3.0 / 0.8);
            let h = (a1 + a2) / 2.0;
            assert!((model.half_response[0] - h).abs() < 1e-12);
            let on = |x: f64| x * x / (h * h + x * x);
            let response = |x: f64| if sign == Sign::Activates { on(x) } else { 1.0 - on(x) };
            let (b1, b2) = (3.0 * response(a1) / 0.8, 3.0 * response(a2) / 0.8);
            assert!((model.half_response[1] - (b1 + b2) / 2.0).abs() < 1e-12);
            let x = model.steady_state(&basal[1]);
            assert!((x[1] - b2).abs() < 1e-12, "{sign:?}: x_B {} vs {b2}", x[1]);
            assert_eq!(x[1] > model.half_response[1], sign == Sign::Activates, "the high-A cell's B");
        }
    }

    /// A master regulator's drift b − λx is linear and its squared noise q²(b + λx) too, so
    /// over independent cells E[x] = b/λ and, from d E[x²] = 0, Var[x] = q²·b/λ exactly
    /// (Poisson-like at q = 1; the Euler step adds a factor 1/(1 − λdt/2), 0.4% here).
    #[test]
    fn noisy_master_keeps_its_mean_and_variance() {
        let net = cascade([3.0, 4.0], [Sign::Activates, Sign::Activates]);
        let b = 8.0;
        let basal = vec![vec![b, 0.0, 0.0]; 1];
        let model = Model::new(&net, kinetics(1.0, (b, b)), &basal).unwrap();
        let cells = 4000;
        let samples: Vec<f64> = (0..cells)
            .map(|c| {
                let mut rng = ChaCha8Rng::seed_from_u64(100 + c as u64);
                model.cell(&basal[0], &mut rng)[0]
            })
            .collect();
        let mean = samples.iter().sum::<f64>() / cells as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (cells - 1) as f64;
        let (mean_want, var_want) = (b / 0.8, b / 0.8);
        let se = (var_want / cells as f64).sqrt();
        assert!((mean - mean_want).abs() < 4.0 * se, "mean {mean} vs {mean_want} (se {se})");
        assert!((var / var_want - 1.0).abs() < 0.1, "variance {var} vs {var_want}");
    }
}
