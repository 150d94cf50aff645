//! Conversions between the SDK types and the WIT types of `ugrn:plugin/types`. Values coming in
//! are checked by the SDK constructors (a matrix of the wrong length is `Error::Invalid`).
use super::wit;
use crate::error::{Error, Result};
use crate::params::{NumberList, ParamKind, ParamSpec, ParamValue};
use crate::plugin::{FittedTranslator, PluginInfo};
use crate::types::{Curve, Evaluation, Expression, Features, LabeledFeatures, Matrix, Metric, Pair};

/// WIT sizes and indices are u32. usize is 32 bits on wasm32, so this fails only on native
/// targets, for sizes no component could hold.
pub(super) fn wit_u32(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::invalid(format!("{what} {n} does not fit in 32 bits")))
}

impl From<wit::Error> for Error {
    fn from(error: wit::Error) -> Self {
        match error {
            wit::Error::Param(wit::ParamError { key, reason }) => Error::Param { key, reason },
            wit::Error::File(wit::FileError { location, reason }) => Error::File { location, reason },
            wit::Error::Invalid(reason) => Error::Invalid(reason),
            wit::Error::NotApplicable(reason) => Error::NotApplicable(reason),
            wit::Error::Compute(reason) => Error::Compute(reason),
        }
    }
}

impl From<Error> for wit::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Param { key, reason } => wit::Error::Param(wit::ParamError { key, reason }),
            Error::File { location, reason } => wit::Error::File(wit::FileError { location, reason }),
            Error::Invalid(reason) => wit::Error::Invalid(reason),
            Error::NotApplicable(reason) => wit::Error::NotApplicable(reason),
            Error::Compute(reason) => wit::Error::Compute(reason),
            // The host's words for a failed plugin: a guest can only pass one on, as text.
            error @ (Error::Panic { .. } | Error::Trap { .. }) => wit::Error::Compute(error.to_string()),
        }
    }
}

impl From<wit::ParamValue> for ParamValue {
    fn from(value: wit::ParamValue) -> Self {
        match value {
            wit::ParamValue::Boolean(b) => ParamValue::Bool(b),
            wit::ParamValue::Integer(i) => ParamValue::Int(i),
            wit::ParamValue::Number(x) => ParamValue::Float(x),
            wit::ParamValue::Text(s) => ParamValue::Str(s),
            wit::ParamValue::Integers(items) => ParamValue::List(items.into_iter().map(ParamValue::Int).collect()),
            wit::ParamValue::Numbers(items) => ParamValue::List(items.into_iter().map(ParamValue::Float).collect()),
        }
    }
}

/// The WIT form of parameter `key`'s value; lists cross as [`NumberList::of`] says.
pub(super) fn wit_param_value(key: &str, value: &ParamValue) -> Result<wit::ParamValue> {
    Ok(match value {
        ParamValue::Bool(b) => wit::ParamValue::Boolean(*b),
        ParamValue::Int(i) => wit::ParamValue::Integer(*i),
        ParamValue::Float(x) => wit::ParamValue::Number(*x),
        ParamValue::Str(s) => wit::ParamValue::Text(s.clone()),
        ParamValue::List(items) => match NumberList::of(key, items)? {
            NumberList::Integers(integers) => wit::ParamValue::Integers(integers),
            NumberList::Numbers(numbers) => wit::ParamValue::Numbers(numbers),
        },
    })
}

impl From<ParamKind> for wit::ParamKind {
    fn from(kind: ParamKind) -> Self {
        match kind {
            ParamKind::Bool => wit::ParamKind::Boolean,
            ParamKind::Int => wit::ParamKind::Integer,
            ParamKind::Float => wit::ParamKind::Number,
            ParamKind::Str => wit::ParamKind::Text,
            ParamKind::Choice(choices) => wit::ParamKind::Choice(choices),
            ParamKind::FloatList => wit::ParamKind::Numbers,
            ParamKind::IntList => wit::ParamKind::Integers,
        }
    }
}

fn wit_param_spec(spec: ParamSpec) -> Result<wit::ParamSpec> {
    let default = wit_param_value(&spec.name, &spec.default)?;
    Ok(wit::ParamSpec { name: spec.name, kind: spec.kind.into(), default, doc: spec.doc })
}

/// The WIT form of `info`; its kind is dropped (the world is the kind).
pub(super) fn wit_plugin_info(info: PluginInfo) -> Result<wit::PluginInfo> {
    Ok(wit::PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        params: info.params.into_iter().map(wit_param_spec).collect::<Result<_>>()?,
    })
}

impl TryFrom<wit::Matrix> for Matrix {
    type Error = Error;
    fn try_from(matrix: wit::Matrix) -> Result<Self> {
        Matrix::new(matrix.rows as usize, matrix.cols as usize, matrix.data)
    }
}

impl TryFrom<Matrix> for wit::Matrix {
    type Error = Error;
    fn try_from(matrix: Matrix) -> Result<Self> {
        Ok(wit::Matrix {
            rows: wit_u32("rows", matrix.rows)?,
            cols: wit_u32("columns", matrix.cols)?,
            data: matrix.data,
        })
    }
}

impl From<wit::Pair> for Pair {
    fn from(pair: wit::Pair) -> Self {
        Pair { source: pair.source as usize, target: pair.target as usize }
    }
}

impl TryFrom<wit::Features> for Features {
    type Error = Error;
    fn try_from(features: wit::Features) -> Result<Self> {
        Features::new(features.columns, features.values.try_into()?)
    }
}

impl TryFrom<Features> for wit::Features {
    type Error = Error;
    fn try_from(features: Features) -> Result<Self> {
        Ok(wit::Features { columns: features.columns, values: features.values.try_into()? })
    }
}

impl TryFrom<wit::LabeledFeatures> for LabeledFeatures {
    type Error = Error;
    fn try_from(labeled: wit::LabeledFeatures) -> Result<Self> {
        Ok(LabeledFeatures { features: labeled.features.try_into()?, labels: labeled.labels })
    }
}

impl TryFrom<wit::Expression> for Expression {
    type Error = Error;
    fn try_from(expression: wit::Expression) -> Result<Self> {
        Ok(Expression { cell_names: expression.cell_names, values: expression.values.try_into()? })
    }
}

impl From<FittedTranslator> for wit::FittedTranslator {
    fn from(fitted: FittedTranslator) -> Self {
        wit::FittedTranslator { state: fitted.state, log: fitted.log }
    }
}

impl From<Metric> for wit::Metric {
    fn from(metric: Metric) -> Self {
        wit::Metric { name: metric.name, value: metric.value }
    }
}

impl From<Curve> for wit::Curve {
    fn from(curve: Curve) -> Self {
        wit::Curve {
            name: curve.name,
            x_label: curve.x_label,
            y_label: curve.y_label,
            points: curve.points.into_iter().map(|(x, y)| wit::Point { x, y }).collect(),
        }
    }
}

impl From<Evaluation> for wit::Evaluation {
    fn from(evaluation: Evaluation) -> Self {
        wit::Evaluation {
            metrics: evaluation.metrics.into_iter().map(Into::into).collect(),
            curves: evaluation.curves.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: ParamValue) -> ParamValue {
        wit_param_value("key", &value).unwrap().into()
    }

    #[test]
    fn param_values_cross_both_ways() {
        for value in [
            ParamValue::Bool(true),
            ParamValue::Int(-3),
            ParamValue::Float(2.5),
            ParamValue::Str("pair".into()),
            ParamValue::List(vec![ParamValue::Int(1), ParamValue::Int(2)]),
            ParamValue::List(vec![ParamValue::Float(0.5), ParamValue::Float(60.0)]),
            ParamValue::List(Vec::new()),
        ] {
            assert_eq!(round_trip(value.clone()), value);
        }
        for value in [
            wit::ParamValue::Boolean(false),
            wit::ParamValue::Integer(7),
            wit::ParamValue::Number(-1.5),
            wit::ParamValue::Text("dataset".into()),
            wit::ParamValue::Integers(vec![5, 10]),
            wit::ParamValue::Numbers(vec![0.0, 5.0]),
            wit::ParamValue::Numbers(Vec::new()),
        ] {
            assert_eq!(wit_param_value("key", &value.clone().into()).unwrap(), value);
        }
    }

    #[test]
    fn integer_lists_stay_integers_and_mixed_numbers_widen() {
        let ints = ParamValue::List(vec![ParamValue::Int(1), ParamValue::Int(2)]);
        assert_eq!(wit_param_value("ks", &ints).unwrap(), wit::ParamValue::Integers(vec![1, 2]));
        let mixed = ParamValue::List(vec![ParamValue::Int(1), ParamValue::Float(2.5)]);
        assert_eq!(wit_param_value("targets", &mixed).unwrap(), wit::ParamValue::Numbers(vec![1.0, 2.5]));
        assert_eq!(round_trip(mixed), ParamValue::List(vec![ParamValue::Float(1.0), ParamValue::Float(2.5)]));
        assert_eq!(
            wit_param_value("targets", &ParamValue::List(Vec::new())).unwrap(),
            wit::ParamValue::Numbers(vec![])
        );
    }

    #[test]
    fn other_lists_are_refused_naming_the_key() {
        for list in [
            vec![ParamValue::Int(1), ParamValue::Str("x".into())],
            vec![ParamValue::Bool(true)],
            vec![ParamValue::List(vec![ParamValue::Int(1)])],
        ] {
            let err = wit_param_value("targets", &ParamValue::List(list)).unwrap_err();
            assert!(matches!(&err, Error::Param { key, .. } if key == "targets"), "{err:?}");
        }
    }

    #[test]
    fn plugin_info_drops_the_kind_and_maps_param_kinds() {
        let info = PluginInfo {
            name: "probe-x".into(),
            kind: crate::PluginKind::Probe,
            version: "1.0.0".into(),
            description: "x".into(),
            params: vec![
                ParamSpec::bool("flag", true, "b"),
                ParamSpec::int("layer", 2, "i"),
                ParamSpec::float("background", 1.0, "f"),
                ParamSpec::string("path", "a", "s"),
                ParamSpec::choice("context", &["pair", "dataset"], "pair", "c"),
                ParamSpec::floats("targets", &[0.0, 5.0], "fl"),
                ParamSpec::ints("ks", &[1], "il"),
            ],
        };
        let wit = wit_plugin_info(info).unwrap();
        assert_eq!((wit.name.as_str(), wit.version.as_str(), wit.description.as_str()), ("probe-x", "1.0.0", "x"));
        let kinds: Vec<wit::ParamKind> = wit.params.iter().map(|p| p.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                wit::ParamKind::Boolean,
                wit::ParamKind::Integer,
                wit::ParamKind::Number,
                wit::ParamKind::Text,
                wit::ParamKind::Choice(vec!["pair".into(), "dataset".into()]),
                wit::ParamKind::Numbers,
                wit::ParamKind::Integers,
            ]
        );
        assert_eq!(wit.params[5].default, wit::ParamValue::Numbers(vec![0.0, 5.0]));
        assert_eq!(wit.params[6].default, wit::ParamValue::Integers(vec![1]));
    }

    #[test]
    fn a_default_that_cannot_cross_fails_the_info() {
        let spec = ParamSpec::new("odd", ParamKind::Str, ParamValue::List(vec![ParamValue::Str("a".into())]), "");
        let info = PluginInfo {
            name: "p".into(),
            kind: crate::PluginKind::Evaluator,
            version: "0".into(),
            description: String::new(),
            params: vec![spec],
        };
        assert!(matches!(wit_plugin_info(info), Err(Error::Param { key, .. }) if key == "odd"));
    }

    #[test]
    fn errors_cross_both_ways_and_host_failures_become_compute() {
        for error in [
            Error::param("k", "bad"),
            Error::file("a.csv:3", "no number"),
            Error::invalid("shape"),
            Error::NotApplicable("no expression".into()),
            Error::compute("nan"),
        ] {
            assert_eq!(Error::from(wit::Error::from(error.clone())), error);
        }
        let panic = Error::Panic { plugin: "p".into(), message: "boom".into() };
        assert_eq!(wit::Error::from(panic), wit::Error::Compute("plugin `p` panicked: boom".into()));
        let trap = Error::Trap { plugin: "p".into(), message: "out of fuel".into() };
        assert_eq!(wit::Error::from(trap), wit::Error::Compute("component plugin `p` failed: out of fuel".into()));
    }

    #[test]
    fn matrices_and_features_cross_checked() {
        let matrix = Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let wit = wit::Matrix::try_from(matrix.clone()).unwrap();
        assert_eq!((wit.rows, wit.cols), (2, 3));
        assert_eq!(Matrix::try_from(wit).unwrap(), matrix);
        let short = wit::Matrix { rows: 2, cols: 3, data: vec![0.0; 5] };
        assert!(matches!(Matrix::try_from(short), Err(Error::Invalid(_))));

        let features = Features::new(vec!["a".into(), "b".into(), "c".into()], matrix).unwrap();
        assert_eq!(Features::try_from(wit::Features::try_from(features.clone()).unwrap()).unwrap(), features);
        let unnamed =
            wit::Features { columns: vec!["a".into()], values: wit::Matrix { rows: 1, cols: 2, data: vec![0.0; 2] } };
        assert!(matches!(Features::try_from(unnamed), Err(Error::Invalid(_))));
    }

    #[test]
    fn pairs_widen_and_curves_become_points() {
        assert_eq!(Pair::from(wit::Pair { source: 4, target: 9 }), Pair { source: 4, target: 9 });
        let evaluation = Evaluation {
            metrics: vec![Metric { name: "auprc".into(), value: 0.5 }],
            curves: vec![Curve {
                name: "pr".into(),
                x_label: "recall".into(),
                y_label: "precision".into(),
                points: vec![(0.0, 1.0), (1.0, 0.25)],
            }],
        };
        let wit = wit::Evaluation::from(evaluation);
        assert_eq!(wit.metrics, [wit::Metric { name: "auprc".into(), value: 0.5 }]);
        assert_eq!(wit.curves[0].points, [wit::Point { x: 0.0, y: 1.0 }, wit::Point { x: 1.0, y: 0.25 }]);
        assert_eq!((wit.curves[0].x_label.as_str(), wit.curves[0].y_label.as_str()), ("recall", "precision"));
    }
}
