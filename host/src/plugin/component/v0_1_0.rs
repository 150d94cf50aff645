//! Bindings of `ugrn:plugin@0.1.0` (frozen, `sdk/wit/0.1.0/`): the host's imports, the calls of
//! each world, and the conversions between its types and the SDK's. A later WIT version gets a
//! sibling module; this one does not change.
use ugrn_sdk::{self as sdk, AttentionMaps, Matrix, TokenId};
use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::{CallError, Session};

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

use probe::ugrn::plugin::oracle as wit_oracle;
use probe::ugrn::plugin::types as wit;

/// The interface these bindings speak, as messages name it.
pub const PACKAGE: &str = "ugrn:plugin@0.1.0";

/// The probe world's imports: the oracle and the progress bar.
pub fn add_probe_imports(linker: &mut Linker<Session>) -> wasmtime::Result<()> {
    probe::Probe::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

pub fn probe_describe(pre: &probe::ProbePre<Session>, store: &mut Store<Session>) -> wasmtime::Result<sdk::PluginInfo> {
    let info = pre.instantiate(&mut *store)?.call_describe(&mut *store)?;
    Ok(plugin_info(info, sdk::PluginKind::Probe))
}

pub fn probe_needs_expression(
    pre: &probe::ProbePre<Session>,
    store: &mut Store<Session>,
    params: &sdk::Params,
) -> Result<bool, CallError> {
    let params = wit_params(params)?;
    Ok(pre.instantiate(&mut *store)?.call_needs_expression(&mut *store, &params)?)
}

pub fn probe_features(
    pre: &probe::ProbePre<Session>,
    store: &mut Store<Session>,
    request: &sdk::ProbeRequest<'_>,
) -> Result<sdk::Features, CallError> {
    let request = probe_request(request)?;
    let features = pre.instantiate(&mut *store)?.call_features(&mut *store, &request)?.map_err(error)?;
    sdk_features(features).map_err(|e| CallError::Malformed(format!("returned malformed features: {e}")))
}

pub fn translator_describe(
    pre: &translator::TranslatorPre<Session>,
    store: &mut Store<Session>,
) -> wasmtime::Result<sdk::PluginInfo> {
    let info = pre.instantiate(&mut *store)?.call_describe(&mut *store)?;
    Ok(plugin_info(info, sdk::PluginKind::Translator))
}

pub fn translator_fit(
    pre: &translator::TranslatorPre<Session>,
    store: &mut Store<Session>,
    params: &sdk::Params,
    train: &sdk::LabeledFeatures,
    validation: &sdk::LabeledFeatures,
) -> Result<sdk::FittedTranslator, CallError> {
    let (params, train, validation) = (wit_params(params)?, labeled_features(train)?, labeled_features(validation)?);
    let instance = pre.instantiate(&mut *store)?;
    let fitted = instance.call_fit(&mut *store, &params, &train, &validation)?.map_err(error)?;
    Ok(sdk::FittedTranslator { state: fitted.state, log: fitted.log })
}

pub fn translator_predict(
    pre: &translator::TranslatorPre<Session>,
    store: &mut Store<Session>,
    params: &sdk::Params,
    state: &[u8],
    features: &sdk::Features,
) -> Result<Vec<f32>, CallError> {
    let (params, features) = (wit_params(params)?, wit_features(features)?);
    let instance = pre.instantiate(&mut *store)?;
    Ok(instance.call_predict(&mut *store, &params, state, &features)?.map_err(error)?)
}

pub fn evaluator_describe(
    pre: &evaluator::EvaluatorPre<Session>,
    store: &mut Store<Session>,
) -> wasmtime::Result<sdk::PluginInfo> {
    let info = pre.instantiate(&mut *store)?.call_describe(&mut *store)?;
    Ok(plugin_info(info, sdk::PluginKind::Evaluator))
}

pub fn evaluator_evaluate(
    pre: &evaluator::EvaluatorPre<Session>,
    store: &mut Store<Session>,
    params: &sdk::Params,
    scores: &[f32],
    labels: &[bool],
) -> Result<sdk::Evaluation, CallError> {
    let params = wit_params(params)?;
    let instance = pre.instantiate(&mut *store)?;
    Ok(evaluation(instance.call_evaluate(&mut *store, &params, scores, labels)?.map_err(error)?))
}

impl wit::Host for Session {}

impl wit_oracle::Host for Session {
    fn info(&mut self) -> wasmtime::Result<wit_oracle::ModelInfo> {
        Ok(model_info(self.oracle()?.info()))
    }
    fn token_ids(&mut self, genes: Vec<String>) -> wasmtime::Result<Vec<Option<u32>>> {
        Ok(self.oracle()?.token_ids(&genes))
    }
    fn readout(&mut self, cells: wit_oracle::CellBatch) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(cell_batch(cells).and_then(|c| oracle.readout(&c)).and_then(|m| matrix(&m))))
    }
    fn readout_derivative(
        &mut self,
        cells: wit_oracle::CellBatch,
        sources: Vec<u32>,
    ) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        let sources: Vec<usize> = sources.into_iter().map(|s| s as usize).collect();
        Ok(to_guest(cell_batch(cells).and_then(|c| oracle.readout_derivative(&c, &sources)).and_then(|m| matrix(&m))))
    }
    fn gene_embeddings(&mut self, tokens: Vec<u32>) -> wasmtime::Result<Result<wit::Matrix, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(oracle.gene_embeddings(&tokens).and_then(|m: Matrix| matrix(&m))))
    }
    fn attention_scores(
        &mut self,
        cells: wit_oracle::CellBatch,
        layer: u32,
    ) -> wasmtime::Result<Result<wit_oracle::AttentionMaps, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(
            cell_batch(cells)
                .and_then(|c| oracle.attention_scores(&c, layer as usize))
                .and_then(|a: AttentionMaps| attention_maps(a)),
        ))
    }
    fn prepare_expression(
        &mut self,
        context: Vec<u32>,
        expression: Vec<f32>,
    ) -> wasmtime::Result<Result<Vec<f32>, wit::Error>> {
        let oracle = self.oracle()?;
        Ok(to_guest(oracle.prepare_expression(&context as &[TokenId], &expression)))
    }
    fn bytes_per_cell(&mut self, genes: u32, pass: wit_oracle::Pass) -> wasmtime::Result<u64> {
        Ok(self.oracle()?.bytes_per_cell(genes as usize, self::pass(pass)))
    }
}

impl probe::ugrn::plugin::progress::Host for Session {
    fn set_total(&mut self, total: u64) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.set_total(total);
        }
        Ok(())
    }
    fn advance(&mut self, done: u64) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.advance(done);
        }
        Ok(())
    }
    fn set_message(&mut self, message: String) -> wasmtime::Result<()> {
        if let Some((_, p)) = self.lent {
            p.set_message(&message);
        }
        Ok(())
    }
}

/// An answer of the host to the guest, with the error as this version carries it.
fn to_guest<T>(r: sdk::Result<T>) -> Result<T, wit::Error> {
    r.map_err(wit_error)
}

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

fn wit_params(p: &sdk::Params) -> sdk::Result<Vec<(String, wit::ParamValue)>> {
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
                // 0.1.0 carries no ranges: the component checks its own when called.
                range: None,
                non_empty: false,
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

fn wit_features(f: &sdk::Features) -> sdk::Result<wit::Features> {
    Ok(wit::Features { columns: f.columns.clone(), values: matrix(&f.values)? })
}

pub fn sdk_features(f: wit::Features) -> sdk::Result<sdk::Features> {
    sdk::Features::new(f.columns, sdk_matrix(f.values)?)
}

pub fn labeled_features(f: &sdk::LabeledFeatures) -> sdk::Result<wit::LabeledFeatures> {
    Ok(wit::LabeledFeatures { features: wit_features(&f.features)?, labels: f.labels.clone() })
}

/// The request as the component sees it; the expression matrix only when `with_expression`.
pub fn probe_request(r: &sdk::ProbeRequest<'_>) -> sdk::Result<wit::ProbeRequest> {
    let expression = match r.dataset.expression {
        Some(e) => Some(wit::Expression { cell_names: e.cell_names.clone(), values: matrix(&e.values)? }),
        None => None,
    };
    Ok(wit::ProbeRequest {
        params: wit_params(r.params)?,
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
