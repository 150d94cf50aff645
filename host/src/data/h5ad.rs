//! AnnData `.h5ad` expression input, read with the pure-Rust `hdf5-pure` crate, so no system
//! libhdf5 or C build is needed.
//!
//! Supported: the layout anndata has written since 0.7: `X` as a dense cells × genes array or a
//! `csr_matrix`/`csc_matrix` group (`data`, `indices`, `indptr`), and `obs`/`var` dataframes whose
//! `_index` attribute names the index column, with string columns stored plainly or as
//! categoricals. Only `X` is read (not `raw` or `layers`).
//!
//! [`H5adExpression`] opens a file lazily: the genes, the cell names and X's layout are read,
//! X's values only a window at a time by [`H5adExpression::group_means`] and
//! [`H5adExpression::dense`], so an atlas far larger than memory can be averaged per group.
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use hdf5_pure::{AttrValue, Dataset, File};
use ugrn_sdk::{Expression, GeneSymbol, Matrix};

use super::{DataError, Location};

fn error(path: &Path, object: &str, reason: impl fmt::Display) -> DataError {
    DataError::file(Location::file(path).with_object(object), reason)
}

/// At most 2^32 values in one object read whole (an obs or var column) or in a dense genes ×
/// cells matrix (16 GiB of f32): beyond a whole atlas read densely (a million cells × 4,000
/// genes), yet finite. Shapes come from the file's headers, so they are checked against it
/// before anything is read or allocated.
const MAX_VALUES: u64 = 1 << 32;

/// Values of X read at a time: 1 MiB as f32 (3 MiB with a sparse matrix's indices, decoded to
/// i64), so streaming X holds a few MB of it whatever its size.
const WINDOW: usize = 1 << 18;

/// `rows × cols` when it is within [`MAX_VALUES`].
fn bounded_len(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_VALUES)
}

/// Opened streaming: reads fetch what they need from the file, never the whole file.
fn open_file(path: &Path) -> Result<File, DataError> {
    File::open_streaming(path).map_err(|e| DataError::file(Location::file(path), format!("cannot read as HDF5: {e}")))
}

/// The dataset `object`, refused when its header declares more than [`MAX_VALUES`] values.
fn dataset(file: &File, path: &Path, object: &str) -> Result<Dataset, DataError> {
    let dataset = file.dataset(object).map_err(|e| error(path, object, e))?;
    check_shape(&dataset, path, object)?;
    Ok(dataset)
}

fn check_shape(dataset: &Dataset, path: &Path, object: &str) -> Result<(), DataError> {
    let shape = dataset.shape().map_err(|e| error(path, object, e))?;
    match bounded_len(&shape) {
        Some(_) => Ok(()),
        None => Err(error(
            path,
            object,
            format!("shape {shape:?} holds more than the {MAX_VALUES} values (2^32) ugrn reads"),
        )),
    }
}

/// An `.h5ad` file's genes (var's index, or var's `gene_column`), cell names (obs's index) and
/// X, whose values stay in the file until asked for.
pub struct H5adExpression {
    path: PathBuf,
    genes: Vec<GeneSymbol>,
    cell_names: Vec<String>,
    x: X,
    /// Values per read: [`WINDOW`], or fewer in tests, to cut rows and columns across windows.
    window: usize,
}

enum X {
    /// cells × genes.
    Dense(Dataset),
    Sparse(Sparse),
}

/// A compressed sparse matrix: `indptr` cuts `indices` and `data` into one run per major, the
/// compressed axis (cells for csr_matrix, genes for csc_matrix); `indices` are the other axis.
struct Sparse {
    by_cell: bool,
    data: Dataset,
    indices: Dataset,
    /// Non-decreasing and within `data`: checked when the file is opened.
    indptr: Vec<u64>,
}

impl fmt::Debug for H5adExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = match &self.x {
            X::Dense(_) => "dense",
            X::Sparse(s) if s.by_cell => "csr_matrix",
            X::Sparse(_) => "csc_matrix",
        };
        f.debug_struct("H5adExpression")
            .field("path", &self.path)
            .field("genes", &self.genes.len())
            .field("cells", &self.cell_names.len())
            .field("x", &layout)
            .finish()
    }
}

impl H5adExpression {
    /// Reads var's gene symbols (refusing a gene named twice), obs's cell names and X's layout,
    /// checked against them; none of X's values.
    pub fn open(path: &Path, gene_column: Option<&str>) -> Result<Self, DataError> {
        let file = open_file(path)?;
        let genes = string_column(&file, path, "var", gene_column)?;
        let cell_names = string_column(&file, path, "obs", None)?;
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, gene) in genes.iter().enumerate() {
            if let Some(j) = first.insert(gene, i) {
                let column = gene_column.unwrap_or("index");
                return Err(error(path, "var", format!("gene `{gene}` is in rows {j} and {i} of var's {column}")));
            }
        }
        let x = open_x(&file, path, cell_names.len(), genes.len())?;
        Ok(H5adExpression { path: path.to_path_buf(), genes, cell_names, x, window: WINDOW })
    }

    /// The genes, in var's order; gene indices point into this.
    pub fn genes(&self) -> &[GeneSymbol] {
        &self.genes
    }

    /// How many cells X holds.
    pub fn cells(&self) -> usize {
        self.cell_names.len()
    }

    /// obs's index, in X's order; cell indices point into this.
    pub fn cell_names(&self) -> &[String] {
        &self.cell_names
    }

    /// Per group of cells (each listed ascending, once; a cell may be in several groups), the
    /// mean of each of `genes` over the group's cells: bit for bit what
    /// [`Expression::gene_means`] gives for the dense matrix of those cells (f64 sums in cell
    /// order), so -0.0 for an empty group. X is streamed a window at a time, and only the cells or
    /// genes asked for are decoded.
    pub fn group_means(&self, genes: &[usize], groups: &[Vec<usize>]) -> Result<Vec<Vec<f32>>, DataError> {
        self.check_indices(genes, "gene", self.genes.len())?;
        let cells = self.cells();
        // The groups of cell `c` are `members[start[c]..start[c + 1]]`.
        let mut start = vec![0usize; cells + 1];
        for (g, group) in groups.iter().enumerate() {
            self.check_indices(group, "cell", cells)?;
            if let Some(pair) = group.windows(2).find(|w| w[0] >= w[1]) {
                return Err(DataError::param(
                    "cell",
                    pair[1],
                    format!("comes after cell {} in group {g}; a group lists its cells ascending, each once", pair[0]),
                ));
            }
            for &c in group {
                start[c + 1] += 1;
            }
        }
        for c in 0..cells {
            start[c + 1] += start[c];
        }
        let mut members = vec![0usize; start[cells]];
        let mut next = start.clone();
        for (g, group) in groups.iter().enumerate() {
            for &c in group {
                members[next[c]] = g;
                next[c] += 1;
            }
        }

        let slot = first_positions(genes, self.genes.len());
        let width = genes.len();
        // What std's f64 sum starts from, so that sums over no values agree too.
        let empty: f64 = std::iter::empty::<f64>().sum();
        let mut sums = vec![empty; groups.len() * width];
        let mut stored = vec![0usize; groups.len() * width];
        let want_cell: Vec<bool> = (0..cells).map(|c| start[c] < start[c + 1]).collect();
        let want_gene: Vec<bool> = slot.iter().map(|&s| s != usize::MAX).collect();
        self.scan(&want_cell, &want_gene, true, |cell, gene, v| {
            for &g in &members[start[cell]..start[cell + 1]] {
                let k = g * width + slot[gene];
                sums[k] += f64::from(v);
                stored[k] += 1;
            }
        })?;
        let means = groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                genes
                    .iter()
                    .map(|&gene| {
                        let k = g * width + slot[gene];
                        // A sparse X leaves out its zeros. Adding +0.0 changes an f64 sum only
                        // while it is -0.0 (every value so far -0.0), to +0.0, and every later
                        // value then sums the same, so one +0.0 at the end stands for them all.
                        let sum = if stored[k] < group.len() { sums[k] + 0.0 } else { sums[k] };
                        (sum / group.len().max(1) as f64) as f32
                    })
                    .collect()
            })
            .collect();
        Ok(means)
    }

    /// The genes × cells matrix of `genes` (rows) at `cells` (columns), in the orders given,
    /// streamed from X; refused beyond 2^32 values.
    pub fn dense(&self, genes: &[usize], cells: &[usize]) -> Result<Matrix, DataError> {
        if bounded_len(&[genes.len() as u64, cells.len() as u64]).is_none() {
            return Err(error(
                &self.path,
                "X",
                format!(
                    "{} cells × {} genes are more than the {MAX_VALUES} values (2^32) ugrn reads densely",
                    cells.len(),
                    genes.len()
                ),
            ));
        }
        self.check_indices(genes, "gene", self.genes.len())?;
        self.check_indices(cells, "cell", self.cells())?;
        let row = first_positions(genes, self.genes.len());
        let col = first_positions(cells, self.cells());
        let want_gene: Vec<bool> = row.iter().map(|&r| r != usize::MAX).collect();
        let want_cell: Vec<bool> = col.iter().map(|&c| c != usize::MAX).collect();
        let mut values = Matrix::zeros(genes.len(), cells.len());
        self.scan(&want_cell, &want_gene, false, |cell, gene, v| values.set(row[gene], col[cell], v))?;
        // A gene or cell asked for twice was filled at its first position only.
        let width = values.cols;
        for (i, &g) in genes.iter().enumerate().filter(|&(i, &g)| row[g] != i) {
            values.data.copy_within(row[g] * width..(row[g] + 1) * width, i * width);
        }
        for (j, &c) in cells.iter().enumerate().filter(|&(j, &c)| col[c] != j) {
            for r in 0..values.rows {
                values.set(r, j, values.get(r, col[c]));
            }
        }
        Ok(values)
    }

    fn check_indices(&self, picked: &[usize], what: &'static str, len: usize) -> Result<(), DataError> {
        match picked.iter().find(|&&i| i >= len) {
            Some(&i) => {
                Err(DataError::param(what, i, format!("out of range: {} has {len} {what}s", self.path.display())))
            }
            None => Ok(()),
        }
    }

    /// Calls `visit(cell, gene, value)` for the values of X at wanted cells and genes: every one
    /// of a dense X, the stored ones of a sparse X (the others are zeros), each gene's cells
    /// ascending. A csc_matrix whose indices are not ascending within a gene cannot give that
    /// order, so it is refused when `cell_order` asks for it.
    fn scan(
        &self,
        want_cell: &[bool],
        want_gene: &[bool],
        cell_order: bool,
        mut visit: impl FnMut(usize, usize, f32),
    ) -> Result<(), DataError> {
        match &self.x {
            X::Dense(x) => self.scan_dense(x, want_cell, want_gene, &mut visit),
            X::Sparse(s) => self.scan_sparse(s, want_cell, want_gene, cell_order, &mut visit),
        }
    }

    fn scan_dense(
        &self,
        x: &Dataset,
        want_cell: &[bool],
        want_gene: &[bool],
        visit: &mut impl FnMut(usize, usize, f32),
    ) -> Result<(), DataError> {
        let genes = self.genes.len();
        let wanted: Vec<usize> = (0..genes).filter(|&g| want_gene[g]).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        // Reads are whole rows (cells), so a window holds at least one.
        let rows = (self.window / genes).max(1);
        for (first, end) in runs(want_cell, |a, b| ((b - a) * genes) as u64, self.window as u64) {
            for at in (first..end).step_by(rows) {
                let n = rows.min(end - at);
                let values = x.read_f32_rows(at as u64, n as u64).map_err(|e| error(&self.path, "X", e))?;
                if values.len() != n * genes {
                    return Err(error(
                        &self.path,
                        "X",
                        format!("rows {at}..{} read as {} values", at + n, values.len()),
                    ));
                }
                for (cell, row) in (at..).zip(values.chunks_exact(genes)) {
                    if !want_cell[cell] {
                        continue;
                    }
                    for &gene in &wanted {
                        self.check_finite(row[gene], cell, gene, "X")?;
                        visit(cell, gene, row[gene]);
                    }
                }
            }
        }
        Ok(())
    }

    fn scan_sparse(
        &self,
        s: &Sparse,
        want_cell: &[bool],
        want_gene: &[bool],
        cell_order: bool,
        visit: &mut impl FnMut(usize, usize, f32),
    ) -> Result<(), DataError> {
        let (want_major, want_minor) = if s.by_cell { (want_cell, want_gene) } else { (want_gene, want_cell) };
        if !want_minor.contains(&true) {
            return Ok(());
        }
        let name = |is_cell: bool, i: usize| {
            if is_cell {
                format!("cell {i} (`{}`)", self.cell_names[i])
            } else {
                format!("gene {i} (`{}`)", self.genes[i])
            }
        };
        // 1 + the last major whose run listed each minor: a repeat within one run shows,
        // whatever the order of its indices.
        let mut last = vec![0usize; want_minor.len()];
        for (first, end) in runs(want_major, |a, b| s.indptr[b] - s.indptr[a], self.window as u64) {
            let (mut major, mut previous) = (first, None);
            let (mut at, stop) = (s.indptr[first], s.indptr[end]);
            while at < stop {
                let n = (stop - at).min(self.window as u64);
                let indices = s.indices.read_i64_rows(at, n).map_err(|e| error(&self.path, "X/indices", e))?;
                let values = s.data.read_f32_rows(at, n).map_err(|e| error(&self.path, "X/data", e))?;
                for (object, len) in [("X/indices", indices.len()), ("X/data", values.len())] {
                    if len as u64 != n {
                        return Err(error(&self.path, object, format!("entries {at}..{} read as {len}", at + n)));
                    }
                }
                for (entry, (&index, &v)) in (at..).zip(indices.iter().zip(&values)) {
                    while s.indptr[major + 1] <= entry {
                        major += 1;
                        previous = None;
                    }
                    if !want_major[major] {
                        continue;
                    }
                    let minor = usize::try_from(index).ok().filter(|&m| m < want_minor.len()).ok_or_else(|| {
                        error(&self.path, "X/indices", format!("entry {entry} ({index}) is out of range"))
                    })?;
                    if last[minor] == major + 1 {
                        let reason = format!(
                            "{} lists {} twice (entry {entry})",
                            name(s.by_cell, major),
                            name(!s.by_cell, minor)
                        );
                        return Err(error(&self.path, "X/indices", reason));
                    }
                    last[minor] = major + 1;
                    if let Some(before) = previous.filter(|&p| cell_order && !s.by_cell && minor < p) {
                        let reason = format!(
                            "{} lists cell {minor} after cell {before} (entry {entry}); means add each gene's \
                             cells in order, so sort the indices first (scipy: X.sort_indices())",
                            name(false, major)
                        );
                        return Err(error(&self.path, "X/indices", reason));
                    }
                    previous = Some(minor);
                    if !want_minor[minor] {
                        continue;
                    }
                    let (cell, gene) = if s.by_cell { (major, minor) } else { (minor, major) };
                    self.check_finite(v, cell, gene, "X/data")?;
                    visit(cell, gene, v);
                }
                at += n;
            }
        }
        Ok(())
    }

    fn check_finite(&self, v: f32, cell: usize, gene: usize, object: &str) -> Result<(), DataError> {
        if v.is_finite() {
            return Ok(());
        }
        let reason = format!(
            "gene {gene} (`{}`) of cell {cell} (`{}`) is not a finite number",
            self.genes[gene], self.cell_names[cell]
        );
        Err(error(&self.path, object, reason))
    }
}

/// For each of `0..len`, its first position in `picked`, or `usize::MAX` where it is absent.
fn first_positions(picked: &[usize], len: usize) -> Vec<usize> {
    let mut first = vec![usize::MAX; len];
    for (i, &p) in picked.iter().enumerate().rev() {
        first[p] = i;
    }
    first
}

/// The spans of majors (rows of a dense X, runs of a sparse one) to read for the `wanted` ones:
/// each starts and ends at a wanted major, and reads on through unwanted ones when the gap holds
/// at most `window` values (`values(a, b)` of majors `a..b`), so scattered cells cost few reads.
fn runs(wanted: &[bool], values: impl Fn(usize, usize) -> u64, window: u64) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for m in (0..wanted.len()).filter(|&m| wanted[m]) {
        match runs.last_mut() {
            Some((_, end)) if values(*end, m) <= window => *end = m + 1,
            _ => runs.push((m, m + 1)),
        }
    }
    runs
}

/// X's layout, checked against obs's `cells` and var's `genes`; of a sparse X also its indptr.
fn open_x(file: &File, path: &Path, cells: usize, genes: usize) -> Result<X, DataError> {
    if file.root().datasets().map_err(|e| error(path, "/", e))?.iter().any(|d| d == "X") {
        let x = file.dataset("X").map_err(|e| error(path, "X", e))?;
        let shape = x.shape().map_err(|e| error(path, "X", e))?;
        if shape != [cells as u64, genes as u64] {
            return Err(error(path, "X", format!("shape {shape:?}, but obs has {cells} cells and var {genes} genes")));
        }
        return Ok(X::Dense(x));
    }
    let group = file.group("X").map_err(|e| error(path, "X", format!("no expression matrix: {e}")))?;
    let attrs = group.attrs().map_err(|e| error(path, "X", e))?;
    let encoding = attrs.get("encoding-type").and_then(|v| v.as_str()).unwrap_or("(none)");
    let by_cell = match encoding {
        "csr_matrix" => true,
        "csc_matrix" => false,
        other => {
            return Err(error(
                path,
                "X",
                format!("encoding-type `{other}`: expected a dense array, csr_matrix or csc_matrix"),
            ));
        }
    };
    if let Some(shape) = attrs.get("shape") {
        let dims: Option<Vec<u64>> = match shape {
            AttrValue::I64Array(d) => d.iter().map(|&d| u64::try_from(d).ok()).collect(),
            AttrValue::I32Array(d) => d.iter().map(|&d| u64::try_from(d).ok()).collect(),
            AttrValue::U64Array(d) => Some(d.clone()),
            AttrValue::U32Array(d) => Some(d.iter().map(|&d| u64::from(d)).collect()),
            _ => None,
        };
        match dims {
            Some(dims) if dims == [cells as u64, genes as u64] => {}
            Some(dims) => {
                return Err(error(
                    path,
                    "X",
                    format!("shape attribute {dims:?}, but obs has {cells} cells and var {genes} genes"),
                ));
            }
            None => return Err(error(path, "X", format!("shape attribute {shape:?} is not a list of sizes"))),
        }
    }
    // One dimension each; their lengths say nothing of memory, as they are read in windows.
    let vector = |name: &str| -> Result<(Dataset, u64), DataError> {
        let object = format!("X/{name}");
        let dataset = file.dataset(&object).map_err(|e| error(path, &object, e))?;
        match dataset.shape().map_err(|e| error(path, &object, e))?[..] {
            [n] => Ok((dataset, n)),
            ref shape => Err(error(path, &object, format!("shape {shape:?}, expected one dimension"))),
        }
    };
    let (data, values) = vector("data")?;
    let (indices, index_count) = vector("indices")?;
    let (indptr, pointers) = vector("indptr")?;
    let major = if by_cell { cells } else { genes };
    if pointers != major as u64 + 1 || index_count != values {
        return Err(error(
            path,
            "X",
            format!(
                "{encoding} with {pointers} indptr entries, {index_count} indices and {values} values does not fit \
                 {cells} cells × {genes} genes"
            ),
        ));
    }
    let raw = indptr.read_i64().map_err(|e| error(path, "X/indptr", e))?;
    let mut indptr: Vec<u64> = Vec::with_capacity(raw.len());
    for (m, &p) in raw.iter().enumerate() {
        match u64::try_from(p).ok().filter(|&p| p <= values && indptr.last().is_none_or(|&q| q <= p)) {
            Some(p) => indptr.push(p),
            None => {
                let m = m.saturating_sub(1);
                return Err(error(path, "X/indptr", format!("entries {m} and {} are out of order or range", m + 1)));
            }
        }
    }
    Ok(X::Sparse(Sparse { by_cell, data, indices, indptr }))
}

/// Gene symbols (var's index, or var's `gene_column`) and the whole genes × cells matrix.
pub(crate) fn read_h5ad(path: &Path, gene_column: Option<&str>) -> Result<(Vec<GeneSymbol>, Expression), DataError> {
    let x = H5adExpression::open(path, gene_column)?;
    let all = |n: usize| (0..n).collect::<Vec<usize>>();
    let values = x.dense(&all(x.genes.len()), &all(x.cells()))?;
    Ok((x.genes, Expression { cell_names: x.cell_names, values }))
}

/// The `obs` column `column` (strings or a categorical of strings), one value per cell.
pub(crate) fn read_obs_column(path: &Path, column: &str) -> Result<Vec<String>, DataError> {
    string_column(&open_file(path)?, path, "obs", Some(column))
}

/// A string column of the `obs` or `var` dataframe; `None` means the index.
fn string_column(file: &File, path: &Path, frame: &str, column: Option<&str>) -> Result<Vec<String>, DataError> {
    let group = file
        .group(frame)
        .map_err(|e| error(path, frame, format!("not an AnnData file written by anndata 0.7 or later: {e}")))?;
    let attrs = group.attrs().map_err(|e| error(path, frame, e))?;
    let name = match column {
        Some(c) => c.to_string(),
        None => attrs.get("_index").and_then(|v| v.as_str()).unwrap_or("_index").to_string(),
    };
    let object = format!("{frame}/{name}");
    let plain = group.datasets().map_err(|e| error(path, frame, e))?;
    let grouped = group.groups().map_err(|e| error(path, frame, e))?;
    if plain.contains(&name) {
        return dataset(file, path, &object)?.read_string().map_err(|e| error(path, &object, e));
    }
    if !grouped.contains(&name) {
        let mut columns: Vec<&String> = plain.iter().chain(&grouped).collect();
        columns.sort();
        let listed: Vec<&str> = columns.iter().map(|c| c.as_str()).collect();
        return Err(error(path, frame, format!("no column `{name}` (columns: {})", listed.join(", "))));
    }
    // A categorical column: integer codes into a list of category strings, -1 for missing.
    let not_categorical = |e| error(path, &object, format!("neither strings nor a categorical of strings: {e}"));
    let (codes_object, categories_object) = (format!("{object}/codes"), format!("{object}/categories"));
    let codes = file.dataset(&codes_object);
    let categories = file.dataset(&categories_object);
    let (codes, categories) = codes.and_then(|c| Ok((c, categories?))).map_err(not_categorical)?;
    check_shape(&codes, path, &codes_object)?;
    check_shape(&categories, path, &categories_object)?;
    let codes = codes.read_i64().map_err(not_categorical)?;
    let categories = categories.read_string().map_err(not_categorical)?;
    codes
        .iter()
        .enumerate()
        .map(|(row, &code)| {
            usize::try_from(code)
                .ok()
                .and_then(|c| categories.get(c).cloned())
                .ok_or_else(|| error(path, &object, format!("row {row} has no value (code {code})")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use hdf5_pure::FileBuilder;

    use super::*;
    use crate::grn_h5ad::{Column, dataframe, encoding};

    /// Fixtures written by the real anndata package: see testdata/make_h5ad.py.
    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data/testdata").join(name)
    }

    fn expected() -> Matrix {
        // The script's 3 cells × 4 genes matrix, transposed.
        Matrix::new(4, 3, vec![1.5, 0.0, 4.0, 0.0, 0.0, 0.5, 0.0, 3.0, 0.0, 2.0, 0.0, 0.0]).unwrap()
    }

    #[test]
    fn reads_dense_csr_and_csc_x() {
        for name in ["dense.h5ad", "csr.h5ad"] {
            let (genes, e) = read_h5ad(&fixture(name), None).unwrap();
            assert_eq!(genes, vec!["GATA1", "SPI1", "MYC", "CEBPA"], "{name}");
            assert_eq!(e.cell_names, vec!["cell_a", "cell_b", "cell_c"], "{name}");
            assert_eq!(e.values, expected(), "{name}");
        }
        let (ids, e) = read_h5ad(&fixture("csc_feature_name.h5ad"), None).unwrap();
        assert_eq!(ids, vec!["ENSG01", "ENSG02", "ENSG03", "ENSG04"]);
        assert_eq!(e.values, expected());
    }

    #[test]
    fn gene_symbols_from_a_categorical_var_column() {
        let (genes, _) = read_h5ad(&fixture("csc_feature_name.h5ad"), Some("feature_name")).unwrap();
        assert_eq!(genes, vec!["GATA1", "SPI1", "MYC", "CEBPA"]);
    }

    #[test]
    fn unknown_gene_column_lists_the_columns() {
        let path = fixture("csc_feature_name.h5ad");
        let e = read_h5ad(&path, Some("gene_symbols")).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}, object `var`: no column `gene_symbols` (columns: _index, feature_name)", path.display())
        );
    }

    /// dense.h5ad with the dimensions at `at` (a dataspace's current and maximum sizes, which
    /// hold `was`) set to 2^40.
    fn with_huge_dimension(dir: &Path, at: usize, was: &[u64]) -> PathBuf {
        let mut bytes = std::fs::read(fixture("dense.h5ad")).unwrap();
        let old: Vec<u8> = was.iter().flat_map(|d| d.to_le_bytes()).collect();
        assert_eq!(&bytes[at..at + old.len()], &old[..], "the fixture's layout changed: see make_h5ad.py");
        bytes[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        let path = dir.join("huge.h5ad");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn shapes_beyond_the_bound_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        // var's index: a rank-1 dataspace (version 1, with maximum sizes) of 4 names.
        let path = with_huge_dimension(dir.path(), 10520 + 8, &[4, 4]);
        let e = read_h5ad(&path, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}, object `var/_index`: shape [1099511627776] holds more than the 4294967296 values (2^32) ugrn reads",
                path.display()
            )
        );
        // X: 3 cells × 4 genes. X is read in windows, so its size is checked against obs's.
        let path = with_huge_dimension(dir.path(), 1024, &[3, 4]);
        let e = H5adExpression::open(&path, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}, object `X`: shape [1099511627776, 4], but obs has 3 cells and var 4 genes", path.display())
        );
    }

    #[test]
    fn non_hdf5_input_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.h5ad");
        std::fs::write(&path, ",c1\nA,1\n").unwrap();
        let e = read_h5ad(&path, None).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: cannot read as HDF5: ", path.display())), "{e}");
    }

    /// A sparse X's arrays, written as given, bad ones included.
    struct SparseX {
        encoding: &'static str,
        data: Vec<f32>,
        indices: Vec<i64>,
        indptr: Vec<i64>,
        /// The `shape` attribute, when not obs × var.
        shape: Option<Vec<i64>>,
    }

    enum TestX<'a> {
        /// cells × genes, row-major.
        Dense(&'a [f32]),
        Sparse(SparseX),
    }

    /// Writes an AnnData file of `cells` × `genes` holding `x`, as anndata lays it out.
    fn write_h5ad(path: &Path, genes: &[&str], cells: &[&str], x: TestX) {
        let mut file = FileBuilder::new();
        encoding(|k, v| file.set_attr(k, v), "anndata", "0.1.0");
        for (frame, index) in [("obs", cells), ("var", genes)] {
            let mut group = file.create_group(frame);
            dataframe(&mut group, &Column::Strings(index.to_vec()), &[]);
            file.add_group(group.finish());
        }
        let shape = [cells.len() as u64, genes.len() as u64];
        match x {
            TestX::Dense(values) => {
                let dataset = file.create_dataset("X");
                dataset.with_f32_data(values).with_shape(&shape);
                encoding(
                    |k, v| {
                        dataset.set_attr(k, v);
                    },
                    "array",
                    "0.2.0",
                );
            }
            TestX::Sparse(sparse) => {
                let mut group = file.create_group("X");
                encoding(|k, v| group.set_attr(k, v), sparse.encoding, "0.1.0");
                let shape = sparse.shape.unwrap_or_else(|| shape.map(|d| d as i64).to_vec());
                group.set_attr("shape", AttrValue::I64Array(shape));
                group.create_dataset("data").with_f32_data(&sparse.data);
                group.create_dataset("indices").with_i64_data(&sparse.indices);
                group.create_dataset("indptr").with_i64_data(&sparse.indptr);
                file.add_group(group.finish());
            }
        }
        file.write(path).unwrap();
    }

    /// `x` (cells × genes, row-major) compressed by cell (csr) or by gene (csc), keeping every
    /// value but +0.0, so the explicit -0.0 a sparse matrix may hold is stored too.
    fn compress(x: &[f32], genes: usize, by_cell: bool) -> SparseX {
        let cells = x.len() / genes;
        let (majors, minors) = if by_cell { (cells, genes) } else { (genes, cells) };
        let mut sparse = SparseX {
            encoding: if by_cell { "csr_matrix" } else { "csc_matrix" },
            data: Vec::new(),
            indices: Vec::new(),
            indptr: vec![0],
            shape: None,
        };
        for major in 0..majors {
            for minor in 0..minors {
                let (cell, gene) = if by_cell { (major, minor) } else { (minor, major) };
                let v = x[cell * genes + gene];
                if v.to_bits() != 0 {
                    sparse.data.push(v);
                    sparse.indices.push(minor as i64);
                }
            }
            sparse.indptr.push(sparse.data.len() as i64);
        }
        sparse
    }

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn strs(names: &[String]) -> Vec<&str> {
        names.iter().map(String::as_str).collect()
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// 13 cells × 9 genes, most values zero, the others of magnitudes 10^-6 to 10^8, so an f64
    /// sum depends on its order. Gene 0 is -0.0 but in cell 1 (+0.0); gene 1 is all zeros.
    fn random_matrix() -> (usize, usize, Vec<f32>) {
        let (cells, genes) = (13, 9);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut x = vec![0.0f32; cells * genes];
        for cell in 0..cells {
            for gene in 0..genes {
                let (zero, value, scale) = (next(), next(), next());
                x[cell * genes + gene] = match gene {
                    0 if cell == 1 => 0.0,
                    0 => -0.0,
                    1 => 0.0,
                    _ if zero < 0.5 => 0.0,
                    _ => ((value - 0.5) * [1e-6, 1.0, 1e8][(scale * 3.0) as usize]) as f32,
                };
            }
        }
        (cells, genes, x)
    }

    /// The three layouts of one matrix give the same means, bit for bit those of
    /// `Expression::gene_means` on the dense cells of each group, and the same dense blocks,
    /// whether X is read whole or two values at a time (less than one row or column).
    #[test]
    fn dense_csr_and_csc_give_the_same_means_and_values_at_any_window() {
        let (cells, genes, x) = random_matrix();
        let dir = tempfile::tempdir().unwrap();
        let (gene_names, cell_names) = (names("G", genes), names("c", cells));
        let layouts = [
            ("dense", TestX::Dense(&x)),
            ("csr", TestX::Sparse(compress(&x, genes, true))),
            ("csc", TestX::Sparse(compress(&x, genes, false))),
        ];
        let groups: Vec<Vec<usize>> =
            vec![(0..cells).step_by(3).collect(), (0..cells).collect(), vec![], vec![5], vec![1, 2, 11, 12]];
        let asked = [4, 0, 8, 1, 4, 2, 7];
        let value = |cell: usize, gene: usize| x[cell * genes + gene];
        let expected: Vec<Vec<u32>> = groups
            .iter()
            .map(|group| {
                let data = asked.iter().flat_map(|&g| group.iter().map(move |&c| value(c, g))).collect();
                let values = Matrix::new(asked.len(), group.len(), data).unwrap();
                bits(&Expression { cell_names: vec![String::new(); group.len()], values }.gene_means())
            })
            .collect();
        // The data is worth the test: summing any gene of all cells backwards differs somewhere.
        let sum = |cells: &mut dyn Iterator<Item = usize>, g: usize| cells.map(|c| f64::from(value(c, g))).sum::<f64>();
        assert!((0..genes).any(|g| sum(&mut (0..cells), g) != sum(&mut (0..cells).rev(), g)));
        // Gene 0: -0.0 over every third cell, +0.0 where cell 1 is in the group.
        assert_eq!((expected[0][1], expected[1][1]), ((-0.0f32).to_bits(), 0.0f32.to_bits()));

        let (block_genes, block_cells) = ([6, 0, 6, 3], [12, 1, 1, 0, 7]);
        let block: Vec<f32> = block_genes.iter().flat_map(|&g| block_cells.iter().map(move |&c| value(c, g))).collect();
        let whole: Vec<f32> = (0..genes).flat_map(|g| (0..cells).map(move |c| value(c, g))).collect();
        for (name, layout) in layouts {
            let path = dir.path().join(format!("{name}.h5ad"));
            write_h5ad(&path, &strs(&gene_names), &strs(&cell_names), layout);
            let (read_genes, read) = read_h5ad(&path, None).unwrap();
            assert_eq!((read_genes, &read.cell_names), (gene_names.clone(), &cell_names), "{name}");
            assert_eq!(bits(&read.values.data), bits(&whole), "{name}");
            let mut h5ad = H5adExpression::open(&path, None).unwrap();
            assert_eq!((h5ad.genes(), h5ad.cells(), h5ad.cell_names()), (&gene_names[..], cells, &cell_names[..]));
            for window in [WINDOW, 2] {
                h5ad.window = window;
                let means = h5ad.group_means(&asked, &groups).unwrap();
                assert_eq!(means.iter().map(|m| bits(m)).collect::<Vec<_>>(), expected, "{name}, window {window}");
                let dense = h5ad.dense(&block_genes, &block_cells).unwrap();
                assert_eq!((dense.rows, dense.cols), (4, 5));
                assert_eq!(bits(&dense.data), bits(&block), "{name}, window {window}");
            }
        }
    }

    /// 3 cells × 4 genes in `encoding`, with the arrays given.
    fn small_sparse(dir: &Path, encoding: &'static str, data: &[f32], indices: &[i64], indptr: &[i64]) -> PathBuf {
        let path = dir.join(format!("{encoding}.h5ad"));
        let sparse =
            SparseX { encoding, data: data.to_vec(), indices: indices.to_vec(), indptr: indptr.to_vec(), shape: None };
        write_h5ad(&path, &["A", "B", "C", "D"], &["x", "y", "z"], TestX::Sparse(sparse));
        path
    }

    #[test]
    fn unsorted_csc_indices_are_refused_for_means_only() {
        let dir = tempfile::tempdir().unwrap();
        // Gene B lists cell 2 before cell 0.
        let path = small_sparse(dir.path(), "csc_matrix", &[1.0, 2.0, 3.0, 4.0], &[1, 2, 0, 1], &[0, 1, 3, 3, 4]);
        let h5ad = H5adExpression::open(&path, None).unwrap();
        let e = h5ad.group_means(&[1], &[vec![0, 1, 2]]).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}, object `X/indices`: gene 1 (`B`) lists cell 0 after cell 2 (entry 2); means add each gene's \
                 cells in order, so sort the indices first (scipy: X.sort_indices())",
                path.display()
            )
        );
        // Placing values needs no order.
        let dense = h5ad.dense(&[0, 1, 3], &[0, 1, 2]).unwrap();
        assert_eq!(dense.data, vec![0.0, 1.0, 0.0, 3.0, 0.0, 2.0, 0.0, 4.0, 0.0]);
        // Within a csr_matrix's row the order of genes does not matter to a gene's sum.
        let path = small_sparse(dir.path(), "csr_matrix", &[1.0, 2.0, 3.0], &[3, 0, 1], &[0, 2, 2, 3]);
        let means = H5adExpression::open(&path, None).unwrap().group_means(&[0, 1, 3], &[vec![0, 1, 2]]).unwrap();
        assert_eq!(means, vec![vec![2.0 / 3.0, 1.0, 1.0 / 3.0]]);
    }

    #[test]
    fn bad_indptr_and_indices_name_the_object() {
        let dir = tempfile::tempdir().unwrap();
        let refusal = |encoding, data: &[f32], indices: &[i64], indptr: &[i64]| {
            let path = small_sparse(dir.path(), encoding, data, indices, indptr);
            let e = match H5adExpression::open(&path, None) {
                Ok(h5ad) => {
                    let means = h5ad.group_means(&[0, 1, 2, 3], &[vec![0, 1, 2]]).unwrap_err();
                    assert_eq!(h5ad.dense(&[0, 1, 2, 3], &[0, 1, 2]).unwrap_err(), means, "{encoding}");
                    means
                }
                Err(e) => e,
            };
            let text = e.to_string();
            let prefix = format!("{}, ", path.display());
            text.strip_prefix(&prefix).unwrap_or_else(|| panic!("{text} names another file")).to_string()
        };
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0], &[0, 1], &[0, 2, 1, 2]),
            "object `X/indptr`: entries 1 and 2 are out of order or range"
        );
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0], &[0, 1], &[0, 1, 2, 3]),
            "object `X/indptr`: entries 2 and 3 are out of order or range"
        );
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0], &[0, 1], &[-1, 1, 2, 2]),
            "object `X/indptr`: entries 0 and 1 are out of order or range"
        );
        assert_eq!(
            refusal("csc_matrix", &[1.0, 2.0], &[0, 1], &[0, 1, 2, 2]),
            "object `X`: csc_matrix with 4 indptr entries, 2 indices and 2 values does not fit 3 cells × 4 genes"
        );
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0], &[0], &[0, 1, 2, 2]),
            "object `X`: csr_matrix with 4 indptr entries, 1 indices and 2 values does not fit 3 cells × 4 genes"
        );
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0], &[0, 4], &[0, 1, 2, 2]),
            "object `X/indices`: entry 1 (4) is out of range"
        );
        assert_eq!(
            refusal("csc_matrix", &[1.0, 2.0], &[0, -2], &[0, 1, 2, 2, 2]),
            "object `X/indices`: entry 1 (-2) is out of range"
        );
        assert_eq!(
            refusal("csr_matrix", &[1.0, 2.0, 3.0], &[0, 2, 2], &[0, 1, 3, 3]),
            "object `X/indices`: cell 1 (`y`) lists gene 2 (`C`) twice (entry 2)"
        );
        assert_eq!(
            refusal("csc_matrix", &[1.0, f32::NAN], &[0, 2], &[0, 1, 1, 2, 2]),
            "object `X/data`: gene 2 (`C`) of cell 2 (`z`) is not a finite number"
        );
    }

    #[test]
    fn non_finite_dense_values_name_gene_and_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dense.h5ad");
        let x = [0.0, 1.0, 2.0, f32::INFINITY, 4.0, 5.0];
        write_h5ad(&path, &["A", "B", "C"], &["x", "y"], TestX::Dense(&x));
        let e = read_h5ad(&path, None).unwrap_err().to_string();
        assert_eq!(e, format!("{}, object `X`: gene 0 (`A`) of cell 1 (`y`) is not a finite number", path.display()));
        // Genes not asked for are not read.
        let h5ad = H5adExpression::open(&path, None).unwrap();
        assert_eq!(h5ad.group_means(&[2, 1], &[vec![0, 1]]).unwrap(), vec![vec![3.5, 2.5]]);
    }

    #[test]
    fn a_shape_attribute_must_match_obs_and_var() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shape.h5ad");
        let mut sparse = compress(&[1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0], 4, true);
        sparse.shape = Some(vec![3, 5]);
        write_h5ad(&path, &["A", "B", "C", "D"], &["x", "y", "z"], TestX::Sparse(sparse));
        let e = H5adExpression::open(&path, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}, object `X`: shape attribute [3, 5], but obs has 3 cells and var 4 genes", path.display())
        );
    }

    #[test]
    fn requests_outside_the_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = small_sparse(dir.path(), "csr_matrix", &[1.0], &[0], &[0, 1, 1, 1]);
        let h5ad = H5adExpression::open(&path, None).unwrap();
        let p = path.display();
        let e = h5ad.group_means(&[4], &[vec![0]]).unwrap_err().to_string();
        assert_eq!(e, format!("gene `4`: out of range: {p} has 4 genes"));
        let e = h5ad.dense(&[0], &[3]).unwrap_err().to_string();
        assert_eq!(e, format!("cell `3`: out of range: {p} has 3 cells"));
        let e = h5ad.group_means(&[0], &[vec![0, 1], vec![2, 1]]).unwrap_err().to_string();
        assert_eq!(e, "cell `1`: comes after cell 2 in group 1; a group lists its cells ascending, each once");
    }

    /// A million cells × 50,000 genes declared, three values stored: opening reads no values,
    /// the dense matrix is refused by its size, and means stream.
    #[test]
    fn an_atlas_sized_sparse_x_opens_lazily() {
        let (cells, genes) = (1_000_000, 50_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("atlas.h5ad");
        let mut indptr = vec![0i64; cells + 1];
        // (cell 0, gene 7) = 2, (cell 500,000, gene 49,999) = -1, (cell 999,999, gene 7) = 4.
        let stored = [(0, 7, 2.0), (500_000, 49_999, -1.0), (999_999, 7, 4.0)];
        for &(cell, _, _) in &stored {
            for p in &mut indptr[cell + 1..] {
                *p += 1;
            }
        }
        let sparse = SparseX {
            encoding: "csr_matrix",
            data: stored.iter().map(|s| s.2).collect(),
            indices: stored.iter().map(|s| s.1 as i64).collect(),
            indptr,
            shape: None,
        };
        let (gene_names, cell_names) = (names("G", genes), names("c", cells));
        write_h5ad(&path, &strs(&gene_names), &strs(&cell_names), TestX::Sparse(sparse));

        let h5ad = H5adExpression::open(&path, None).unwrap();
        assert_eq!((h5ad.genes().len(), h5ad.cells(), h5ad.cell_names()[999_999].as_str()), (genes, cells, "c999999"));
        let all = |n: usize| (0..n).collect::<Vec<usize>>();
        let e = h5ad.dense(&all(genes), &all(cells)).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}, object `X`: 1000000 cells × 50000 genes are more than the 4294967296 values (2^32) ugrn reads \
                 densely",
                path.display()
            )
        );
        let means = h5ad.group_means(&[7, 49_999, 3], &[all(cells), vec![0, 500_000]]).unwrap();
        let mean = |sum: f64, n: f64| (sum / n) as f32;
        assert_eq!(means, vec![vec![mean(6.0, 1e6), mean(-1.0, 1e6), 0.0], vec![1.0, -0.5, 0.0]]);
        let dense = h5ad.dense(&[7, 49_999], &[0, 500_000, 999_999]).unwrap();
        assert_eq!(dense.data, vec![2.0, 0.0, 4.0, 0.0, -1.0, 0.0]);
    }
}
