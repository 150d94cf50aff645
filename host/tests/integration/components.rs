//! The host side of component plugins, on a probe component written in WAT
//! (`host/tests/components/ugrn_probe_wat.wat`), so it runs where no wasm compiler target is installed.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ugrn::plugin::{ComponentLimits, PluginHandle, Registry};
use ugrn_sdk::{
    AttentionMaps, CellBatch, DatasetView, Error, GeneSymbol, Matrix, ModelInfo, ModelOracle, Pair, ParamKind,
    ParamValue, Params, Pass, PluginKind, ProbeRequest, Progress, Result, TokenId,
};

fn wat_probe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/components/ugrn_probe_wat.wat")
}

/// Answers only `bytes_per_cell` (genes × 1000 + pass), the one call the WAT probe makes.
struct CountingOracle {
    info: ModelInfo,
}

impl CountingOracle {
    fn new() -> Self {
        CountingOracle {
            info: ModelInfo {
                family: "test".into(),
                checkpoint: "none".into(),
                checkpoint_sha256: String::new(),
                device: "cpu".into(),
                dtype: "f32".into(),
                layers: 1,
                heads: 1,
                embedding_dim: 4,
                max_context: 8,
                value_min: 0.0,
                value_max: 50.0,
                default_background: 1.0,
                vocabulary: 10,
            },
        }
    }
}

impl ModelOracle for CountingOracle {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn token_ids(&self, genes: &[GeneSymbol]) -> Vec<Option<TokenId>> {
        genes.iter().map(|_| None).collect()
    }
    fn readout(&self, _: &CellBatch) -> Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn readout_derivative(&self, _: &CellBatch, _: &[usize]) -> Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn gene_embeddings(&self, _: &[TokenId]) -> Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn attention_scores(&self, _: &CellBatch, _: usize) -> Result<AttentionMaps> {
        Err(Error::compute("not used"))
    }
    fn prepare_expression(&self, _: &[TokenId], _: &[f32]) -> Result<Vec<f32>> {
        Err(Error::compute("not used"))
    }
    fn bytes_per_cell(&self, genes: usize, pass: Pass) -> u64 {
        genes as u64 * 1000 + pass as u64
    }
}

#[derive(Default)]
struct RecordedProgress {
    calls: Mutex<Vec<String>>,
}

impl Progress for RecordedProgress {
    fn set_total(&self, total: u64) {
        self.calls.lock().unwrap().push(format!("total {total}"));
    }
    fn advance(&self, done: u64) {
        self.calls.lock().unwrap().push(format!("advance {done}"));
    }
}

fn registry(limits: ComponentLimits) -> Registry {
    let mut registry = Registry::new(limits);
    registry.load_file(&wat_probe());
    assert!(registry.refused.is_empty(), "{}", registry.refused[0]);
    registry
}

/// Runs the WAT probe on two pairs of a three-gene dataset with `mode`.
fn features(registry: &Registry, mode: i64) -> (Result<ugrn_sdk::Features>, Vec<String>) {
    let plugin = registry.get("probe-wat").expect("probe-wat is loaded");
    let PluginHandle::Probe(probe) = &*plugin.handle else { panic!("probe-wat is not a probe") };
    let params = Params::resolve(&plugin.info.params, [("mode".to_string(), ParamValue::Int(mode))].into()).unwrap();
    let genes: Vec<GeneSymbol> = vec!["A".into(), "B".into(), "C".into()];
    let pairs = [Pair { source: 0, target: 2 }, Pair { source: 1, target: 0 }];
    let request = ProbeRequest {
        params: &params,
        dataset: DatasetView { name: "toy", genes: &genes, expression: None, expression_source: "none" },
        pairs: &pairs,
    };
    let progress = RecordedProgress::default();
    let result = probe.features(&request, &CountingOracle::new(), &progress);
    (result, progress.calls.into_inner().unwrap())
}

fn trap_message(result: Result<ugrn_sdk::Features>) -> String {
    match result {
        Err(Error::Trap { plugin, message }) => {
            assert_eq!(plugin, "probe-wat");
            message
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_wat_component_is_listed_with_its_parameters() {
    let registry = registry(ComponentLimits::default());
    let plugin = registry.get("probe-wat").unwrap();
    assert_eq!(plugin.info.kind, PluginKind::Probe);
    assert_eq!(plugin.info.version, "0.1.0");
    assert!(plugin.info.description.starts_with("Test component written in WAT"), "{}", plugin.info.description);
    assert_eq!(plugin.info.params.len(), 1);
    let mode = &plugin.info.params[0];
    assert_eq!((mode.name.as_str(), &mode.kind, &mode.default), ("mode", &ParamKind::Int, &ParamValue::Int(0)));
    assert!(mode.doc.starts_with("0 answers; 1 traps"), "{}", mode.doc);
    let PluginHandle::Probe(probe) = &*plugin.handle else { panic!("not a probe") };
    let mode =
        |m: i64| Params::resolve(&plugin.info.params, [("mode".to_string(), ParamValue::Int(m))].into()).unwrap();
    assert!(!probe.needs_expression(&mode(0)));
    assert!(probe.needs_expression(&mode(6)));
}

#[test]
fn features_come_back_through_the_oracle_and_progress() {
    let registry = registry(ComponentLimits::default());
    let (result, progress) = features(&registry, 0);
    let f = result.unwrap();
    assert_eq!(f.columns, ["source", "target", "bytes"]);
    // bytes_per_cell(2 genes, readout) = 2000 from the host's oracle.
    assert_eq!(f.values, Matrix::new(2, 3, vec![0.0, 2.0, 2000.0, 1.0, 0.0, 2000.0]).unwrap());
    assert_eq!(progress, ["total 2", "advance 2"]);
}

#[test]
fn an_error_returned_by_the_component_keeps_its_kind() {
    let (result, _) = features(&registry(ComponentLimits::default()), 5);
    assert_eq!(result.unwrap_err(), Error::Compute("mode 5 asks for an error".into()));
}

#[test]
fn a_trap_is_an_error_naming_the_plugin() {
    let message = trap_message(features(&registry(ComponentLimits::default()), 1).0);
    assert!(message.starts_with("trapped: "), "{message}");
    assert!(message.contains("unreachable"), "{message}");
}

#[test]
fn a_component_out_of_fuel_stops_with_the_limit_named() {
    let limits = ComponentLimits { fuel: 1_000_000, ..ComponentLimits::default() };
    let registry = registry(limits);
    let message = trap_message(features(&registry, 2).0);
    assert_eq!(message, "ran out of fuel (1000000 units per call)");
    // The limit is per call: the same plugin answers the next call with full fuel.
    assert!(features(&registry, 0).0.is_ok());
}

#[test]
fn a_component_over_its_memory_cap_stops_with_the_cap_named() {
    let limits = ComponentLimits { memory_bytes: 64 << 20, ..ComponentLimits::default() };
    let message = trap_message(features(&registry(limits), 3).0);
    assert!(message.starts_with("over its memory cap of 64 MiB (asked for 65 MiB)"), "{message}");
}

#[test]
fn output_of_the_wrong_shape_is_refused() {
    let message = trap_message(features(&registry(ComponentLimits::default()), 4).0);
    assert_eq!(message, "returned 3 feature rows for 2 pairs");
}

#[test]
fn a_file_that_is_not_a_component_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("ugrn_core_module.wat");
    std::fs::write(&module, "(module (func (export \"features\")))").unwrap();
    let garbage = dir.path().join("ugrn_garbage.wasm");
    std::fs::write(&garbage, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let empty = dir.path().join("ugrn_empty.wat");
    std::fs::write(&empty, "(component)").unwrap();
    let registry = Registry::discover(&[dir.path().to_path_buf()], ComponentLimits::default());
    assert_eq!(registry.plugins().count(), 0);
    let messages: Vec<String> = registry.refused.iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].starts_with(&format!("{}: cannot load: ", module.display())), "{}", messages[0]);
    assert!(messages[1].starts_with(&format!("{}: cannot load: ", empty.display())), "{}", messages[1]);
    assert!(messages[1].ends_with("exports none of the worlds of ugrn:plugin@0.1.0 (probe: `features`, translator: `fit`, evaluator: `evaluate`)"), "{}", messages[1]);
    assert!(messages[2].starts_with(&format!("{}: cannot load: ", garbage.display())), "{}", messages[2]);
}

#[test]
fn a_wat_evaluator_component_scores_through_the_evaluator_world() {
    let mut registry = Registry::default();
    registry.load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/components/ugrn_evaluator_wat.wat"));
    assert!(registry.refused.is_empty(), "{}", registry.refused[0]);
    let plugin = registry.get("evaluator-wat").expect("evaluator-wat is loaded");
    assert_eq!((plugin.info.kind, plugin.info.params.len()), (PluginKind::Evaluator, 0));
    let PluginHandle::Evaluator(evaluator) = &*plugin.handle else { panic!("not an evaluator") };
    let params = Params::defaults(&[]);
    let e = evaluator.evaluate(&params, &[0.5, 1.0, 0.25, 0.25], &[true, false, true, true]).unwrap();
    assert_eq!(e.metric("positives"), Some(3.0));
    assert_eq!(e.metric("mean-score"), Some(0.5));
    assert!(e.curves.is_empty());
    assert_eq!(evaluator.evaluate(&params, &[], &[]).unwrap_err(), Error::Invalid("no scores".into()));
}
