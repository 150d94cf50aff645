//! VVP probe: virtual value perturbation response curves (see `../PROBES.md`).
//!
//! Feature m of pair (i, j) is `readout_j(virtual cell with i at targets[m]) −
//! readout_j(virtual cell with every gene at background)`, every other context gene at
//! `background`: the response of j along a curve of source values, measured from one shared
//! reference so that all pairs and datasets sit in the same coordinates.
use ugrn_probe_kit::{CellChoice, CellPlan, ProbeContext, RangeSpread, VALUE_BOUND, Variant, value_list_param};
use ugrn_sdk::{
    Features, Matrix, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe, ProbeRequest, Progress,
    Result,
};

/// The default targets: eight values spanning the model's input range, the last a fifth past its
/// top (virtual values need not be in range). On scGPT's bins 0–50 they are the reference
/// fixture's 0, 5, 10, 20, 30, 40, 50, 60.
pub const DEFAULT_TARGETS: RangeSpread =
    RangeSpread { numerators: &[0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0], denominator: 50.0 };

#[derive(Debug, Default)]
pub struct Vvp;

fn columns(targets: &[f32]) -> Vec<String> {
    targets.iter().map(|v| format!("vvp_v{v}")).collect()
}

impl Probe for Vvp {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-vvp".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Virtual value perturbation: the target's readout with the source set to each \
                          target value, minus its readout with every gene at the background"
                .into(),
            params: vec![
                CellChoice::background_spec("every context gene (and of the source in the reference cell)"),
                ParamSpec::floats_from_model(
                    "targets",
                    &format!(
                        "v_p, values the source is set to; one feature `vvp_v<value>` each, in this order; \
                         `model` = eight values over the model's input range (scGPT: {})",
                        DEFAULT_TARGETS.on_scgpt_bins()
                    ),
                )
                .within(-VALUE_BOUND, VALUE_BOUND)
                .non_empty(),
                CellChoice::param_spec("virtual"),
                ProbeContext::param_spec(ProbeContext::Dataset),
            ],
        }
    }

    fn needs_expression(&self, params: &Params) -> bool {
        CellChoice::needs_expression(params)
    }

    fn reads_mean_cell_only(&self, _: &Params) -> bool {
        // Its cells start from the virtual cell or the mean cell (`CellPlan::mean_cell`).
        true
    }

    fn columns(&self, params: &Params, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        CellChoice::from_params(params, info)?;
        ProbeContext::from_params(params)?;
        Ok(Some(columns(&value_list_param(params, "targets", info, &DEFAULT_TARGETS)?)))
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        let params = request.params;
        let cell = CellChoice::from_params(params, oracle.info())?;
        let targets = value_list_param(params, "targets", oracle.info(), &DEFAULT_TARGETS)?;
        let plan = CellPlan::new(request, oracle, ProbeContext::from_params(params)?)?;
        let base = cell.values(&plan, &request.dataset, oracle)?;
        let columns = columns(&targets);
        // The reference cell is the last variant.
        let mut variants: Vec<Variant> = targets.iter().map(|&v| Variant::Set(v)).collect();
        variants.push(Variant::Unchanged);
        let m = targets.len();
        plan.run(columns, &base.base(), &variants, progress, |cells| {
            let r = cells.readout(oracle)?;
            let mut out = Matrix::zeros(r.rows, m);
            for row in 0..r.rows {
                let reference = r.get(row, m);
                for (o, &x) in out.row_mut(row).iter_mut().zip(&r.row(row)[..m]) {
                    *o = x - reference;
                }
            }
            Ok(out)
        })
    }
}
