//! The native plugin gate and panic boundary.
use ugrn::plugin::{PluginHandle, Registry};
use ugrn_sdk::{DatasetView, Matrix, ModelOracle, NoProgress, Pair, ParamValue, Params, PluginKind, ProbeRequest};
use ugrn_tests::native_library;

#[test]
fn every_shipped_library_declares_its_plugin() {
    let shipped = [
        ("ugrn_backbone_scgpt", "backbone-scgpt", PluginKind::Backbone),
        ("ugrn_backbone_geneformer", "backbone-geneformer", PluginKind::Backbone),
        ("ugrn_probe_vvp", "probe-vvp", PluginKind::Probe),
        ("ugrn_probe_gdt", "probe-gdt", PluginKind::Probe),
        ("ugrn_probe_pert", "probe-pert", PluginKind::Probe),
        ("ugrn_probe_emb", "probe-emb", PluginKind::Probe),
        ("ugrn_probe_attn", "probe-attn", PluginKind::Probe),
        ("ugrn_probe_corr", "probe-corr", PluginKind::Probe),
        ("ugrn_translator_mlp", "translator-mlp", PluginKind::Translator),
        ("ugrn_evaluator_beeline", "evaluator-beeline", PluginKind::Evaluator),
    ];
    for (lib, name, kind) in shipped {
        let mut registry = Registry::default();
        registry.load_file(&native_library(lib));
        let refused: Vec<String> = registry.refused.iter().map(|e| e.to_string()).collect();
        assert!(refused.is_empty(), "{lib}: {refused:?}");
        let plugin = registry.get(name).unwrap_or_else(|| panic!("{lib} declares no plugin `{name}`"));
        assert_eq!(plugin.info.kind, kind, "{lib}");
        assert_eq!(registry.plugins().count(), 1, "{lib}");
        // Every default, given as a workflow would give it, passes its own kind and range.
        let specs = &plugin.info.params;
        let defaults = specs.iter().map(|s| (s.name.clone(), s.default.clone())).collect();
        if let Err(e) = Params::resolve(specs, defaults) {
            panic!("{lib}: a default is refused by its own declaration: {e}");
        }
    }
}

#[test]
fn plugin_with_other_abi_version_is_refused_naming_file_and_both_versions() {
    let file = native_library("ugrntest_mismatched_abi");
    let mut registry = Registry::default();
    registry.load_file(&file);
    assert_eq!(registry.plugins().count(), 0);
    let message = registry.refused[0].to_string();
    assert_eq!(
        message,
        format!(
            "{}: refused: plugin built with ABI version 999, host has {}; rebuild the plugin against this host",
            file.display(),
            ugrn_sdk::ABI_VERSION
        )
    );
}

#[test]
fn plugin_with_other_sdk_version_is_refused_naming_file_and_both_versions() {
    let file = native_library("ugrntest_mismatched_sdk");
    let mut registry = Registry::default();
    registry.load_file(&file);
    assert_eq!(registry.plugins().count(), 0);
    let message = registry.refused[0].to_string();
    assert_eq!(
        message,
        format!(
            "{}: refused: plugin built with SDK version 0.0.0-other, host has {}; rebuild the plugin against this host",
            file.display(),
            ugrn_sdk::SDK_VERSION
        )
    );
}

/// An oracle the panicking probe never calls.
struct NoOracle;

impl ModelOracle for NoOracle {
    fn info(&self) -> &ugrn_sdk::ModelInfo {
        unreachable!("not called by the test probe")
    }
    fn token_ids(&self, genes: &[String]) -> Vec<Option<u32>> {
        vec![None; genes.len()]
    }
    fn readout(&self, _: &ugrn_sdk::CellBatch) -> ugrn_sdk::Result<Matrix> {
        unreachable!()
    }
    fn readout_derivative(&self, _: &ugrn_sdk::CellBatch, _: &[usize]) -> ugrn_sdk::Result<Matrix> {
        unreachable!()
    }
    fn gene_embeddings(&self, _: &[u32]) -> ugrn_sdk::Result<Matrix> {
        unreachable!()
    }
    fn attention_scores(&self, _: &ugrn_sdk::CellBatch, _: usize) -> ugrn_sdk::Result<ugrn_sdk::AttentionMaps> {
        unreachable!()
    }
    fn prepare_expression(&self, _: &[u32], _: &[f32]) -> ugrn_sdk::Result<Vec<f32>> {
        unreachable!()
    }
    fn bytes_per_cell(&self, _: usize, _: ugrn_sdk::Pass) -> u64 {
        1
    }
}

#[test]
fn panic_in_plugin_becomes_an_error_naming_it_and_the_plugin_stays_usable() {
    let file = native_library("ugrntest_panicking_probe");
    let mut registry = Registry::default();
    registry.load_file(&file);
    assert!(registry.refused.is_empty(), "{:?}", registry.refused.iter().map(|e| e.to_string()).collect::<Vec<_>>());
    let plugin = registry.get("test-panicking-probe").expect("probe loaded");
    let PluginHandle::Probe(probe) = &*plugin.handle else { panic!("not a probe") };
    let specs = probe.describe().params;
    let genes = vec!["A".to_string(), "B".to_string()];
    let pairs = [Pair { source: 0, target: 1 }];
    let dataset = DatasetView { name: "toy", genes: &genes, expression: None, expression_source: "none" };
    let run = |panic: bool| {
        let params = Params::resolve(&specs, [("panic".to_string(), ParamValue::Bool(panic))].into()).unwrap();
        probe.features(&ProbeRequest { params: &params, dataset, pairs: &pairs }, &NoOracle, &NoProgress)
    };
    let err = run(true).unwrap_err();
    assert_eq!(err.to_string(), "plugin `ugrntest-panicking-probe` panicked: deliberate panic for pair count 1");
    let features = run(false).expect("the plugin answers after a panic");
    assert_eq!(features.columns, vec!["zero".to_string()]);
    assert_eq!(features.values.rows, 1);
}

#[test]
fn truncated_library_is_refused_naming_it_instead_of_crashing_the_host() {
    let whole = std::fs::read(native_library("ugrn_probe_emb")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The recipe (250,000 bytes), half, all but the last byte, and a cut header.
    for (i, len) in [250_000, whole.len() / 2, whole.len() - 1, 40].into_iter().enumerate() {
        assert!(len < whole.len(), "the plugin is smaller than the cut");
        let file = dir.path().join(format!("libugrn_truncated{i}{}", std::env::consts::DLL_SUFFIX));
        std::fs::write(&file, &whole[..len]).unwrap();
        let mut registry = Registry::default();
        registry.load_file(&file);
        assert_eq!(registry.plugins().count(), 0, "{len} bytes");
        let message = registry.refused[0].to_string();
        let expected = format!("{}: cannot load: truncated", file.display());
        assert!(message.starts_with(&expected), "{len} bytes: {message}");
    }
    // The whole file still loads.
    let file = dir.path().join(format!("libugrn_whole{}", std::env::consts::DLL_SUFFIX));
    std::fs::write(&file, &whole).unwrap();
    let mut registry = Registry::default();
    registry.load_file(&file);
    assert!(registry.refused.is_empty(), "{:?}", registry.refused.iter().map(|e| e.to_string()).collect::<Vec<_>>());
    assert_eq!(registry.plugins().count(), 1);
}
