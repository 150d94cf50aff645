//! Bindings of `ugrn:plugin@0.1.0` (frozen) and the conversions between its types and the SDK's.
//! A later WIT version gets a sibling module; this one does not change.
use ugrn_sdk as sdk;

pub mod probe {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/0.1.0",
        world: "ugrn:plugin/probe@0.1.0",
        // An oracle call outside `features` traps instead of answering.
        imports: { default: trappable },
    });
}

pub mod translator {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/0.1.0",
        world: "ugrn:plugin/translator@0.1.0",
        with: { "ugrn:plugin/types@0.1.0": super::probe::ugrn::plugin::types },
    });
}

pub mod evaluator {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/0.1.0",
        world: "ugrn:plugin/evaluator@0.1.0",
        with: { "ugrn:plugin/types@0.1.0": super::probe::ugrn::plugin::types },
    });
}

pub use probe::ugrn::plugin::oracle as wit_oracle;
pub use probe::ugrn::plugin::types as wit;

/// A count that crosses the boundary as u32; larger ones cannot be expressed in this version.
fn count(n: usize, what: &str) -> sdk::Result<u32> {
    u32::try_from(n).map_err(|_| sdk::Error::invalid(format!("{what} of {n} does not fit the component interface")))
}

pub fn param_value(key: &str, v: &sdk::ParamValue) -> sdk::Result<wit::ParamValue> {
    use sdk::ParamValue as P;
    Ok(match v {
        P::Bool(b) => wit::ParamValue::Boolean(*b),
        P::Int(i) => wit::ParamValue::Integer(*i),
        P::Float(x) => wit::ParamValue::Number(*x),
        P::Str(s) => wit::ParamValue::Text(s.clone()),
        P::List(items) => match sdk::NumberList::of(key, items)? {
            sdk::NumberList::Integers(integers) => wit::ParamValue::Integers(integers),
            sdk::NumberList::Numbers(numbers) => wit::ParamValue::Numbers(numbers),
        },
    })
}

pub fn sdk_param_value(v: wit::ParamValue) -> sdk::ParamValue {
    use sdk::ParamValue as P;
    match v {
        wit::ParamValue::Boolean(b) => P::Bool(b),
        wit::ParamValue::Integer(i) => P::Int(i),
        wit::ParamValue::Number(x) => P::Float(x),
        wit::ParamValue::Text(s) => P::Str(s),
        wit::ParamValue::Integers(xs) => P::List(xs.into_iter().map(P::Int).collect()),
        wit::ParamValue::Numbers(xs) => P::List(xs.into_iter().map(P::Float).collect()),
    }
}

pub fn params(p: &sdk::Params) -> sdk::Result<Vec<(String, wit::ParamValue)>> {
    p.iter().map(|(k, v)| Ok((k.clone(), param_value(k, v)?))).collect()
}

fn param_kind(k: wit::ParamKind) -> sdk::ParamKind {
    use sdk::ParamKind as K;
    match k {
        wit::ParamKind::Boolean => K::Bool,
        wit::ParamKind::Integer => K::Int,
        wit::ParamKind::Number => K::Float,
        wit::ParamKind::Text => K::Str,
        wit::ParamKind::Choice(c) => K::Choice(c),
        wit::ParamKind::Numbers => K::FloatList,
        wit::ParamKind::Integers => K::IntList,
    }
}

pub fn plugin_info(info: wit::PluginInfo, kind: sdk::PluginKind) -> sdk::PluginInfo {
    sdk::PluginInfo {
        name: info.name,
        kind,
        version: info.version,
        description: info.description,
        params: info
            .params
            .into_iter()
            .map(|s| sdk::ParamSpec {
                name: s.name,
                kind: param_kind(s.kind),
                default: sdk_param_value(s.default),
                doc: s.doc,
            })
            .collect(),
    }
}

pub fn error(e: wit::Error) -> sdk::Error {
    match e {
        wit::Error::Param(p) => sdk::Error::Param { key: p.key, reason: p.reason },
        wit::Error::File(f) => sdk::Error::File { location: f.location, reason: f.reason },
        wit::Error::Invalid(s) => sdk::Error::Invalid(s),
        wit::Error::NotApplicable(s) => sdk::Error::NotApplicable(s),
        wit::Error::Compute(s) => sdk::Error::Compute(s),
    }
}

/// The oracle's errors as the component sees them; a panic or trap elsewhere in the host
/// reaches it as a compute error with the full message.
pub fn wit_error(e: sdk::Error) -> wit::Error {
    match e {
        sdk::Error::Param { key, reason } => wit::Error::Param(wit::ParamError { key, reason }),
        sdk::Error::File { location, reason } => wit::Error::File(wit::FileError { location, reason }),
        sdk::Error::Invalid(s) => wit::Error::Invalid(s),
        sdk::Error::NotApplicable(s) => wit::Error::NotApplicable(s),
        e @ (sdk::Error::Compute(_) | sdk::Error::Panic { .. } | sdk::Error::Trap { .. }) => {
            wit::Error::Compute(e.to_string())
        }
    }
}

pub fn matrix(m: &sdk::Matrix) -> sdk::Result<wit::Matrix> {
    Ok(wit::Matrix { rows: count(m.rows, "rows")?, cols: count(m.cols, "columns")?, data: m.data.clone() })
}

/// A matrix from a component, whose shape must match its data.
pub fn sdk_matrix(m: wit::Matrix) -> sdk::Result<sdk::Matrix> {
    sdk::Matrix::new(m.rows as usize, m.cols as usize, m.data)
}

pub fn features(f: &sdk::Features) -> sdk::Result<wit::Features> {
    Ok(wit::Features { columns: f.columns.clone(), values: matrix(&f.values)? })
}

pub fn sdk_features(f: wit::Features) -> sdk::Result<sdk::Features> {
    sdk::Features::new(f.columns, sdk_matrix(f.values)?)
}

pub fn labeled_features(f: &sdk::LabeledFeatures) -> sdk::Result<wit::LabeledFeatures> {
    Ok(wit::LabeledFeatures { features: features(&f.features)?, labels: f.labels.clone() })
}

/// The request as the component sees it; the expression matrix only when `with_expression`.
pub fn probe_request(r: &sdk::ProbeRequest<'_>) -> sdk::Result<wit::ProbeRequest> {
    let expression = match r.dataset.expression {
        Some(e) => Some(wit::Expression { cell_names: e.cell_names.clone(), values: matrix(&e.values)? }),
        None => None,
    };
    Ok(wit::ProbeRequest {
        params: params(r.params)?,
        dataset: wit::DatasetView {
            name: r.dataset.name.to_string(),
            genes: r.dataset.genes.to_vec(),
            expression,
            expression_source: r.dataset.expression_source.to_string(),
        },
        pairs: r
            .pairs
            .iter()
            .map(|p| Ok(wit::Pair { source: count(p.source, "gene index")?, target: count(p.target, "gene index")? }))
            .collect::<sdk::Result<_>>()?,
    })
}

pub fn evaluation(e: wit::Evaluation) -> sdk::Evaluation {
    sdk::Evaluation {
        metrics: e.metrics.into_iter().map(|m| sdk::Metric { name: m.name, value: m.value }).collect(),
        curves: e
            .curves
            .into_iter()
            .map(|c| sdk::Curve {
                name: c.name,
                x_label: c.x_label,
                y_label: c.y_label,
                points: c.points.into_iter().map(|p| (p.x, p.y)).collect(),
            })
            .collect(),
    }
}

pub fn cell_batch(b: wit_oracle::CellBatch) -> sdk::Result<sdk::CellBatch> {
    sdk::CellBatch::new(b.tokens, sdk_matrix(b.values)?)
}

pub fn model_info(i: &sdk::ModelInfo) -> wit_oracle::ModelInfo {
    // Model sizes are far below u32::MAX; saturate rather than fail an infallible call.
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    wit_oracle::ModelInfo {
        family: i.family.clone(),
        checkpoint: i.checkpoint.clone(),
        checkpoint_sha256: i.checkpoint_sha256.clone(),
        device: i.device.clone(),
        dtype: i.dtype.clone(),
        layers: n(i.layers),
        heads: n(i.heads),
        embedding_dim: n(i.embedding_dim),
        max_context: n(i.max_context),
        value_min: i.value_min,
        value_max: i.value_max,
        default_background: i.default_background,
        vocabulary: n(i.vocabulary),
    }
}

pub fn attention_maps(a: sdk::AttentionMaps) -> sdk::Result<wit_oracle::AttentionMaps> {
    Ok(wit_oracle::AttentionMaps {
        cells: count(a.cells, "cells")?,
        heads: count(a.heads, "heads")?,
        genes: count(a.genes, "genes")?,
        data: a.data,
    })
}

pub fn pass(p: wit_oracle::Pass) -> sdk::Pass {
    match p {
        wit_oracle::Pass::Readout => sdk::Pass::Readout,
        wit_oracle::Pass::Derivative => sdk::Pass::Derivative,
        wit_oracle::Pass::Attention => sdk::Pass::Attention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_values_round_trip() {
        use sdk::ParamValue as P;
        for v in [
            P::Bool(true),
            P::Int(-3),
            P::Float(2.5),
            P::Str("dataset".into()),
            P::List(vec![P::Int(1), P::Int(2)]),
            P::List(vec![P::Float(0.5), P::Float(60.0)]),
            P::List(vec![]),
        ] {
            assert_eq!(sdk_param_value(param_value("k", &v).unwrap()), v);
        }
        // Mixed numbers become numbers; anything else cannot cross and names the key.
        let mixed = P::List(vec![P::Int(1), P::Float(2.5)]);
        assert_eq!(sdk_param_value(param_value("k", &mixed).unwrap()), P::List(vec![P::Float(1.0), P::Float(2.5)]));
        let e = param_value("layers", &P::List(vec![P::Str("a".into())])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter `layers`: a list holding \"a\" cannot cross the component interface (numbers only)"
        );
    }

    #[test]
    fn shapes_from_a_component_are_checked() {
        let bad = wit::Matrix { rows: 2, cols: 2, data: vec![1.0; 3] };
        assert_eq!(sdk_matrix(bad).unwrap_err().to_string(), "invalid input: matrix of 2×2 needs 4 values, got 3");
        let f =
            wit::Features { columns: vec!["a".into()], values: wit::Matrix { rows: 1, cols: 2, data: vec![0.0; 2] } };
        assert_eq!(sdk_features(f).unwrap_err().to_string(), "invalid input: 1 column names for 2 feature columns");
    }

    #[test]
    fn errors_keep_their_kind_both_ways() {
        let e = sdk::Error::param("targets", "empty");
        assert_eq!(error(wit_error(e.clone())), e);
        let trap = sdk::Error::Trap { plugin: "p".into(), message: "out of fuel".into() };
        assert_eq!(error(wit_error(trap)), sdk::Error::Compute("component plugin `p` failed: out of fuel".into()));
    }
}
