//! What the backbones' tests share (feature `testing`, for their dev-dependency only): reading
//! a fixture's `cases.json`, comparing results with a reference, a seeded generator, and writing
//! tensors as a PyTorch checkpoint.
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

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

/// Writes `tensors` as a PyTorch zip checkpoint, the format `torch.save(state_dict)` writes:
/// `archive/data.pkl` holds an OrderedDict of `torch._utils._rebuild_tensor_v2(...)` calls whose
/// storages are the raw little-endian files `archive/data/<key>`. Each tensor keeps its dtype
/// (f32, f64, i32 or i64), so tests can store a weight as PyTorch would store an integer buffer.
pub fn write_pytorch_checkpoint(path: &Path, tensors: &HashMap<String, Tensor>) {
    fn unicode(p: &mut Vec<u8>, s: &str) {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    }
    fn int(p: &mut Vec<u8>, i: usize) {
        p.push(b'J');
        p.extend_from_slice(&(i as i32).to_le_bytes());
    }
    fn tuple(p: &mut Vec<u8>, items: &[usize]) {
        p.push(b'(');
        items.iter().for_each(|&i| int(p, i));
        p.push(b't');
    }
    /// PyTorch's storage class for the tensor's dtype and its elements as little-endian bytes.
    fn storage(t: &Tensor) -> (&'static str, Vec<u8>) {
        let flat = t.flatten_all().unwrap();
        match t.dtype() {
            DType::F32 => {
                ("FloatStorage", flat.to_vec1::<f32>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            DType::F64 => {
                ("DoubleStorage", flat.to_vec1::<f64>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            DType::I32 => ("IntStorage", flat.to_vec1::<i32>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect()),
            DType::I64 => {
                ("LongStorage", flat.to_vec1::<i64>().unwrap().iter().flat_map(|x| x.to_le_bytes()).collect())
            }
            other => panic!("no PyTorch storage written for {other:?}"),
        }
    }
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let mut pkl = b"\x80\x02ccollections\nOrderedDict\n)R(".to_vec();
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (key, name) in names.into_iter().enumerate() {
        let t = &tensors[name];
        let dims = t.dims().to_vec();
        let mut strides = vec![1usize; dims.len()];
        for i in (0..dims.len().saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * dims[i + 1];
        }
        let (class, bytes) = storage(t);
        unicode(&mut pkl, name);
        pkl.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        pkl.push(b'(');
        unicode(&mut pkl, "storage");
        pkl.extend_from_slice(format!("ctorch\n{class}\n").as_bytes());
        unicode(&mut pkl, &key.to_string());
        unicode(&mut pkl, "cpu");
        int(&mut pkl, t.elem_count());
        pkl.extend_from_slice(b"tQ");
        int(&mut pkl, 0);
        tuple(&mut pkl, &dims);
        tuple(&mut pkl, &strides);
        pkl.extend_from_slice(b"\x89ccollections\nOrderedDict\n)RtR");
        zip.start_file(format!("archive/data/{key}"), options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    pkl.extend_from_slice(b"u.");
    zip.start_file("archive/data.pkl", options).unwrap();
    zip.write_all(&pkl).unwrap();
    zip.start_file("archive/version", options).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap();
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
