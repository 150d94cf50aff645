//! Corr probe: reference scores from the dataset's expression alone, no model (see
//! `../PROBES.md`), so a benchmark table can show what plain statistics give beside the probes
//! that read a model.
//!
//! Both measures work on every gene of the dataset (not a context window), over all its cells,
//! and compute one gene × gene matrix per request, from which each pair is read:
//! - `pearson`: Pearson's r of the source and the target across cells.
//! - `ridge`: the source's coefficient when the target is regressed on all other genes by ridge
//!   regression on standardised genes, read from the precision matrix (C + λI)⁻¹ of their
//!   correlation matrix C (the formula is on `stats::ridge_coefficients`). This is the ideal
//!   linear conditional-expectation gradient ∂E[x_j | x_−j]/∂x_i that a model's probes estimate.
use ugrn_sdk::{
    DatasetView, Error, Expression, Features, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo,
    PluginKind, Probe, ProbeRequest, Progress, Result,
};

mod stats;
#[cfg(test)]
mod tests;

#[derive(Debug, Default)]
pub struct Corr;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Measure {
    Pearson,
    Ridge { lambda: f64 },
}

impl Measure {
    fn from_params(params: &Params) -> Result<Self> {
        match params.str("measure")? {
            "pearson" => Ok(Measure::Pearson),
            "ridge" => {
                let lambda = params.f64("ridge_lambda")?;
                // Zero would leave C singular whenever genes outnumber cells, as they often do.
                if !(lambda.is_finite() && lambda > 0.0) {
                    return Err(Error::param("ridge_lambda", format!("{lambda:?} is not a positive finite number")));
                }
                Ok(Measure::Ridge { lambda })
            }
            other => Err(Error::param("measure", format!("{other:?} is not one of pearson, ridge"))),
        }
    }

    fn column(self) -> &'static str {
        match self {
            Measure::Pearson => "pearson",
            Measure::Ridge { .. } => "ridge",
        }
    }
}

/// The dataset's expression, checked to be finite, non-empty and one row per gene.
fn expression<'a>(dataset: &DatasetView<'a>) -> Result<&'a Expression> {
    let Some(expression) = dataset.expression else {
        return Err(Error::NotApplicable(format!(
            "dataset `{}` has no expression matrix (expected from {}); probe-corr's statistics need one",
            dataset.name, dataset.expression_source
        )));
    };
    let values = &expression.values;
    if values.rows != dataset.genes.len() || values.cols == 0 {
        return Err(Error::invalid(format!(
            "expression of dataset `{}` ({}) has {} genes × {} cells for {} genes",
            dataset.name,
            dataset.expression_source,
            values.rows,
            values.cols,
            dataset.genes.len()
        )));
    }
    if let Some(at) = values.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "expression of dataset `{}` ({}) has {} for gene `{}` in cell {}",
            dataset.name,
            dataset.expression_source,
            values.data[at],
            dataset.genes[at / values.cols],
            at % values.cols
        )));
    }
    Ok(expression)
}

impl Probe for Corr {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-corr".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Model-free reference scores from the dataset's expression (every gene, every cell): \
                          Pearson correlation or ridge-regression coefficients; the oracle is not used \
                          (needs an expression matrix)"
                .into(),
            params: vec![
                ParamSpec::choice(
                    "measure",
                    &["pearson", "ridge"],
                    "pearson",
                    "the one feature, named after it: `pearson` = Pearson's r of the source and the target \
                     across the cells (0 where either gene is constant, 1 for a self-pair of a varying gene), \
                     `ridge` = the source's coefficient when the standardised target is regressed on all \
                     other standardised genes of the dataset, β = argmin Σ_cells (z_j − Σ_{k≠j} β_k z_k)² + \
                     ridge_lambda · cells · Σ β_k², read as −P[j,i]/P[j,j] from P = (C + ridge_lambda·I)⁻¹, \
                     C the genes' correlation matrix (0 for a self-pair and for a constant gene)",
                ),
                ParamSpec::float(
                    "ridge_lambda",
                    1.0,
                    "the ridge penalty λ of `measure = \"ridge\"`, per cell (the penalty is λ · cells · Σ β²), \
                     so it weighs the same against the mean squared error whatever the cell count; positive and \
                     finite",
                )
                .within(1e-300, 1e300),
            ],
        }
    }

    fn needs_expression(&self, _: &Params) -> bool {
        true
    }

    fn columns(&self, params: &Params, _: &ModelInfo) -> Result<Option<Vec<String>>> {
        Ok(Some(vec![Measure::from_params(params)?.column().into()]))
    }

    fn features(&self, request: &ProbeRequest<'_>, _: &dyn ModelOracle, progress: &dyn Progress) -> Result<Features> {
        let measure = Measure::from_params(request.params)?;
        let dataset = &request.dataset;
        let values = &expression(dataset)?.values;
        let genes = dataset.genes.len();
        for (row, pair) in request.pairs.iter().enumerate() {
            if let Some(gene) = [pair.source, pair.target].into_iter().find(|&g| g >= genes) {
                return Err(Error::invalid(format!(
                    "pair {row} names gene {gene}, but dataset `{}` has {genes} genes",
                    dataset.name
                )));
            }
        }
        progress.set_total(request.pairs.len() as u64);
        let correlation = stats::correlation(&stats::standardise(&values.data, values.cols), values.cols);
        let scores = match measure {
            Measure::Pearson => correlation,
            Measure::Ridge { lambda } => stats::ridge_coefficients(correlation, lambda).ok_or_else(|| {
                Error::compute(format!(
                    "the penalised correlation matrix of dataset `{}` ({genes} genes, ridge_lambda = {lambda:?}) \
                     is not positive definite; raise ridge_lambda",
                    dataset.name
                ))
            })?,
        };
        let column = request.pairs.iter().map(|p| scores.get(p.source, p.target) as f32).collect();
        progress.advance(request.pairs.len() as u64);
        Features::new(vec![measure.column().into()], Matrix::new(request.pairs.len(), 1, column)?)
    }
}
