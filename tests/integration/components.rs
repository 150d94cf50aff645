//! Component plugins in real runs: the VVP probe built as a WebAssembly component gives the
//! native plugin's features, and a component that traps stops a run with nothing written.
use std::path::{Path, PathBuf};

use ugrn::experiment::{RunOptions, run};
use ugrn::plugin::{PluginHandle, Registry};
use ugrn_sdk::{DatasetView, GeneSymbol, LoadRequest, NoProgress, Pair, ParamValue, Params, ProbeRequest};
use ugrn_tests::{deps_dir, native_library, scgpt_fixture};

/// `UGRN_VVP_COMPONENT`, else what `cargo build --release --target wasm32-wasip2 -p
/// ugrn-probe-vvp-plugin` leaves in this target folder.
fn vvp_component() -> Option<PathBuf> {
    let path = std::env::var_os("UGRN_VVP_COMPONENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| deps_dir().join("../../wasm32-wasip2/release/ugrn_probe_vvp.wasm"));
    if path.is_file() {
        return Some(path);
    }
    // CI builds the component first and sets this, so a missing file fails there.
    assert!(
        std::env::var_os("UGRN_REQUIRE_COMPONENTS").is_none(),
        "{} not found (UGRN_REQUIRE_COMPONENTS is set)",
        path.display()
    );
    eprintln!("SKIPPED: {} not built (needs the wasm32-wasip2 target)", path.display());
    None
}

fn registry_of(file: &Path) -> Registry {
    let mut registry = Registry::default();
    registry.load_file(file);
    assert!(registry.refused.is_empty(), "{}", registry.refused[0]);
    registry
}

fn probe_of(registry: &Registry) -> &dyn ugrn_sdk::Probe {
    let PluginHandle::Probe(probe) = &*registry.get("probe-vvp").expect("probe-vvp loaded").handle else {
        panic!("probe-vvp is not a probe")
    };
    &**probe
}

#[test]
fn the_vvp_component_gives_the_native_plugins_features() {
    let Some(component) = vvp_component() else { return };
    let native = registry_of(&native_library("ugrn_probe_vvp"));
    let wasm = registry_of(&component);
    // The same declarations, less the ranges, which WIT 0.1.0 does not carry (the component
    // checks them itself when called).
    let unranged = |mut specs: Vec<ugrn_sdk::ParamSpec>| {
        specs.iter_mut().for_each(|s| (s.range, s.non_empty) = (None, false));
        specs
    };
    assert_eq!(probe_of(&wasm).describe().params, unranged(probe_of(&native).describe().params));

    let backbones = registry_of(&native_library("ugrn_backbone_scgpt"));
    let PluginHandle::Backbone(scgpt) = &*backbones.get("backbone-scgpt").unwrap().handle else { panic!() };
    let oracle = scgpt
        .load(&LoadRequest {
            checkpoint: scgpt_fixture(),
            device: "cpu".into(),
            dtype: "f32".into(),
            params: Params::defaults(&scgpt.describe().params),
        })
        .unwrap();
    let genes: Vec<GeneSymbol> = (0..12).map(|g| format!("GENE{g:03}")).collect();
    let pairs: Vec<Pair> =
        [(0, 5), (0, 7), (1, 2), (3, 11), (4, 0), (9, 10)].map(|(source, target)| Pair { source, target }).to_vec();
    for context in ["pair", "dataset"] {
        let specs = probe_of(&native).describe().params;
        let params = Params::resolve(
            &specs,
            [
                ("context".to_string(), ParamValue::Str(context.into())),
                ("targets".to_string(), ParamValue::List(vec![ParamValue::Int(0), ParamValue::Float(12.5)])),
            ]
            .into(),
        )
        .unwrap();
        let request = ProbeRequest {
            params: &params,
            dataset: DatasetView { name: "toy", genes: &genes, expression: None, expression_source: "none" },
            pairs: &pairs,
        };
        let expected = probe_of(&native).features(&request, &*oracle, &NoProgress).unwrap();
        let got = probe_of(&wasm).features(&request, &*oracle, &NoProgress).unwrap();
        assert_eq!(got.columns, ["vvp_v0", "vvp_v12.5"]);
        assert_eq!(got, expected, "context {context}");
        assert!(got.values.data.iter().any(|&v| v != 0.0), "context {context}: responses are not all zero");
    }
}

/// A leave-dataset-out run on two fixture-gene datasets whose one method uses the WAT probe
/// component (`host/tests/components`) with `mode`.
fn run_with_wat_probe(dir: &Path, mode: i64) -> anyhow::Result<ugrn::report::Report> {
    let components = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/tests/components");
    for name in ["toyA", "toyB"] {
        let offset = if name == "toyA" { 0 } else { 20 };
        let genes: Vec<String> = (offset..offset + 10).map(|g| format!("GENE{g:03}")).collect();
        std::fs::write(dir.join(format!("{name}_tfs.txt")), format!("{}\n{}\n", genes[0], genes[1])).unwrap();
        let edges: String = (2..10).map(|g| format!("{},{}\n", genes[g % 2], genes[g])).collect();
        std::fs::write(dir.join(format!("{name}_edges.csv")), format!("Gene1,Gene2\n{edges}")).unwrap();
        let rows: String = genes.iter().enumerate().map(|(g, gene)| format!("{gene},{g},1,0,2\n")).collect();
        std::fs::write(dir.join(format!("{name}.csv")), format!("gene,c0,c1,c2,c3\n{rows}")).unwrap();
    }
    let text = format!(
        r#"
[run]
name = "components"
cache = "cache"
plugin_dirs = ["{components}"]

[backbone]
plugin = "backbone-scgpt"
checkpoint = "{checkpoint}"

[data]
train = ["toyA"]
test = ["toyB"]

[[dataset]]
name = "toyA"
expression = "toyA.csv"
tfs = "toyA_tfs.txt"
edges = "toyA_edges.csv"

[[dataset]]
name = "toyB"
expression = "toyB.csv"
tfs = "toyB_tfs.txt"
edges = "toyB_edges.csv"

[[method]]
name = "WAT"
probe = {{ plugin = "probe-wat", mode = {mode} }}
translator = {{ plugin = "translator-mlp", hidden = [4], epochs = 5 }}
"#,
        components = components.display(),
        checkpoint = scgpt_fixture().display()
    );
    let file = dir.join("wf.toml");
    std::fs::write(&file, text).unwrap();
    let (resolved, registry) = ugrn::cli::check(&file, &[]).map_err(|p| anyhow::anyhow!("{p}"))?;
    run(&resolved, &registry, &RunOptions { output: Some(dir.join("out")), force: false, quiet: true })
}

#[test]
fn a_component_probe_runs_in_a_workflow_and_a_trap_leaves_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_with_wat_probe(dir.path(), 0).expect("run with the WAT probe");
    assert_eq!(report.methods, ["WAT"]);
    assert!(dir.path().join("out/results.md").is_file());

    let failed = tempfile::tempdir().unwrap();
    let err = format!("{:#}", run_with_wat_probe(failed.path(), 1).err().expect("the trap stops the run"));
    assert!(err.contains("component plugin `probe-wat` failed: trapped: "), "{err}");
    // Only the inputs remain: no report folder, no staging folder beside it.
    let mut left: Vec<String> = std::fs::read_dir(failed.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cache")
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["toyA.csv", "toyA_edges.csv", "toyA_tfs.txt", "toyB.csv", "toyB_edges.csv", "toyB_tfs.txt", "wf.toml"]
    );
}
