//! An inferred gene regulatory network as an AnnData `.h5ad` file, written with the pure-Rust
//! `hdf5-pure` crate, so the network opens in anndata/scanpy without a libhdf5 build here.
//!
//! The layout follows anndata's on-disk format: no cells and no `X`; `var` indexed by the genes;
//! `varp["GRN"]` a genes × genes `csr_matrix` of edge scores (row = TF, column = target); and
//! `uns["grn_edges"]` the ranked edge list as a dataframe (TF, target, score, logit, rank).
//!
//! The unit tests read the file back with `hdf5-pure`. One ignored test reads it with the real
//! anndata; run it with a python that has anndata installed:
//! `UGRN_ANNDATA_PYTHON=/path/to/python cargo test -p ugrn --lib grn_h5ad -- --ignored`.
use std::path::Path;

use anyhow::{Context, bail};
use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

/// One scored edge: indices into `genes`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrnEdge {
    pub source: usize,
    pub target: usize,
    pub score: f32,
    pub logit: f32,
}

/// Writes `path`: an AnnData file with no cells (n_obs = 0), `var` indexed by `genes` (in order),
/// `varp["GRN"]` a CSR sparse genes × genes float32 matrix with `score` at (source, target),
/// and `uns["grn_edges"]` a dataframe with columns TF, target (strings), score, logit (float32),
/// rank (int64, 1-based, in the order given). Edges are given best first.
pub fn write_grn_h5ad(path: &Path, genes: &[String], edges: &[GrnEdge]) -> anyhow::Result<()> {
    let n = genes.len();
    for (i, edge) in edges.iter().enumerate() {
        for (end, index) in [("source", edge.source), ("target", edge.target)] {
            if index >= n {
                bail!(
                    "{}, object `varp/GRN`: edge {} has {end} index {index}, but there are {n} genes",
                    path.display(),
                    i + 1
                );
            }
        }
    }
    // CSR wants entries row by row, sorted by column within a row.
    let cell = |i: usize| (edges[i].source, edges[i].target);
    let mut order: Vec<usize> = (0..edges.len()).collect();
    order.sort_by_key(|&i| cell(i));
    if let Some(pair) = order.windows(2).find(|w| cell(w[0]) == cell(w[1])) {
        // scipy would silently sum the two scores. The sort is stable, so `a` is the better edge.
        let (a, b) = (pair[0], pair[1]);
        bail!(
            "{}, object `varp/GRN`: edges {} and {} both go from gene {} to gene {}",
            path.display(),
            a + 1,
            b + 1,
            edges[a].source,
            edges[a].target
        );
    }
    let mut indptr = vec![0i64; n + 1];
    for edge in edges {
        indptr[edge.source + 1] += 1;
    }
    for row in 0..n {
        indptr[row + 1] += indptr[row];
    }
    let indices: Vec<i64> = order.iter().map(|&i| edges[i].target as i64).collect();
    let data: Vec<f32> = order.iter().map(|&i| edges[i].score).collect();

    let mut file = FileBuilder::new();
    encoding(|k, v| file.set_attr(k, v), "anndata", "0.1.0");

    let mut obs = file.create_group("obs");
    dataframe(&mut obs, &Column::Strings(Vec::new()), &[]);
    file.add_group(obs.finish());

    let mut var = file.create_group("var");
    dataframe(&mut var, &Column::Strings(genes.iter().map(String::as_str).collect()), &[]);
    file.add_group(var.finish());

    // The slots anndata always writes, empty here, for readers that expect each one.
    for name in ["obsm", "varm", "obsp", "layers"] {
        let mut group = file.create_group(name);
        encoding(|k, v| group.set_attr(k, v), "dict", "0.1.0");
        file.add_group(group.finish());
    }

    let mut varp = file.create_group("varp");
    encoding(|k, v| varp.set_attr(k, v), "dict", "0.1.0");
    let mut grn = varp.create_group("GRN");
    encoding(|k, v| grn.set_attr(k, v), "csr_matrix", "0.1.0");
    grn.set_attr("shape", AttrValue::I64Array(vec![n as i64, n as i64]));
    grn.create_dataset("data").with_f32_data(&data);
    grn.create_dataset("indices").with_i64_data(&indices);
    grn.create_dataset("indptr").with_i64_data(&indptr);
    varp.add_group(grn.finish());
    file.add_group(varp.finish());

    let mut uns = file.create_group("uns");
    encoding(|k, v| uns.set_attr(k, v), "dict", "0.1.0");
    let mut table = uns.create_group("grn_edges");
    let name = |i: usize| genes[i].as_str();
    // A plain 0..m index, as pandas gives a dataframe built from columns.
    dataframe(
        &mut table,
        &Column::I64((0..edges.len() as i64).collect()),
        &[
            ("TF", Column::Strings(edges.iter().map(|e| name(e.source)).collect())),
            ("target", Column::Strings(edges.iter().map(|e| name(e.target)).collect())),
            ("score", Column::F32(edges.iter().map(|e| e.score).collect())),
            ("logit", Column::F32(edges.iter().map(|e| e.logit).collect())),
            ("rank", Column::I64((1..=edges.len() as i64).collect())),
        ],
    );
    uns.add_group(table.finish());
    file.add_group(uns.finish());

    file.write(path).with_context(|| format!("{}: cannot write HDF5", path.display()))
}

pub(crate) enum Column<'a> {
    Strings(Vec<&'a str>),
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// anndata dispatches on these two attributes; h5py writes strings as variable-length UTF-8,
/// which is what anndata's readers compare against.
pub(crate) fn encoding(mut set: impl FnMut(&str, AttrValue), kind: &str, version: &str) {
    set("encoding-type", AttrValue::VarLenString(kind.to_string()));
    set("encoding-version", AttrValue::VarLenString(version.to_string()));
}

/// Fills `group` as a dataframe (encoding 0.2.0) whose index is stored as `_index`.
pub(crate) fn dataframe(group: &mut GroupBuilder, index: &Column, columns: &[(&str, Column)]) {
    encoding(|k, v| group.set_attr(k, v), "dataframe", "0.2.0");
    group.set_attr("_index", AttrValue::VarLenString("_index".to_string()));
    let order = columns.iter().map(|(name, _)| name.to_string()).collect();
    group.set_attr("column-order", AttrValue::VarLenStringArray(order));
    write_column(group, "_index", index);
    for (name, column) in columns {
        write_column(group, name, column);
    }
}

fn write_column(group: &mut GroupBuilder, name: &str, column: &Column) {
    let dataset = group.create_dataset(name);
    let kind = match column {
        Column::Strings(values) => {
            dataset.with_vlen_strings(values);
            "string-array"
        }
        Column::F32(values) => {
            dataset.with_f32_data(values);
            "array"
        }
        Column::I64(values) => {
            dataset.with_i64_data(values);
            "array"
        }
    };
    encoding(
        |k, v| {
            dataset.set_attr(k, v);
        },
        kind,
        "0.2.0",
    );
}

#[cfg(test)]
mod tests {
    use hdf5_pure::File;

    use super::*;

    fn genes() -> Vec<String> {
        ["GATA1", "SPI1", "MYC", "CEBPA"].map(String::from).to_vec()
    }

    /// Best first, deliberately not in CSR order: row 2 before row 0, and row 0's columns reversed.
    fn edges() -> Vec<GrnEdge> {
        vec![
            GrnEdge { source: 2, target: 1, score: 0.9, logit: 2.2 },
            GrnEdge { source: 0, target: 3, score: 0.7, logit: 0.85 },
            GrnEdge { source: 0, target: 1, score: 0.4, logit: -0.4 },
        ]
    }

    fn vstr(s: &str) -> AttrValue {
        AttrValue::VarLenString(s.to_string())
    }

    fn assert_encoding(attrs: &std::collections::HashMap<String, AttrValue>, kind: &str, version: &str) {
        assert_eq!(attrs["encoding-type"], vstr(kind));
        assert_eq!(attrs["encoding-version"], vstr(version));
    }

    #[test]
    fn writes_the_anndata_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grn.h5ad");
        write_grn_h5ad(&path, &genes(), &edges()).unwrap();
        let file = File::open(&path).unwrap();
        assert_encoding(&file.root().attrs().unwrap(), "anndata", "0.1.0");
        for name in ["obsm", "varm", "obsp", "layers", "varp", "uns"] {
            assert_encoding(&file.group(name).unwrap().attrs().unwrap(), "dict", "0.1.0");
        }

        let strings = |name: &str| file.dataset(name).unwrap().read_string().unwrap();
        let dataset_attrs = |name: &str| file.dataset(name).unwrap().attrs().unwrap();
        for (frame, index) in [("obs", vec![]), ("var", genes())] {
            let attrs = file.group(frame).unwrap().attrs().unwrap();
            assert_encoding(&attrs, "dataframe", "0.2.0");
            assert_eq!(attrs["_index"], vstr("_index"));
            assert_eq!(attrs["column-order"], AttrValue::VarLenStringArray(vec![]));
            assert_eq!(strings(&format!("{frame}/_index")), index);
            assert_encoding(&dataset_attrs(&format!("{frame}/_index")), "string-array", "0.2.0");
        }

        // Row 0: columns 1 and 3; row 1: none; row 2: column 1; row 3: none.
        let attrs = file.group("varp/GRN").unwrap().attrs().unwrap();
        assert_encoding(&attrs, "csr_matrix", "0.1.0");
        assert_eq!(attrs["shape"], AttrValue::I64Array(vec![4, 4]));
        assert_eq!(file.dataset("varp/GRN/data").unwrap().read_f32().unwrap(), vec![0.4, 0.7, 0.9]);
        assert_eq!(file.dataset("varp/GRN/indices").unwrap().read_i64().unwrap(), vec![1, 3, 1]);
        assert_eq!(file.dataset("varp/GRN/indptr").unwrap().read_i64().unwrap(), vec![0, 2, 2, 3, 3]);

        let attrs = file.group("uns/grn_edges").unwrap().attrs().unwrap();
        assert_encoding(&attrs, "dataframe", "0.2.0");
        assert_eq!(attrs["_index"], vstr("_index"));
        let columns = ["TF", "target", "score", "logit", "rank"].map(String::from).to_vec();
        assert_eq!(attrs["column-order"], AttrValue::VarLenStringArray(columns));
        let column = |name: &str| file.dataset(&format!("uns/grn_edges/{name}")).unwrap();
        assert_eq!(column("_index").read_i64().unwrap(), vec![0, 1, 2]);
        assert_eq!(column("TF").read_string().unwrap(), vec!["MYC", "GATA1", "GATA1"]);
        assert_eq!(column("target").read_string().unwrap(), vec!["SPI1", "CEBPA", "SPI1"]);
        assert_eq!(column("score").read_f32().unwrap(), vec![0.9, 0.7, 0.4]);
        assert_eq!(column("logit").read_f32().unwrap(), vec![2.2, 0.85, -0.4]);
        assert_eq!(column("rank").read_i64().unwrap(), vec![1, 2, 3]);
        for (name, kind) in [
            ("_index", "array"),
            ("TF", "string-array"),
            ("target", "string-array"),
            ("score", "array"),
            ("logit", "array"),
            ("rank", "array"),
        ] {
            assert_encoding(&column(name).attrs().unwrap(), kind, "0.2.0");
        }
    }

    #[test]
    fn an_edge_index_past_the_genes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grn.h5ad");
        let mut edges = edges();
        edges[1].target = 4;
        let e = write_grn_h5ad(&path, &genes(), &edges).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{}, object `varp/GRN`: edge 2 has target index 4, but there are 4 genes", path.display())
        );
        assert!(!path.exists());
    }

    #[test]
    fn a_repeated_edge_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grn.h5ad");
        let mut edges = edges();
        edges.push(GrnEdge { source: 0, target: 3, score: 0.1, logit: -2.0 });
        let e = write_grn_h5ad(&path, &genes(), &edges).unwrap_err().to_string();
        assert_eq!(e, format!("{}, object `varp/GRN`: edges 2 and 4 both go from gene 0 to gene 3", path.display()));
    }

    /// Reads the file with the real anndata (see the module docs for how to run it).
    #[test]
    #[ignore = "needs UGRN_ANNDATA_PYTHON: a python with anndata installed"]
    fn anndata_reads_the_file() {
        let python = std::env::var("UGRN_ANNDATA_PYTHON").expect("UGRN_ANNDATA_PYTHON names a python with anndata");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grn.h5ad");
        write_grn_h5ad(&path, &genes(), &edges()).unwrap();
        let script = r#"
import sys, anndata, numpy as np, scipy.sparse as sp
a = anndata.read_h5ad(sys.argv[1])
assert a.n_obs == 0 and a.X is None, a
assert list(a.var_names) == ["GATA1", "SPI1", "MYC", "CEBPA"], a.var_names
g = a.varp["GRN"]
assert sp.issparse(g) and g.format == "csr" and g.dtype == np.float32, type(g)
want = np.zeros((4, 4), np.float32)
want[2, 1], want[0, 3], want[0, 1] = 0.9, 0.7, 0.4
assert (g.toarray() == want).all(), g.toarray()
e = a.uns["grn_edges"]
assert list(e.columns) == ["TF", "target", "score", "logit", "rank"], e.columns
assert list(e["TF"]) == ["MYC", "GATA1", "GATA1"] and list(e["target"]) == ["SPI1", "CEBPA", "SPI1"], e
assert e["score"].dtype == np.float32 and e["logit"].dtype == np.float32 and e["rank"].dtype == np.int64, e.dtypes
assert (e["score"].to_numpy() == np.float32([0.9, 0.7, 0.4])).all(), e
assert (e["logit"].to_numpy() == np.float32([2.2, 0.85, -0.4])).all(), e
assert list(e["rank"]) == [1, 2, 3], e
"#;
        let out = std::process::Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
        assert!(out.status.success(), "{python}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
