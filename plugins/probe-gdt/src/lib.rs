//! GDT probe: gradient trajectories (see `../PROBES.md`).
//!
//! Feature t of pair (i, j) is `∂readout_j / ∂value_i` at the virtual cell with i at
//! `baselines[t]` and every other context gene at `background`: the local slope of j's response
//! to i along a trajectory of source levels. Derivatives are the oracle's exact ones.
use ugrn_probe_kit::{CellChoice, CellPlan, ProbeContext, RangeSpread, VALUE_BOUND, Variant, value_list_param};
use ugrn_sdk::{
    Features, ModelInfo, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe, ProbeRequest, Progress, Result,
};

/// The default baselines: eight source levels over the model's input range, denser at the low end
/// where responses bend most. On scGPT's bins 0–50 they are the reference fixture's 0, 2, 5, 10,
/// 15, 20, 30, 45.
pub const DEFAULT_BASELINES: RangeSpread =
    RangeSpread { numerators: &[0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0], denominator: 50.0 };

#[derive(Debug, Default)]
pub struct Gdt;

fn columns(baselines: &[f32]) -> Vec<String> {
    baselines.iter().map(|b| format!("gdt_b{b}")).collect()
}

impl Probe for Gdt {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "probe-gdt".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Gradient trajectory: exact derivative of the target's readout with respect to \
                          the source's input value, at each baseline level of the source"
                .into(),
            params: vec![
                CellChoice::background_spec("every context gene but the source"),
                ParamSpec::floats_from_model(
                    "baselines",
                    &format!(
                        "source values the derivative is taken at; one feature `gdt_b<value>` each, in this \
                         order; `model` = eight levels over the model's input range (scGPT: {})",
                        DEFAULT_BASELINES.on_scgpt_bins()
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
        Ok(Some(columns(&value_list_param(params, "baselines", info, &DEFAULT_BASELINES)?)))
    }

    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        let params = request.params;
        let cell = CellChoice::from_params(params, oracle.info())?;
        let baselines = value_list_param(params, "baselines", oracle.info(), &DEFAULT_BASELINES)?;
        let plan = CellPlan::new(request, oracle, ProbeContext::from_params(params)?)?;
        let base = cell.values(&plan, &request.dataset, oracle)?;
        let columns = columns(&baselines);
        let variants: Vec<Variant> = baselines.iter().map(|&b| Variant::Set(b)).collect();
        plan.run(columns, &base.base(), &variants, progress, |cells| cells.derivative(oracle))
    }
}
