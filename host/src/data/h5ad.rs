//! AnnData `.h5ad` expression input, read with the pure-Rust `hdf5-pure` crate, so no system
//! libhdf5 or C build is needed.
//!
//! Supported: the layout anndata has written since 0.7: `X` as a dense cells × genes array or a
//! `csr_matrix`/`csc_matrix` group (`data`, `indices`, `indptr`), and `obs`/`var` dataframes whose
//! `_index` attribute names the index column, with string columns stored plainly or as
//! categoricals. Only `X` is read (not `raw` or `layers`).
use std::collections::HashMap;
use std::path::Path;

use hdf5_pure::{Dataset, File};
use ugrn_sdk::{Expression, GeneSymbol, Matrix};

use super::{DataError, Location};

fn error(path: &Path, object: &str, reason: impl std::fmt::Display) -> DataError {
    DataError::file(Location::file(path).with_object(object), reason)
}

/// At most 2^32 values in one object or in the dense genes × cells matrix (16 GiB of f32):
/// beyond a whole atlas read densely (a million cells × 4,000 genes), yet finite. Shapes come
/// from the file's headers, so they are checked against it before anything is read or allocated.
const MAX_VALUES: u64 = 1 << 32;

/// `rows × cols` when it is within [`MAX_VALUES`].
fn bounded_len(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d)).filter(|&n| n <= MAX_VALUES)
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

/// Gene symbols (var's index, or var's `gene_column`) and the genes × cells matrix.
pub(crate) fn read_h5ad(path: &Path, gene_column: Option<&str>) -> Result<(Vec<GeneSymbol>, Expression), DataError> {
    let file =
        File::open(path).map_err(|e| DataError::file(Location::file(path), format!("cannot read as HDF5: {e}")))?;
    let genes = string_column(&file, path, "var", gene_column)?;
    let cell_names = string_column(&file, path, "obs", None)?;
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, gene) in genes.iter().enumerate() {
        if let Some(j) = first.insert(gene, i) {
            let column = gene_column.unwrap_or("index");
            return Err(error(path, "var", format!("gene `{gene}` is in rows {j} and {i} of var's {column}")));
        }
    }
    let values = read_x(&file, path, cell_names.len(), genes.len())?;
    Ok((genes, Expression { cell_names, values }))
}

/// The `obs` column `column` (strings or a categorical of strings), one value per cell.
pub(crate) fn read_obs_column(path: &Path, column: &str) -> Result<Vec<String>, DataError> {
    let file =
        File::open(path).map_err(|e| DataError::file(Location::file(path), format!("cannot read as HDF5: {e}")))?;
    string_column(&file, path, "obs", Some(column))
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

/// `X` as a genes × cells matrix (AnnData stores cells × genes).
fn read_x(file: &File, path: &Path, cells: usize, genes: usize) -> Result<Matrix, DataError> {
    let root = file.root();
    if bounded_len(&[genes as u64, cells as u64]).is_none() {
        return Err(error(
            path,
            "X",
            format!("{cells} cells × {genes} genes are more than the {MAX_VALUES} values (2^32) ugrn reads densely"),
        ));
    }
    let mut values = Matrix::zeros(genes, cells);
    if root.datasets().map_err(|e| error(path, "/", e))?.iter().any(|d| d == "X") {
        let x = dataset(file, path, "X")?;
        let shape = x.shape().map_err(|e| error(path, "X", e))?;
        if shape != [cells as u64, genes as u64] {
            return Err(error(path, "X", format!("shape {shape:?}, but obs has {cells} cells and var {genes} genes")));
        }
        let dense = x.read_f32().map_err(|e| error(path, "X", e))?;
        for (k, &v) in dense.iter().enumerate() {
            values.set(k % genes, k / genes, v);
        }
    } else {
        let group = file.group("X").map_err(|e| error(path, "X", format!("no expression matrix: {e}")))?;
        let attrs = group.attrs().map_err(|e| error(path, "X", e))?;
        let encoding = attrs.get("encoding-type").and_then(|v| v.as_str()).unwrap_or("(none)");
        // Compressed rows are cells (CSR) or genes (CSC); the other axis is in `indices`.
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
        let read = |name: &str| dataset(file, path, &format!("X/{name}"));
        let data = read("data")?.read_f32().map_err(|e| error(path, "X/data", e))?;
        let indices = read("indices")?.read_i64().map_err(|e| error(path, "X/indices", e))?;
        let indptr = read("indptr")?.read_i64().map_err(|e| error(path, "X/indptr", e))?;
        let (major, minor) = if by_cell { (cells, genes) } else { (genes, cells) };
        if indptr.len() != major + 1 || indices.len() != data.len() {
            return Err(error(
                path,
                "X",
                format!(
                    "{encoding} with {} indptr entries, {} indices and {} values does not fit {cells} cells × {genes} genes",
                    indptr.len(),
                    indices.len(),
                    data.len()
                ),
            ));
        }
        for m in 0..major {
            let span = usize::try_from(indptr[m]).ok().zip(usize::try_from(indptr[m + 1]).ok());
            let (start, end) = match span {
                Some((s, e)) if s <= e && e <= data.len() => (s, e),
                _ => {
                    return Err(error(
                        path,
                        "X/indptr",
                        format!("entries {m} and {} are out of order or range", m + 1),
                    ));
                }
            };
            for k in start..end {
                let n = match usize::try_from(indices[k]) {
                    Ok(n) if n < minor => n,
                    _ => return Err(error(path, "X/indices", format!("entry {k} ({}) is out of range", indices[k]))),
                };
                let (cell, gene) = if by_cell { (m, n) } else { (n, m) };
                values.set(gene, cell, data[k]);
            }
        }
    }
    if let Some(k) = values.data.iter().position(|v| !v.is_finite()) {
        return Err(error(path, "X", format!("gene {} of cell {} is not a finite number", k / cells, k % cells)));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

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
        // X: 3 cells × 4 genes.
        let path = with_huge_dimension(dir.path(), 1024, &[3, 4]);
        let e = read_h5ad(&path, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}, object `X`: shape [1099511627776, 4] holds more than the 4294967296 values (2^32) ugrn reads",
                path.display()
            )
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
}
