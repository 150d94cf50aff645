//! Genes × cells expression CSVs (BEELINE's `BL--ExpressionData.csv` and users' files).
use std::collections::HashMap;
use std::path::Path;

use ugrn_sdk::{Expression, GeneSymbol, Matrix};

use super::labels::file_name;
use super::table::Table;
use super::{DataError, Location, examples};

/// Reads a genes × cells CSV: the header names the cells after one leading field (usually
/// empty), each row is a gene name and one finite value per cell. Returns the genes in file
/// order with the matrix.
pub(crate) fn read_expression_csv(path: &Path) -> Result<(Vec<GeneSymbol>, Expression), DataError> {
    let mut table = Table::open(path)?;
    let cell_names: Vec<String> = table.header().iter().skip(1).map(str::to_string).collect();
    if cell_names.is_empty() {
        return Err(DataError::file(
            Location::line(path, 1),
            "the header names no cells: expected a leading field, then one name per cell",
        ));
    }
    let width = cell_names.len() + 1;
    let mut genes = Vec::new();
    let mut first_line: HashMap<GeneSymbol, u64> = HashMap::new();
    let mut data = Vec::new();
    while table.next()? {
        let record = table.record();
        if record.len() != width {
            return Err(DataError::file(
                table.here(),
                format!("{} fields, expected {width} (a gene name and {} cells)", record.len(), cell_names.len()),
            ));
        }
        let gene = table.field(0, "gene")?.to_string();
        for (value, cell) in record.iter().skip(1).zip(&cell_names) {
            match value.parse::<f32>() {
                Ok(v) if v.is_finite() => data.push(v),
                _ => {
                    return Err(DataError::file(
                        table.here().with_column(cell),
                        format!("`{value}` is not a finite number"),
                    ));
                }
            }
        }
        if let Some(first) = first_line.insert(gene.clone(), table.here().line.unwrap_or(0)) {
            return Err(DataError::file(
                table.here(),
                format!("gene `{gene}` has a second row (first on line {first})"),
            ));
        }
        genes.push(gene);
    }
    if genes.is_empty() {
        return Err(DataError::file(Location::file(path), "no gene rows after the header"));
    }
    let values =
        Matrix::new(genes.len(), cell_names.len(), data).map_err(|e| DataError::file(Location::file(path), e))?;
    Ok((genes, Expression { cell_names, values }))
}

/// Puts the rows of `expression` (named `rows`, read from `path`) into the order of `genes`.
/// A gene without a row is an error; rows for other genes are dropped with a note.
pub(crate) fn align_rows(
    genes: &[GeneSymbol],
    rows: &[GeneSymbol],
    expression: Expression,
    path: &Path,
    genes_source: &str,
) -> Result<(Expression, Vec<String>), DataError> {
    let row_of: HashMap<&str, usize> = rows.iter().enumerate().map(|(i, g)| (g.as_str(), i)).collect();
    let missing: Vec<String> = genes.iter().filter(|g| !row_of.contains_key(g.as_str())).cloned().collect();
    if !missing.is_empty() {
        return Err(DataError::file(
            Location::file(path),
            format!("{} genes of {genes_source} have no row here ({})", missing.len(), examples(&missing)),
        ));
    }
    let mut notes = Vec::new();
    if rows.len() > genes.len() {
        notes.push(format!(
            "{} rows of {} are for genes outside {genes_source}: ignored",
            rows.len() - genes.len(),
            file_name(path)
        ));
    }
    if rows == genes {
        return Ok((expression, notes));
    }
    let cols = expression.values.cols;
    let mut data = Vec::with_capacity(genes.len() * cols);
    for gene in genes {
        data.extend_from_slice(expression.values.row(row_of[gene.as_str()]));
    }
    let values = Matrix { rows: genes.len(), cols, data };
    Ok((Expression { cell_names: expression.cell_names, values }, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_genes_cells_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expr.csv");
        std::fs::write(&path, ",c1,c2,c3\nMYC,1,2.5,0\nGATA1,0,-1e-2,4\n").unwrap();
        let (genes, e) = read_expression_csv(&path).unwrap();
        assert_eq!(genes, names(&["MYC", "GATA1"]));
        assert_eq!(e.cell_names, names(&["c1", "c2", "c3"]));
        assert_eq!(e.values, Matrix::new(2, 3, vec![1.0, 2.5, 0.0, 0.0, -0.01, 4.0]).unwrap());
    }

    #[test]
    fn bad_rows_name_file_line_and_cell() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("expr.csv");
        let err = |text: &str| {
            std::fs::write(&path, text).unwrap();
            read_expression_csv(&path).unwrap_err().to_string()
        };
        let p = path.display();
        assert_eq!(err(",c1,c2\nMYC,1,x\n"), format!("{p}:2, column `c2`: `x` is not a finite number"));
        assert_eq!(err(",c1,c2\nMYC,1,NaN\n"), format!("{p}:2, column `c2`: `NaN` is not a finite number"));
        assert_eq!(err(",c1,c2\nMYC,1,2\nGATA1,1\n"), format!("{p}:3: 2 fields, expected 3 (a gene name and 2 cells)"));
        assert_eq!(err(",c1\nMYC,1\nMYC,2\n"), format!("{p}:3: gene `MYC` has a second row (first on line 2)"));
        assert_eq!(err(",c1\n,1\n"), format!("{p}:2, column `gene`: empty field"));
        assert_eq!(
            err("gene\nMYC\n"),
            format!("{p}:1: the header names no cells: expected a leading field, then one name per cell")
        );
        assert_eq!(err(",c1\n"), format!("{p}: no gene rows after the header"));
    }

    #[test]
    fn aligns_rows_by_gene_name() {
        let expression = Expression {
            cell_names: names(&["c1", "c2"]),
            values: Matrix::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap(),
        };
        let rows = names(&["A", "B", "C"]);
        let path = Path::new("expr.csv");
        let (e, notes) = align_rows(&names(&["C", "A"]), &rows, expression.clone(), path, "Target.csv").unwrap();
        assert_eq!(e.values, Matrix::new(2, 2, vec![5.0, 6.0, 1.0, 2.0]).unwrap());
        assert_eq!(notes, vec!["1 rows of expr.csv are for genes outside Target.csv: ignored"]);

        let (same, notes) = align_rows(&rows, &rows, expression.clone(), path, "Target.csv").unwrap();
        assert_eq!((same, notes), (expression.clone(), vec![]));

        let e = align_rows(&names(&["A", "Z"]), &rows, expression, path, "Target.csv").unwrap_err();
        assert_eq!(e.to_string(), "expr.csv: 1 genes of Target.csv have no row here (Z)");
    }
}
