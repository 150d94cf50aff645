//! A probe that panics when asked to, to test that the host turns plugin panics into errors and
//! stays usable.
use ugrn_sdk::{
    Features, Matrix, ModelOracle, ParamSpec, Params, PluginInfo, PluginKind, Probe, ProbeRequest, Progress, Result,
};

#[derive(Default)]
pub struct PanickingProbe;

impl Probe for PanickingProbe {
    fn describe(&self) -> PluginInfo {
        PluginInfo {
            name: "test-panicking-probe".into(),
            kind: PluginKind::Probe,
            version: env!("CARGO_PKG_VERSION").into(),
            description: "panics when `panic` is true; otherwise one zero feature per pair".into(),
            params: vec![ParamSpec::bool("panic", false, "panic inside features()")],
        }
    }

    fn needs_expression(&self, _: &Params) -> bool {
        false
    }

    fn features(&self, request: &ProbeRequest<'_>, _: &dyn ModelOracle, _: &dyn Progress) -> Result<Features> {
        if request.params.bool("panic")? {
            panic!("deliberate panic for pair count {}", request.pairs.len());
        }
        Features::new(vec!["zero".into()], Matrix::zeros(request.pairs.len(), 1))
    }
}

ugrn_sdk::export_probe!(PanickingProbe);
