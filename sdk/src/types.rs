//! Plain data shared by every plugin kind. No tensors here: these types map one-to-one onto the
//! WIT records of the component interface.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A gene symbol as the dataset spells it (BEELINE uses upper case for every species).
pub type GeneSymbol = String;

/// A token id in a backbone's vocabulary.
pub type TokenId = u32;

/// A dense row-major `rows × cols` matrix of f32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(Error::invalid(format!(
                "matrix of {rows}×{cols} needs {} values, got {}",
                rows * cols,
                data.len()
            )));
        }
        Ok(Matrix { rows, cols, data })
    }

    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix { rows, cols, data: vec![0.0; rows * cols] }
    }

    /// A matrix whose every row is `row`.
    pub fn repeat_row(row: &[f32], rows: usize) -> Self {
        let mut data = Vec::with_capacity(row.len() * rows);
        for _ in 0..rows {
            data.extend_from_slice(row);
        }
        Matrix { rows, cols: row.len(), data }
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn row_mut(&mut self, r: usize) -> &mut [f32] {
        &mut self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn get(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }

    pub fn set(&mut self, r: usize, c: usize, v: f32) {
        self.data[r * self.cols + c] = v;
    }

    /// Rows `range` as a new matrix.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix {
        Matrix { rows: end - start, cols: self.cols, data: self.data[start * self.cols..end * self.cols].to_vec() }
    }

    /// Stacks matrices with the same column count.
    pub fn vstack(parts: &[Matrix]) -> Result<Matrix> {
        let cols = parts.first().map_or(0, |m| m.cols);
        let mut data = Vec::with_capacity(parts.iter().map(|m| m.data.len()).sum());
        for m in parts {
            if m.cols != cols {
                return Err(Error::invalid(format!("cannot stack {} columns under {cols}", m.cols)));
            }
            data.extend_from_slice(&m.data);
        }
        Ok(Matrix { rows: parts.iter().map(|m| m.rows).sum(), cols, data })
    }
}

/// A regulator → target pair as indices into the dataset's gene list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pair {
    pub source: usize,
    pub target: usize,
}

/// Pair features: one row per requested pair, one named column per feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub columns: Vec<String>,
    pub values: Matrix,
}

impl Features {
    pub fn new(columns: Vec<String>, values: Matrix) -> Result<Self> {
        if columns.len() != values.cols {
            return Err(Error::invalid(format!("{} column names for {} feature columns", columns.len(), values.cols)));
        }
        Ok(Features { columns, values })
    }

    /// Features of the rows `rows`, in that order.
    pub fn select_rows(&self, rows: &[usize]) -> Features {
        let mut data = Vec::with_capacity(rows.len() * self.values.cols);
        for &r in rows {
            data.extend_from_slice(self.values.row(r));
        }
        Features { columns: self.columns.clone(), values: Matrix { rows: rows.len(), cols: self.values.cols, data } }
    }
}

/// Features with a regulation label per row (true = the pair is a ground-truth edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabeledFeatures {
    pub features: Features,
    pub labels: Vec<bool>,
}

/// A genes × cells expression matrix in the dataset's own units (BEELINE: log-normalised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expression {
    pub cell_names: Vec<String>,
    /// rows = the dataset's genes in order, cols = cells.
    pub values: Matrix,
}

impl Expression {
    /// Mean expression of each gene over cells.
    pub fn gene_means(&self) -> Vec<f32> {
        let cols = self.values.cols.max(1) as f64;
        (0..self.values.rows)
            .map(|g| (self.values.row(g).iter().map(|&v| v as f64).sum::<f64>() / cols) as f32)
            .collect()
    }
}

/// What a probe sees of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct DatasetView<'a> {
    pub name: &'a str,
    /// Every gene of the dataset, in its canonical order; pairs index into this.
    pub genes: &'a [GeneSymbol],
    /// Absent for datasets without an expression matrix.
    pub expression: Option<&'a Expression>,
    /// Where the expression matrix would come from, for error messages.
    pub expression_source: &'a str,
}

/// One named metric value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
}

/// A curve (e.g. precision–recall) for the report's plots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub name: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<(f64, f64)>,
}

/// What an evaluator returns for one scored pair set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Evaluation {
    pub metrics: Vec<Metric>,
    pub curves: Vec<Curve>,
}

impl Evaluation {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.value)
    }
}
