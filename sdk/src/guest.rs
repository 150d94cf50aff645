//! The guest side of component plugins: bindings of the `ugrn:plugin` WIT worlds, conversions
//! to and from the SDK types, the imported oracle and progress bar as
//! [`ModelOracle`](crate::ModelOracle) and [`Progress`](crate::Progress), and the adapters the
//! export macros call on wasm targets.
//!
//! A panic inside a component aborts it (wasm has no unwinding): the host reports it as
//! [`Error::Trap`](crate::Error::Trap) instead of the plugin's own error.
mod convert;
mod oracle;

pub use oracle::{GuestOracle, GuestProgress};

use crate::error::Result;
use crate::params::{ParamSpec, Params};
use crate::plugin::{Evaluator, PluginInfo, Probe, ProbeRequest, Translator};
use crate::types::{DatasetView, Expression, Features, LabeledFeatures, Pair};
use probe::ugrn::plugin::types as wit;

// Each world's `export!` macro is `#[macro_export]`ed (plugin crates expand it) and finds its
// bindings through `$crate`; it also carries the world's full component type into the plugin.

/// Bindings of world `probe`; they also define the `types` interface the other worlds share.
#[doc(hidden)]
pub mod probe {
    wit_bindgen::generate!({
        path: "wit/0.1.0",
        world: "probe",
        // Lets tests (here and in plugins) compare WIT values.
        additional_derives: [PartialEq],
        pub_export_macro: true,
        default_bindings_module: "$crate::guest::probe",
    });
}

/// Bindings of world `translator`.
#[doc(hidden)]
pub mod translator {
    wit_bindgen::generate!({
        path: "wit/0.1.0",
        world: "translator",
        with: { "ugrn:plugin/types@0.1.0": crate::guest::probe::ugrn::plugin::types },
        pub_export_macro: true,
        default_bindings_module: "$crate::guest::translator",
    });
}

/// Bindings of world `evaluator`.
#[doc(hidden)]
pub mod evaluator {
    wit_bindgen::generate!({
        path: "wit/0.1.0",
        world: "evaluator",
        with: { "ugrn:plugin/types@0.1.0": crate::guest::probe::ugrn::plugin::types },
        pub_export_macro: true,
        default_bindings_module: "$crate::guest::evaluator",
    });
}

/// Resolves the host's parameter list against the plugin's declarations. The host has already
/// resolved it against the same specs, so this only rebuilds [`Params`] (and checks again).
fn resolve_params(specs: &[ParamSpec], params: wit::Params) -> Result<Params> {
    Params::resolve(specs, params.into_iter().map(|(key, value)| (key, value.into())).collect())
}

/// `describe` of every world. WIT's `describe` cannot fail, so a default that cannot cross (a
/// mixed list) traps naming the parameter.
#[doc(hidden)]
pub fn describe(info: PluginInfo) -> wit::PluginInfo {
    convert::wit_plugin_info(info).unwrap_or_else(|e| panic!("describe: {e}"))
}

/// `needs-expression` of world `probe`. Parameters the plugin does not accept trap: the host
/// resolved them against the same declarations.
#[doc(hidden)]
pub fn probe_needs_expression<P: Probe>(probe: &P, params: wit::Params) -> bool {
    let params = resolve_params(&probe.describe().params, params).unwrap_or_else(|e| panic!("needs-expression: {e}"));
    probe.needs_expression(&params)
}

/// `features` of world `probe`, computing through the imported oracle.
#[doc(hidden)]
pub fn probe_features<P: Probe>(probe: &P, request: wit::ProbeRequest) -> Result<wit::Features, wit::Error> {
    let wit::ProbeRequest { params, dataset, pairs } = request;
    let compute = || {
        let params = resolve_params(&probe.describe().params, params)?;
        let expression = dataset.expression.map(Expression::try_from).transpose()?;
        let pairs: Vec<Pair> = pairs.into_iter().map(Pair::from).collect();
        let request = ProbeRequest {
            params: &params,
            dataset: DatasetView {
                name: &dataset.name,
                genes: &dataset.genes,
                expression: expression.as_ref(),
                expression_source: &dataset.expression_source,
            },
            pairs: &pairs,
        };
        wit::Features::try_from(probe.features(&request, &GuestOracle::new(), &GuestProgress)?)
    };
    compute().map_err(wit::Error::from)
}

/// `fit` of world `translator`.
#[doc(hidden)]
pub fn translator_fit<T: Translator>(
    translator: &T,
    params: wit::Params,
    train: wit::LabeledFeatures,
    validation: wit::LabeledFeatures,
) -> Result<wit::FittedTranslator, wit::Error> {
    let compute = || {
        let params = resolve_params(&translator.describe().params, params)?;
        let train = LabeledFeatures::try_from(train)?;
        let validation = LabeledFeatures::try_from(validation)?;
        translator.fit(&params, &train, &validation).map(wit::FittedTranslator::from)
    };
    compute().map_err(wit::Error::from)
}

/// `predict` of world `translator`.
#[doc(hidden)]
pub fn translator_predict<T: Translator>(
    translator: &T,
    params: wit::Params,
    state: Vec<u8>,
    features: wit::Features,
) -> Result<Vec<f32>, wit::Error> {
    let compute = || {
        let params = resolve_params(&translator.describe().params, params)?;
        translator.predict(&params, &state, &Features::try_from(features)?)
    };
    compute().map_err(wit::Error::from)
}

/// `evaluate` of world `evaluator`.
#[doc(hidden)]
pub fn evaluator_evaluate<E: Evaluator>(
    evaluator: &E,
    params: wit::Params,
    scores: Vec<f32>,
    labels: Vec<bool>,
) -> Result<wit::Evaluation, wit::Error> {
    let compute = || {
        let params = resolve_params(&evaluator.describe().params, params)?;
        evaluator.evaluate(&params, &scores, &labels).map(wit::Evaluation::from)
    };
    compute().map_err(wit::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::oracle::ModelOracle;
    use crate::plugin::{FittedTranslator, PluginKind, Progress};
    use crate::types::{Evaluation, Matrix, Metric};

    fn info(kind: PluginKind, params: Vec<ParamSpec>) -> PluginInfo {
        PluginInfo { name: "test".into(), kind, version: "0".into(), description: String::new(), params }
    }

    fn wit_params(pairs: &[(&str, wit::ParamValue)]) -> wit::Params {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    /// One feature per pair, `source * 10 + target`, plus the number of expression cells; never
    /// calls the oracle (its imports exist only inside a component).
    #[derive(Default)]
    struct PairProbe;

    impl Probe for PairProbe {
        fn describe(&self) -> PluginInfo {
            info(
                PluginKind::Probe,
                vec![
                    ParamSpec::bool("expression", false, "read expression"),
                    ParamSpec::float("scale", 0.5, "a ranged number").within(0.0, 1.0),
                ],
            )
        }
        fn needs_expression(&self, params: &Params) -> bool {
            params.bool("expression").unwrap()
        }
        fn features(&self, request: &ProbeRequest<'_>, _: &dyn ModelOracle, _: &dyn Progress) -> Result<Features> {
            let cells = request.dataset.expression.map_or(0, |e| e.values.cols) as f32;
            let data = request.pairs.iter().flat_map(|p| [(p.source * 10 + p.target) as f32, cells]).collect();
            Features::new(vec!["pair".into(), "cells".into()], Matrix::new(request.pairs.len(), 2, data)?)
        }
    }

    #[derive(Default)]
    struct ScaledSum;

    impl Translator for ScaledSum {
        fn describe(&self) -> PluginInfo {
            info(PluginKind::Translator, vec![ParamSpec::float("scale", 1.0, "factor")])
        }
        fn fit(&self, _: &Params, train: &LabeledFeatures, _: &LabeledFeatures) -> Result<FittedTranslator> {
            Ok(FittedTranslator { state: vec![train.labels.len() as u8], log: vec!["fitted".into()] })
        }
        fn predict(&self, params: &Params, state: &[u8], features: &Features) -> Result<Vec<f32>> {
            let scale = params.f64("scale")? as f32 + f32::from(state[0]);
            Ok((0..features.values.rows).map(|r| scale * features.values.row(r).iter().sum::<f32>()).collect())
        }
    }

    #[derive(Default)]
    struct Positives;

    impl Evaluator for Positives {
        fn describe(&self) -> PluginInfo {
            info(PluginKind::Evaluator, Vec::new())
        }
        fn evaluate(&self, _: &Params, scores: &[f32], labels: &[bool]) -> Result<Evaluation> {
            let positives = scores.iter().zip(labels).filter(|&(&s, &l)| l && s > 0.0).count();
            Ok(Evaluation {
                metrics: vec![Metric { name: "positives".into(), value: positives as f64 }],
                curves: vec![],
            })
        }
    }

    /// A request of no genes and no pairs with these parameters.
    fn empty_request(params: &[(&str, wit::ParamValue)]) -> wit::ProbeRequest {
        wit::ProbeRequest {
            params: wit_params(params),
            dataset: wit::DatasetView {
                name: "toy".into(),
                genes: Vec::new(),
                expression: None,
                expression_source: String::new(),
            },
            pairs: Vec::new(),
        }
    }

    fn wit_features(rows: u32, data: Vec<f32>) -> wit::Features {
        wit::Features { columns: vec!["a".into(), "b".into()], values: wit::Matrix { rows, cols: 2, data } }
    }

    #[test]
    fn probe_sees_the_request_and_its_params() {
        assert!(!probe_needs_expression(&PairProbe, Vec::new()));
        assert!(probe_needs_expression(&PairProbe, wit_params(&[("expression", wit::ParamValue::Boolean(true))])));
        let request = wit::ProbeRequest {
            params: Vec::new(),
            dataset: wit::DatasetView {
                name: "toy".into(),
                genes: vec!["A".into(), "B".into(), "C".into()],
                expression: Some(wit::Expression {
                    cell_names: vec!["c1".into(), "c2".into()],
                    values: wit::Matrix { rows: 3, cols: 2, data: vec![0.0; 6] },
                }),
                expression_source: "toy.csv".into(),
            },
            pairs: vec![wit::Pair { source: 0, target: 2 }, wit::Pair { source: 2, target: 1 }],
        };
        let features = probe_features(&PairProbe, request).unwrap();
        assert_eq!(features.columns, ["pair", "cells"]);
        assert_eq!(features.values, wit::Matrix { rows: 2, cols: 2, data: vec![2.0, 2.0, 21.0, 2.0] });
    }

    #[test]
    fn undeclared_params_come_back_as_param_errors() {
        let err =
            probe_features(&PairProbe, empty_request(&[("backgrond", wit::ParamValue::Number(1.0))])).unwrap_err();
        assert!(matches!(&err, wit::Error::Param(e) if e.key == "backgrond"), "{err:?}");
    }

    /// WIT 0.1.0 carries no ranges, so the host cannot check them for a component: the guest
    /// does, against its own declarations.
    #[test]
    fn a_component_checks_its_own_ranges() {
        let err = probe_features(&PairProbe, empty_request(&[("scale", wit::ParamValue::Number(2.0))])).unwrap_err();
        assert!(
            matches!(&err, wit::Error::Param(e) if e.key == "scale" && e.reason == "2 is outside 0..=1"),
            "{err:?}"
        );
    }

    #[test]
    fn translator_fits_and_predicts() {
        let labeled = |rows| wit::LabeledFeatures {
            features: wit_features(rows, vec![1.0; 2 * rows as usize]),
            labels: vec![true; rows as usize],
        };
        let fitted = translator_fit(&ScaledSum, Vec::new(), labeled(3), labeled(1)).unwrap();
        assert_eq!(fitted, wit::FittedTranslator { state: vec![3], log: vec!["fitted".into()] });
        let params = wit_params(&[("scale", wit::ParamValue::Integer(2))]);
        let logits =
            translator_predict(&ScaledSum, params, vec![1], wit_features(2, vec![1.0, 2.0, 0.5, 0.5])).unwrap();
        assert_eq!(logits, [9.0, 3.0]);
        let err = translator_predict(&ScaledSum, Vec::new(), vec![0], wit_features(2, vec![1.0])).unwrap_err();
        assert!(matches!(err, wit::Error::Invalid(_)));
    }

    #[test]
    fn evaluator_evaluates() {
        let evaluation =
            evaluator_evaluate(&Positives, Vec::new(), vec![1.0, -1.0, 2.0], vec![true, true, false]).unwrap();
        assert_eq!(evaluation.metrics, [wit::Metric { name: "positives".into(), value: 1.0 }]);
        let err = evaluator_evaluate(&Positives, wit_params(&[("k", wit::ParamValue::Integer(1))]), vec![], vec![]);
        assert_eq!(err.unwrap_err(), wit::Error::from(Error::param("k", "unknown parameter (known: none)")));
    }
}
