//! Panic guards. A panic must never unwind out of a plugin library: the host links its own copy
//! of std and would abort on a foreign unwind. So every call into a plugin object goes through a
//! wrapper that is compiled into the plugin itself (these types are instantiated by the export
//! macros) and turns a panic into `Error::Panic` naming the plugin.
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};
use crate::oracle::{AttentionMaps, CellBatch, ModelInfo, ModelOracle, Pass};
use crate::params::Params;
use crate::plugin::{
    Backbone, Evaluator, FittedTranslator, LoadRequest, PluginInfo, PluginKind, Probe, ProbeRequest, Progress,
    Translator,
};
use crate::types::{Evaluation, Features, GeneSymbol, LabeledFeatures, Matrix, TokenId};

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f`, turning a panic into `Error::Panic { plugin, .. }`.
pub fn catch<T>(plugin: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(Error::Panic { plugin: plugin.to_string(), message: panic_message(&*payload) }),
    }
}

/// Like [`catch`] for calls that cannot fail otherwise; a panic yields `fallback`.
fn catch_or<T>(plugin: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        eprintln!("plugin `{plugin}` panicked: {}", panic_message(&*payload));
        fallback
    })
}

/// `f`'s description, or on a panic one that names the plugin and the `kind` it was exported as.
fn described(plugin: &'static str, kind: PluginKind, f: impl FnOnce() -> PluginInfo) -> PluginInfo {
    catch_or(
        plugin,
        PluginInfo {
            name: plugin.to_string(),
            kind,
            version: "?".into(),
            description: "describe() panicked".into(),
            params: Vec::new(),
        },
        f,
    )
}

/// A plugin object behind a panic guard.
pub struct Guarded<T> {
    plugin: &'static str,
    inner: T,
}

impl<T> Guarded<T> {
    pub fn new(plugin: &'static str, inner: T) -> Self {
        Guarded { plugin, inner }
    }
}

impl<T: Probe> Probe for Guarded<T> {
    fn describe(&self) -> PluginInfo {
        described(self.plugin, PluginKind::Probe, || self.inner.describe())
    }
    fn needs_expression(&self, params: &Params) -> bool {
        // A panic counts as "reads expression": the expression then enters the feature-cache key,
        // so the wrong guess costs a cache miss, never stale features.
        catch_or(self.plugin, true, || self.inner.needs_expression(params))
    }
    fn reads_mean_cell_only(&self, params: &Params) -> bool {
        // A panic counts as "reads every cell": the host then gives it the whole matrix.
        catch_or(self.plugin, false, || self.inner.reads_mean_cell_only(params))
    }
    fn columns(&self, params: &Params, info: &ModelInfo) -> Result<Option<Vec<String>>> {
        catch(self.plugin, || self.inner.columns(params, info))
    }
    fn features(
        &self,
        request: &ProbeRequest<'_>,
        oracle: &dyn ModelOracle,
        progress: &dyn Progress,
    ) -> Result<Features> {
        catch(self.plugin, || self.inner.features(request, oracle, progress))
    }
}

impl<T: Translator> Translator for Guarded<T> {
    fn describe(&self) -> PluginInfo {
        described(self.plugin, PluginKind::Translator, || self.inner.describe())
    }
    fn fit(&self, params: &Params, train: &LabeledFeatures, validation: &LabeledFeatures) -> Result<FittedTranslator> {
        catch(self.plugin, || self.inner.fit(params, train, validation))
    }
    fn predict(&self, params: &Params, state: &[u8], features: &Features) -> Result<Vec<f32>> {
        catch(self.plugin, || self.inner.predict(params, state, features))
    }
}

impl<T: Evaluator> Evaluator for Guarded<T> {
    fn describe(&self) -> PluginInfo {
        described(self.plugin, PluginKind::Evaluator, || self.inner.describe())
    }
    fn evaluate(&self, params: &Params, scores: &[f32], labels: &[bool]) -> Result<Evaluation> {
        catch(self.plugin, || self.inner.evaluate(params, scores, labels))
    }
}

impl<T: Backbone> Backbone for Guarded<T> {
    fn describe(&self) -> PluginInfo {
        described(self.plugin, PluginKind::Backbone, || self.inner.describe())
    }
    fn load(&self, request: &LoadRequest) -> Result<Box<dyn ModelOracle>> {
        let plugin = self.plugin;
        catch(plugin, || self.inner.load(request))
            .map(|oracle| Box::new(GuardedOracle { plugin, inner: oracle }) as Box<dyn ModelOracle>)
    }
}

/// A backbone's oracle behind a panic guard.
struct GuardedOracle {
    plugin: &'static str,
    inner: Box<dyn ModelOracle>,
}

impl ModelOracle for GuardedOracle {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        catch_or(self.plugin, vec![None; genes.len()], || self.inner.token_ids(genes))
    }
    fn readout(&self, cells: &CellBatch) -> Result<Matrix> {
        catch(self.plugin, || self.inner.readout(cells))
    }
    fn readout_derivative(&self, cells: &CellBatch, sources: &[usize]) -> Result<Matrix> {
        catch(self.plugin, || self.inner.readout_derivative(cells, sources))
    }
    fn gene_embeddings(&self, tokens: &[TokenId]) -> Result<Matrix> {
        catch(self.plugin, || self.inner.gene_embeddings(tokens))
    }
    fn attention_scores(&self, cells: &CellBatch, layer: usize) -> Result<AttentionMaps> {
        catch(self.plugin, || self.inner.attention_scores(cells, layer))
    }
    fn prepare_expression(&self, context: &[TokenId], expression: &[f32]) -> Result<Vec<f32>> {
        catch(self.plugin, || self.inner.prepare_expression(context, expression))
    }
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        catch_or(self.plugin, u64::MAX, || self.inner.bytes_per_cell(genes, pass))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct PanickingTranslator;

    impl Translator for PanickingTranslator {
        fn describe(&self) -> PluginInfo {
            panic!("no description")
        }
        fn fit(&self, _: &Params, _: &LabeledFeatures, _: &LabeledFeatures) -> Result<FittedTranslator> {
            panic!("no fit")
        }
        fn predict(&self, _: &Params, _: &[u8], _: &Features) -> Result<Vec<f32>> {
            panic!("no predict")
        }
    }

    struct PanickingEvaluator;

    impl Evaluator for PanickingEvaluator {
        fn describe(&self) -> PluginInfo {
            panic!("no description")
        }
        fn evaluate(&self, _: &Params, _: &[f32], _: &[bool]) -> Result<Evaluation> {
            panic!("no evaluation")
        }
    }

    fn fallback(name: &str, kind: PluginKind) -> PluginInfo {
        PluginInfo {
            name: name.into(),
            kind,
            version: "?".into(),
            description: "describe() panicked".into(),
            params: Vec::new(),
        }
    }

    #[test]
    fn a_panicking_describe_keeps_the_plugin_kind() {
        let translator = Guarded::new("translator-x", PanickingTranslator);
        assert_eq!(translator.describe(), fallback("translator-x", PluginKind::Translator));
        let evaluator = Guarded::new("evaluator-x", PanickingEvaluator);
        assert_eq!(evaluator.describe(), fallback("evaluator-x", PluginKind::Evaluator));
        let err = evaluator.evaluate(&Params::default(), &[], &[]).unwrap_err();
        assert_eq!(err, Error::Panic { plugin: "evaluator-x".into(), message: "no evaluation".into() });
    }
}
