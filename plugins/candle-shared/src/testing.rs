//! What the backbones' tests share (feature `testing`, for their dev-dependency only): reading
//! a fixture's `cases.json`, comparing results with a reference, and a seeded generator.
use candle_core::{DType, Tensor};

/// `(abs, rel)` from a fixture's `cases.json`.
pub fn tolerance(cases: &serde_json::Value) -> (f64, f64) {
    (cases["tolerance"]["abs"].as_f64().unwrap(), cases["tolerance"]["rel"].as_f64().unwrap())
}

/// The numbers of a nested JSON array, flattened.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    match v {
        serde_json::Value::Array(items) => items.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().unwrap_or_else(|| panic!("not a number: {other}"))],
    }
}

pub fn ints(v: &serde_json::Value) -> Vec<u32> {
    floats(v).into_iter().map(|x| x as u32).collect()
}

/// Outer dimensions of a nested JSON array.
pub fn shape(v: &serde_json::Value) -> Vec<usize> {
    let mut dims = Vec::new();
    let mut cur = v;
    while let serde_json::Value::Array(items) = cur {
        dims.push(items.len());
        match items.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    dims
}

pub fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

/// Every element within `abs + rel·|expected|`.
pub fn assert_close(what: &str, got: &[f64], expected: &[f64], (abs, rel): (f64, f64)) {
    assert_eq!(got.len(), expected.len(), "{what}: {} values, expected {}", got.len(), expected.len());
    let mut worst = (0.0f64, 0usize);
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let excess = (g - e).abs() - (abs + rel * e.abs());
        // NaN fails the comparison, so it counts as the worst excess.
        let excess = if excess.is_nan() { f64::INFINITY } else { excess };
        if excess > worst.0 {
            worst = (excess, i);
        }
    }
    let i = worst.1;
    assert!(
        worst.0 <= 0.0,
        "{what}: element {i} is {} but expected {} (tolerance {abs} + {rel}·|e|)",
        got[i],
        expected[i]
    );
}

/// How close a result must be to its reference.
#[derive(Debug, Clone, Copy)]
pub enum Closeness {
    /// Every element within `abs + rel·|expected|`.
    Elementwise(f64, f64),
    /// Every error within this fraction of the reference's largest magnitude. For bf16: with 8
    /// significant bits a per-element relative bound means nothing for values near zero.
    Scaled(f64),
}

impl Closeness {
    /// The per-element tolerance of a fixture's `cases.json`.
    pub fn of_cases(cases: &serde_json::Value) -> Closeness {
        let (abs, rel) = tolerance(cases);
        Closeness::Elementwise(abs, rel)
    }

    pub fn check(self, what: &str, got: &[f64], expected: &[f64]) {
        match self {
            Closeness::Elementwise(abs, rel) => assert_close(what, got, expected, (abs, rel)),
            Closeness::Scaled(bound) => {
                let scale = expected.iter().fold(0.0f64, |m, e| m.max(e.abs()));
                assert_close(&format!("{what} (scale {scale:.3e})"), got, expected, (bound * scale, 0.0));
            }
        }
    }
}

/// A small xorshift generator, so random tests are reproducible without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `k` distinct values from `lo..hi`.
    pub fn distinct(&mut self, k: usize, lo: usize, hi: usize) -> Vec<u32> {
        let mut picked: Vec<u32> = Vec::new();
        while picked.len() < k {
            let g = (lo + self.below(hi - lo)) as u32;
            if !picked.contains(&g) {
                picked.push(g);
            }
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closeness_fails_outside_its_bound_only() {
        Closeness::Elementwise(0.1, 0.0).check("within", &[1.05], &[1.0]);
        Closeness::Scaled(0.01).check("within", &[0.0, 10.05], &[0.09, 10.0]);
        let outside = std::panic::catch_unwind(|| Closeness::Scaled(0.01).check("x", &[0.0, 10.0], &[0.2, 10.0]));
        let message = *outside.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(message, "x (scale 1.000e1): element 0 is 0 but expected 0.2 (tolerance 0.1 + 0·|e|)");
        assert!(std::panic::catch_unwind(|| assert_close("nan", &[f64::NAN], &[1.0], (1.0, 1.0))).is_err());
    }
}
