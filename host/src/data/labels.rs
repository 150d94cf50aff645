//! Gene lists, TF lists and edge lists, all matched by gene name.
use std::collections::HashMap;
use std::path::Path;

use ugrn_sdk::{GeneSymbol, Pair};

use super::table::Table;
use super::{DataError, Location, examples};

/// Gene symbol → index into a dataset's genes.
pub(crate) fn index_genes(genes: &[GeneSymbol]) -> HashMap<&str, usize> {
    genes.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect()
}

/// The file's name alone, for notes (errors carry the whole path).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The `Gene` column of a BEELINE `Target.csv`, in row order.
pub(crate) fn read_gene_list(path: &Path) -> Result<Vec<GeneSymbol>, DataError> {
    let mut table = Table::open(path)?;
    let column = table.require_column("Gene")?;
    let mut genes = Vec::new();
    let mut first_line: HashMap<GeneSymbol, u64> = HashMap::new();
    while table.next()? {
        let gene = table.field(column, "Gene")?.to_string();
        let line = table.here().line.unwrap_or(0);
        if let Some(first) = first_line.insert(gene.clone(), line) {
            return Err(DataError::file(
                table.here().with_column("Gene"),
                format!("gene `{gene}` is listed twice (first on line {first})"),
            ));
        }
        genes.push(gene);
    }
    if genes.is_empty() {
        return Err(DataError::file(Location::file(path), "no genes listed"));
    }
    Ok(genes)
}

/// TFs as ascending distinct gene indices, plus notes on what was dropped. The file is either a
/// CSV with a `TF` column (BEELINE's `TF.csv`) or a plain list, one symbol per line, no header.
/// `genes_source` names where the genes came from, for notes and errors.
pub(crate) fn read_tfs(
    path: &Path,
    index: &HashMap<&str, usize>,
    genes_source: &str,
) -> Result<(Vec<usize>, Vec<String>), DataError> {
    let names = read_tf_names(path)?;
    let mut tfs = Vec::with_capacity(names.len());
    let mut outside = Vec::new();
    for name in &names {
        match index.get(name.as_str()) {
            Some(&i) => tfs.push(i),
            None => outside.push(name.clone()),
        }
    }
    tfs.sort_unstable();
    tfs.dedup();
    if tfs.is_empty() {
        return Err(DataError::file(
            Location::file(path),
            format!("none of its {} TFs is among the genes of {genes_source}", names.len()),
        ));
    }
    let mut notes = Vec::new();
    if !outside.is_empty() {
        notes.push(format!(
            "{} TFs of {} are not among the genes of {genes_source}: dropped ({})",
            outside.len(),
            file_name(path),
            examples(&outside)
        ));
    }
    Ok((tfs, notes))
}

/// The symbols of a TF file (see [`read_tfs`]), in file order.
pub(crate) fn read_tf_names(path: &Path) -> Result<Vec<String>, DataError> {
    let mut table = Table::open(path)?;
    let mut names = Vec::new();
    if let Some(column) = table.column("TF") {
        while table.next()? {
            names.push(table.field(column, "TF")?.to_string());
        }
    } else {
        let one_per_line = "expected one TF symbol per line, or a CSV with a `TF` column";
        if table.header().len() != 1 {
            return Err(DataError::file(Location::line(path, 1), one_per_line));
        }
        names.push(table.header()[0].to_string());
        while table.next()? {
            if table.record().len() != 1 {
                return Err(DataError::file(table.here(), one_per_line));
            }
            names.push(table.field(0, "TF")?.to_string());
        }
    }
    Ok(names)
}

/// Edges from a CSV with `Gene1` (regulator) and `Gene2` (target) columns; other columns
/// (BEELINE's optional `Score`) are ignored. Returns them sorted and distinct, plus notes on
/// edges naming genes outside `index` (dropped) and on repeated edges.
pub(crate) fn read_edges(
    path: &Path,
    index: &HashMap<&str, usize>,
    genes_source: &str,
) -> Result<(Vec<Pair>, Vec<String>), DataError> {
    let mut table = Table::open(path)?;
    let (from, to) = (table.require_column("Gene1")?, table.require_column("Gene2")?);
    let mut edges = Vec::new();
    let mut outside = Vec::new();
    while table.next()? {
        let (source, target) = (table.field(from, "Gene1")?, table.field(to, "Gene2")?);
        match (index.get(source), index.get(target)) {
            (Some(&source), Some(&target)) => edges.push(Pair { source, target }),
            _ => outside.push(format!("{source}→{target}")),
        }
    }
    let listed = edges.len();
    edges.sort_unstable();
    edges.dedup();
    let mut notes = Vec::new();
    if !outside.is_empty() {
        notes.push(format!(
            "{} edges of {} name genes outside {genes_source}: dropped ({})",
            outside.len(),
            file_name(path),
            examples(&outside)
        ));
    }
    if edges.len() < listed {
        notes.push(format!("{} repeated edges of {} counted once", listed - edges.len(), file_name(path)));
    }
    Ok((edges, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genes() -> Vec<GeneSymbol> {
        ["GATA1", "SPI1", "MYC", "CEBPA"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn gene_list_keeps_row_order_and_rejects_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Target.csv");
        std::fs::write(&path, ",Gene,index\n0,MYC,0\n1,GATA1,1\n").unwrap();
        assert_eq!(read_gene_list(&path).unwrap(), vec!["MYC", "GATA1"]);

        std::fs::write(&path, ",Gene,index\n0,MYC,0\n1,GATA1,1\n2,MYC,2\n").unwrap();
        let e = read_gene_list(&path).unwrap_err().to_string();
        assert_eq!(e, format!("{}:4, column `Gene`: gene `MYC` is listed twice (first on line 2)", path.display()));
    }

    #[test]
    fn tfs_from_a_tf_column_or_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let g = genes();
        let index = index_genes(&g);
        let csv = dir.path().join("TF.csv");
        std::fs::write(&csv, ",TF,index\n0,MYC,2\n1,GATA1,0\n2,MYC,2\n").unwrap();
        assert_eq!(read_tfs(&csv, &index, "Target.csv").unwrap(), (vec![0, 2], vec![]));

        let list = dir.path().join("tfs.txt");
        std::fs::write(&list, "SPI1\nFOXP3\n\nCEBPA\nTBX21\n").unwrap();
        let (tfs, notes) = read_tfs(&list, &index, "expr.csv").unwrap();
        assert_eq!(tfs, vec![1, 3]);
        assert_eq!(notes, vec!["2 TFs of tfs.txt are not among the genes of expr.csv: dropped (FOXP3, TBX21)"]);
    }

    #[test]
    fn tf_list_errors() {
        let dir = tempfile::tempdir().unwrap();
        let g = genes();
        let index = index_genes(&g);
        let path = dir.path().join("tfs.txt");
        std::fs::write(&path, "SPI1\nMYC,GATA1\n").unwrap();
        let e = read_tfs(&path, &index, "x").unwrap_err().to_string();
        assert_eq!(e, format!("{}:2: expected one TF symbol per line, or a CSV with a `TF` column", path.display()));

        std::fs::write(&path, "FOXP3\n").unwrap();
        let e = read_tfs(&path, &index, "expr.csv").unwrap_err().to_string();
        assert_eq!(e, format!("{}: none of its 1 TFs is among the genes of expr.csv", path.display()));
    }

    #[test]
    fn edges_by_name_with_optional_score() {
        let dir = tempfile::tempdir().unwrap();
        let g = genes();
        let index = index_genes(&g);
        let path = dir.path().join("BL--network.csv");
        std::fs::write(&path, "Gene1,Gene2,Score\nMYC,GATA1,3.5\nGATA1,SPI1,1\nMYC,GATA1,2\nFOXP3,MYC,1\n").unwrap();
        let (edges, notes) = read_edges(&path, &index, "Target.csv").unwrap();
        assert_eq!(edges, vec![Pair { source: 0, target: 1 }, Pair { source: 2, target: 0 }]);
        assert_eq!(
            notes,
            vec![
                "1 edges of BL--network.csv name genes outside Target.csv: dropped (FOXP3→MYC)",
                "1 repeated edges of BL--network.csv counted once",
            ]
        );
    }
}
