//! Pert probe: zero-out perturbation of the dataset's real mean cell (see `../PROBES.md`).
//!
//! The feature of pair (i, j) is `readout_j(x̄) − readout_j(x̄ with i set to 0)`, where x̄ is the
//! dataset's mean expression over the context genes in model input values (the oracle's
//! `prepare_expression`: for scGPT, binned as scGPT bins a cell). This is the usual scFM
//! in-silico knock-out, so its scale follows each gene's real expression level.
use ugrn_probe_kit::{BaseCell, CellPlan, ProbeContext, Variant};
use ugrn_sdk::{
    Features, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe, ProbeRequest, Progress,
    Result,
};

#[derive(Debug, Default)]
pub struct Pert;

/// The column name for `mode`: the computation is the same, only its use differs.
fn column(params: &Params) -> Result<&'static str> {
    match params.str("mode")? {
        "origin" => Ok("pert_origin"),
        "baseline" => Ok("pert_baseline"),
        other => Err(ugrn_sdk::Error::param("mode", format!("{other:?} is not one of origin, baseline"))),
    }
}

impl Probe for Pert {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-pert".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Zero-out perturbation: the target's readout on the dataset's real mean cell minus \
                          its readout with the source set to 0 (needs an expression matrix)"
                .into(),
            params: vec![
                ParamSpec::choice(
                    "mode",
                    &["origin", "baseline"],
                    "baseline",
                    "how the one feature is used, which only names its column: `origin` = `pert_origin`, \
                     the difference taken directly as the regulation score (pair it with a direct score, \
                     no translator), `baseline` = `pert_baseline`, the same difference as a translator feature",
                ),
                ProbeContext::param_spec(ProbeContext::Dataset),
            ],
        }
    }

    fn needs_expression(&self, _: &Params) -> bool {
        true
    }

    fn reads_mean_cell_only(&self, _: &Params) -> bool {
        // Its cells start from the mean cell (`CellPlan::mean_cell`).
        true
    }

    fn columns(&self, params: &Params, _: &ModelInfo) -> Result<Option<Vec<String>>> {
        ProbeContext::from_params(params)?;
        Ok(Some(vec![column(params)?.into()]))
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        let params = request.params;
        let column = column(params)?;
        let plan = CellPlan::new(request, oracle, ProbeContext::from_params(params)?)?;
        let mean = plan.mean_cell(&request.dataset, oracle)?;
        let variants = [Variant::Unchanged, Variant::Set(0.0)];
        plan.run(vec![column.into()], &BaseCell::PerGene(&mean), &variants, progress, |cells| {
            let r = cells.readout(oracle)?;
            let diff = (0..r.rows).map(|row| r.get(row, 0) - r.get(row, 1)).collect();
            Matrix::new(r.rows, 1, diff)
        })
    }
}
