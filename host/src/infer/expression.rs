//! The expression an inference reads, as far as its probes need it: a CSV whole, an `.h5ad`
//! lazily (its genes and cells up front; values only as the probes need them, streamed).
use std::path::Path;

use ugrn_sdk::{Expression, GeneSymbol, Matrix};

use crate::data::{H5adExpression, is_h5ad, read_expression_file};

/// What the members' probes read of the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpressionUse {
    /// Nothing (virtual cells, embeddings).
    None,
    /// Each gene's mean over the cells only: handed over as one cell.
    MeanCell,
    /// Every cell.
    Cells,
}

impl ExpressionUse {
    /// The use of members that each say whether they read cells and whether only the mean.
    pub fn of(members: impl IntoIterator<Item = (bool, bool)>) -> Self {
        let mut usage = ExpressionUse::None;
        for (reads_cells, mean_only) in members {
            if reads_cells {
                if !mean_only {
                    return ExpressionUse::Cells;
                }
                usage = ExpressionUse::MeanCell;
            }
        }
        usage
    }
}

pub enum ExpressionInput {
    Csv(Expression),
    H5ad(Box<H5adExpression>),
}

impl ExpressionInput {
    pub fn open(path: &Path, gene_column: Option<&str>) -> anyhow::Result<(Vec<GeneSymbol>, Self)> {
        if is_h5ad(path) {
            let h5ad = H5adExpression::open(path, gene_column)?;
            Ok((h5ad.genes().to_vec(), ExpressionInput::H5ad(Box::new(h5ad))))
        } else {
            let (genes, expression) = read_expression_file(path, gene_column)?;
            Ok((genes, ExpressionInput::Csv(expression)))
        }
    }

    pub fn cells(&self) -> usize {
        match self {
            ExpressionInput::Csv(e) => e.cell_names.len(),
            ExpressionInput::H5ad(h) => h.cells(),
        }
    }

    /// For each set of cells (ascending cell indices), what the probes are handed: nothing, the
    /// mean cell (the means of the `genes` that are read, the others 0; `gene_means` of it is
    /// the means, bit for bit) or every cell of every gene.
    pub fn for_probes(
        &self,
        usage: ExpressionUse,
        genes: &[usize],
        sets: &[&[usize]],
    ) -> anyhow::Result<Vec<Option<Expression>>> {
        let rows = match self {
            ExpressionInput::Csv(e) => e.values.rows,
            ExpressionInput::H5ad(h) => h.genes().len(),
        };
        match usage {
            ExpressionUse::None => Ok(sets.iter().map(|_| None).collect()),
            ExpressionUse::MeanCell => {
                let means: Vec<Vec<f32>> = match self {
                    ExpressionInput::Csv(e) => sets
                        .iter()
                        .map(|cells| {
                            let subset = select_cells(e, cells);
                            let all = subset.gene_means();
                            genes.iter().map(|&g| all[g]).collect()
                        })
                        .collect(),
                    ExpressionInput::H5ad(h) => {
                        let groups: Vec<Vec<usize>> = sets.iter().map(|c| c.to_vec()).collect();
                        h.group_means(genes, &groups)?
                    }
                };
                Ok(sets
                    .iter()
                    .zip(means)
                    .map(|(cells, means)| {
                        let mut values = Matrix::zeros(rows, 1);
                        for (&g, m) in genes.iter().zip(means) {
                            values.set(g, 0, m);
                        }
                        Some(Expression { cell_names: vec![format!("mean of {} cells", cells.len())], values })
                    })
                    .collect())
            }
            ExpressionUse::Cells => sets
                .iter()
                .map(|cells| match self {
                    ExpressionInput::Csv(e) => Ok(Some(select_cells(e, cells))),
                    ExpressionInput::H5ad(h) => {
                        let all: Vec<usize> = (0..rows).collect();
                        let values = h.dense(&all, cells)?;
                        let cell_names = cells.iter().map(|&c| h.cell_names()[c].clone()).collect();
                        Ok(Some(Expression { cell_names, values }))
                    }
                })
                .collect(),
        }
    }
}

/// The expression of `cells` only.
fn select_cells(expression: &Expression, cells: &[usize]) -> Expression {
    let genes = expression.values.rows;
    let mut values = Matrix::zeros(genes, cells.len());
    for g in 0..genes {
        for (k, &c) in cells.iter().enumerate() {
            values.set(g, k, expression.values.get(g, c));
        }
    }
    Expression { cell_names: cells.iter().map(|&c| expression.cell_names[c].clone()).collect(), values }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_use_is_the_widest_of_the_members() {
        assert_eq!(ExpressionUse::of([(false, true), (false, false)]), ExpressionUse::None);
        assert_eq!(ExpressionUse::of([(false, false), (true, true)]), ExpressionUse::MeanCell);
        assert_eq!(ExpressionUse::of([(true, true), (true, false)]), ExpressionUse::Cells);
    }

    #[test]
    fn the_mean_cell_of_a_csv_is_its_gene_means_over_the_set() {
        let values = Matrix::new(3, 4, vec![1.0, 2.0, 3.0, 4.0, 0.5, 0.5, 0.0, 0.0, 9.0, 1.0, 1.0, 1.0]).unwrap();
        let e = Expression { cell_names: (0..4).map(|c| format!("c{c}")).collect(), values };
        let input = ExpressionInput::Csv(e);
        let out = input.for_probes(ExpressionUse::MeanCell, &[0, 2], &[&[0, 1, 2, 3], &[1, 3]]).unwrap();
        let whole = out[0].as_ref().unwrap();
        assert_eq!(whole.cell_names, ["mean of 4 cells"]);
        assert_eq!(whole.values.data, [2.5, 0.0, 3.0], "gene 1 is not read: 0");
        assert_eq!(out[1].as_ref().unwrap().values.data, [3.0, 0.0, 1.0]);
        assert_eq!(whole.gene_means(), whole.values.data, "one cell's means are its values");
        let cells = input.for_probes(ExpressionUse::Cells, &[0], &[&[1, 3]]).unwrap();
        let cells = cells[0].as_ref().unwrap();
        assert_eq!(
            (cells.cell_names.clone(), cells.values.data.clone()),
            (vec!["c1".to_string(), "c3".to_string()], vec![2.0, 4.0, 0.5, 0.0, 1.0, 1.0])
        );
        assert!(input.for_probes(ExpressionUse::None, &[0], &[&[0]]).unwrap()[0].is_none());
    }
}
