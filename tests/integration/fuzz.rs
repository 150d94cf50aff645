//! Mutated valid inputs give an error naming the file (or key), never a panic, an abort or an
//! allocation past a bound: workflows, user datasets (CSV and `.h5ad`), both backbones'
//! checkpoints, the translator's saved state and a component's bytes.
//!
//! Each target runs in a child process of this test binary under an address-space limit, so
//! an allocation past the bound aborts the child (a failure here, with the input that proptest
//! shrank it to) instead of taking the machine. `UGRN_FUZZ_CASES` sets the cases per target
//! (default 24, enough for CI; see README's Reliability section for the long run).
use std::fmt::Display;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ugrn::data::{NegativeSet, Negatives, UserDatasetSpec, load_user_dataset, sample_pairs};
use ugrn::plugin::{PluginHandle, Registry};
use ugrn::workflow::{ResolvedWorkflow, Workflow};
use ugrn_sdk::{
    AttentionMaps, CellBatch, DatasetView, Error, Features, LabeledFeatures, LoadRequest, Matrix, ModelInfo,
    ModelOracle, NoProgress, Pair, ParamValue, Params, Pass, ProbeRequest, TokenId,
};
use ugrn_tests::{geneformer_fixture, native_library, scgpt_fixture};

/// Set in a child to the one test it runs.
const CHILD: &str = "UGRN_FUZZ_CHILD";
const GIB: u64 = 1 << 30;

/// Runs `body` in a child process of this binary (only the test `test`) under an address-space
/// limit of `limit` bytes, and fails unless the child ran it and it passed.
fn in_child(test: &str, limit: u64, body: impl FnOnce()) {
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        body();
        return;
    }
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([test, "--exact", "--include-ignored", "--nocapture", "--test-threads=1"]).env(CHILD, test);
    // SAFETY: setrlimit is async-signal-safe, and the closure touches no other state.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            if libc::setrlimit(libc::RLIMIT_AS, &rlimit) == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        });
    }
    let out = command.output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} under a {} GiB limit: {} (signal {:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        limit / GIB,
        out.status,
        out.status.signal()
    );
}

fn cases() -> u32 {
    std::env::var("UGRN_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)
}

/// Runs `case` on `cases()` values of `strategy`; a panic in it is a failure, shrunk.
fn check_all<T: std::fmt::Debug>(strategy: impl Strategy<Value = T>, case: impl Fn(T) -> Result<(), TestCaseError>) {
    let config = Config { cases: cases(), failure_persistence: None, max_shrink_time: 60_000, ..Config::default() };
    if let Err(e) = TestRunner::new(config).run(&strategy, case) {
        panic!("{e}");
    }
}

/// Numbers for size fields, lengths and counts, as text.
const HUGE_NUMBERS: &[&str] = &[
    "100000000000",
    "18446744073709551615",
    "9223372036854775807",
    "4294967296",
    "-1",
    "-9223372036854775808",
    "1e308",
];
/// Values of other types, as TOML or JSON text.
const WRONG_TYPES: &[&str] = &["\"x\"", "[]", "{}", "true", "null", "1.5", "[1, \"a\"]", "\"\""];

/// One edit of a valid input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        mask: u8,
    },
    Truncate {
        at: Index,
    },
    Insert {
        at: Index,
        garbage: Vec<u8>,
    },
    /// A huge little-endian integer over the bytes at `at`: a binary size field or length.
    HugeBinary {
        at: Index,
        value: u64,
    },
    /// One run of ASCII digits replaced by a huge or negative number.
    HugeNumber {
        run: Index,
        number: &'static str,
    },
    /// One scalar (a digit run or a quoted string) replaced by a value of another type.
    WrongType {
        run: Index,
        token: &'static str,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, garbage)| Mutation::Insert { at, garbage }),
        (any::<Index>(), select(vec![u64::MAX, 1 << 40, 1 << 32, u64::from(u32::MAX), i64::MAX as u64]))
            .prop_map(|(at, value)| Mutation::HugeBinary { at, value }),
        (any::<Index>(), select(HUGE_NUMBERS)).prop_map(|(run, number)| Mutation::HugeNumber { run, number }),
        (any::<Index>(), select(WRONG_TYPES)).prop_map(|(run, token)| Mutation::WrongType { run, token }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// Byte ranges of maximal digit runs and, with `strings`, of double-quoted strings.
fn scalars(bytes: &[u8], strings: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, i));
        } else if strings && bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += 1;
            }
            i = (i + 1).min(bytes.len());
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        let replace = |bytes: &mut Vec<u8>, runs: Vec<(usize, usize)>, run: &Index, with: &str| {
            if !runs.is_empty() {
                let (start, end) = runs[run.index(runs.len())];
                bytes.splice(start..end, with.bytes());
            }
        };
        match self {
            Mutation::Flip { at, mask } if len > 0 => bytes[at.index(len)] ^= mask,
            Mutation::Truncate { at } => bytes.truncate(at.index(len + 1)),
            Mutation::Insert { at, garbage } => {
                let at = at.index(len + 1);
                bytes.splice(at..at, garbage.iter().copied());
            }
            Mutation::HugeBinary { at, value } if len > 0 => {
                let at = at.index(len);
                let end = (at + 8).min(len);
                bytes[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
            Mutation::HugeNumber { run, number } => replace(bytes, scalars(bytes, false), run, number),
            Mutation::WrongType { run, token } => replace(bytes, scalars(bytes, true), run, token),
            _ => {}
        }
    }
}

fn mutated(original: &[u8], edits: &[Mutation]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for m in edits {
        m.apply(&mut bytes);
    }
    bytes
}

/// A refusal must name `what` (a file path, a key, a plugin) and must not be a caught panic.
fn refusal_names<T>(result: Result<T, impl Display>, what: &str) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        let message = e.to_string();
        prop_assert!(!message.contains("panicked"), "a panic: {message}");
        prop_assert!(message.contains(what), "does not name {what}: {message}");
    }
    Ok(())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The quickstart workflow with its checkpoint made absolute, so it resolves from any folder.
fn quickstart() -> String {
    let text = std::fs::read_to_string(workspace().join("workflows/quickstart.toml")).unwrap();
    let model = workspace().join("models/ugrn-mini").canonicalize().unwrap();
    text.replace("\"../models/ugrn-mini\"", &format!("\"{}\"", model.display()))
}

fn discovered() -> Registry {
    Registry::discover(&ugrn::plugin::default_search_path(), Default::default())
}

/// `ugrn check`'s reading and resolution, with one registry for every case.
fn check_workflow(registry: &Registry, file: &Path) -> Result<(), TestCaseError> {
    let result = Workflow::read(file).and_then(|w| ResolvedWorkflow::resolve(file, w, registry));
    if let Err(problems) = &result {
        let path = file.display().to_string();
        for p in &problems.0 {
            prop_assert!(p.file == path, "problem not naming {path}: {p}");
            prop_assert!(!p.reason.contains("panicked"), "a panic: {p}");
        }
    }
    Ok(())
}

#[test]
fn workflow_text_mutations() {
    in_child("fuzz::workflow_text_mutations", 4 * GIB, || {
        let registry = discovered();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wf.toml");
        let text = quickstart();
        std::fs::write(&file, &text).unwrap();
        let original = Workflow::read(&file).and_then(|w| ResolvedWorkflow::resolve(&file, w, &registry));
        assert!(original.is_ok(), "the unmutated quickstart must resolve: {}", original.err().unwrap());
        check_all(mutations(), |edits| {
            std::fs::write(&file, mutated(text.as_bytes(), &edits)).unwrap();
            check_workflow(&registry, &file)
        });
    });
}

/// Values of every type and out-of-range numbers for a key.
fn toml_value() -> impl Strategy<Value = toml::Value> {
    use toml::Value;
    select(vec![
        Value::Integer(100_000_000_000),
        Value::Integer(i64::MAX),
        Value::Integer(i64::MIN),
        Value::Integer(-1),
        Value::Integer(0),
        Value::Float(f64::NAN),
        Value::Float(1e308),
        Value::Float(-0.5),
        Value::String(String::new()),
        Value::String("x".repeat(300)),
        Value::String("../../etc".into()),
        Value::Boolean(true),
        Value::Array(vec![]),
        Value::Array(vec![Value::Integer(100_000_000_000)]),
        Value::Array(vec![Value::Integer(1), Value::String("a".into())]),
        Value::Table(toml::Table::new()),
    ])
}

/// Key paths (`[table, key, ...]`, array entries by index) of every value under `value`.
fn key_paths(value: &toml::Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                prefix.push(k.clone());
                out.push(prefix.clone());
                key_paths(v, prefix, out);
                prefix.pop();
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                prefix.push(i.to_string());
                key_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

/// The value at `path`, None where an earlier edit replaced what led there.
fn at_path<'a>(value: &'a mut toml::Value, path: &[String]) -> Option<&'a mut toml::Value> {
    path.iter().try_fold(value, |v, k| match v {
        toml::Value::Table(t) => t.get_mut(k),
        toml::Value::Array(a) => a.get_mut(k.parse::<usize>().ok()?),
        _ => None,
    })
}

/// Keys the workflow schema or a plugin knows, added where they may not belong.
const KEYS: &[&str] =
    &["hidden", "epochs", "batch_size", "context", "cells", "seed", "negatives", "size", "fuel", "memory_mib", "name"];

#[test]
fn workflow_key_and_value_mutations() {
    in_child("fuzz::workflow_key_and_value_mutations", 4 * GIB, || {
        let registry = discovered();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wf.toml");
        let original: toml::Value = toml::from_str(&quickstart()).unwrap();
        let mut paths = Vec::new();
        key_paths(&original, &mut Vec::new(), &mut paths);
        let edit = (any::<Index>(), toml_value(), prop::option::of(select(KEYS)));
        check_all(prop::collection::vec(edit, 1..4), |edits| {
            let mut workflow = original.clone();
            for (which, value, new_key) in edits {
                let path = &paths[which.index(paths.len())];
                let Some(target) = at_path(&mut workflow, path) else { continue };
                match (new_key, target) {
                    (Some(key), toml::Value::Table(t)) => {
                        t.insert(key.to_string(), value);
                    }
                    (_, target) => *target = value,
                }
            }
            // A mutation may leave no valid document (e.g. a NaN key path): skip those texts.
            let Ok(text) = toml::to_string(&workflow) else { return Ok(()) };
            std::fs::write(&file, text).unwrap();
            check_workflow(&registry, &file)
        });
    });
}

/// A small valid user dataset: 8 genes × 5 cells, TFs G0 and G1, edges from them.
fn dataset_files(dir: &Path) -> [(PathBuf, Vec<u8>); 3] {
    let mut expression = String::from(",c0,c1,c2,c3,c4\n");
    for g in 0..8 {
        let values: Vec<String> = (0..5).map(|c| format!("{}", (g * 3 + c * 7) % 11)).collect();
        expression.push_str(&format!("G{g},{}\n", values.join(",")));
    }
    let edges = "Gene1,Gene2\nG0,G2\nG0,G3\nG1,G4\nG1,G5\n";
    [
        (dir.join("expression.csv"), expression.into_bytes()),
        (dir.join("tfs.txt"), b"G0\nG1\n".to_vec()),
        (dir.join("edges.csv"), edges.as_bytes().to_vec()),
    ]
}

#[test]
fn user_dataset_csv_mutations() {
    in_child("fuzz::user_dataset_csv_mutations", 4 * GIB, || {
        let dir = tempfile::tempdir().unwrap();
        let files = dataset_files(dir.path());
        let spec = UserDatasetSpec {
            name: "toy".into(),
            expression: files[0].0.clone(),
            tfs: files[1].0.clone(),
            edges: Some(files[2].0.clone()),
            gene_column: None,
        };
        let write_all = || files.iter().for_each(|(path, bytes)| std::fs::write(path, bytes).unwrap());
        write_all();
        let dataset = load_user_dataset(&spec).expect("the unmutated dataset loads");
        assert_eq!((dataset.genes.len(), dataset.tfs.len(), dataset.edges.len()), (8, 2, 4));
        check_all((0..files.len(), mutations()), |(which, edits)| {
            write_all();
            let (path, original) = &files[which];
            std::fs::write(path, mutated(original, &edits)).unwrap();
            let loaded = load_user_dataset(&spec);
            // What loads is sampled as a run samples it.
            if let Ok(dataset) = &loaded {
                let set = sample_pairs(dataset, Negatives::Ratio(1.0), NegativeSet::Uniform, 0, |_| true);
                prop_assert_eq!(set.pairs.len(), set.labels.len());
            }
            refusal_names(loaded, &path.display().to_string())
        });
    });
}

#[test]
fn h5ad_mutations() {
    in_child("fuzz::h5ad_mutations", 4 * GIB, || {
        let testdata = workspace().join("host/src/data/testdata");
        let originals: Vec<Vec<u8>> = ["dense.h5ad", "csr.h5ad", "csc_feature_name.h5ad"]
            .iter()
            .map(|f| std::fs::read(testdata.join(f)).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let tfs = dir.path().join("tfs.txt");
        std::fs::write(&tfs, "GATA1\nSPI1\n").unwrap();
        let h5ad = dir.path().join("x.h5ad");
        let spec = |gene_column: Option<&str>| UserDatasetSpec {
            name: "toy".into(),
            expression: h5ad.clone(),
            tfs: tfs.clone(),
            edges: None,
            gene_column: gene_column.map(str::to_string),
        };
        std::fs::write(&h5ad, &originals[2]).unwrap();
        load_user_dataset(&spec(Some("feature_name"))).expect("the unmutated file loads");
        check_all((0..originals.len(), mutations()), |(which, edits)| {
            std::fs::write(&h5ad, mutated(&originals[which], &edits)).unwrap();
            // The symbols of csc_feature_name.h5ad are in a categorical var column.
            let column = (which == 2).then_some("feature_name");
            refusal_names(load_user_dataset(&spec(column)), &h5ad.display().to_string())
        });
    });
}

/// Loads the backbone `name` from `library` on `checkpoint` with `params` given.
fn load_backbone(
    registry: &Registry,
    name: &str,
    checkpoint: &Path,
    given: &[(&str, &str)],
) -> ugrn_sdk::Result<Box<dyn ModelOracle>> {
    let PluginHandle::Backbone(backbone) = &*registry.get(name).unwrap().handle else { panic!("{name}") };
    let given = given.iter().map(|(k, v)| (k.to_string(), ParamValue::Str(v.to_string()))).collect();
    backbone.load(&LoadRequest {
        checkpoint: checkpoint.to_path_buf(),
        device: "cpu".into(),
        dtype: "f32".into(),
        params: Params::resolve(&backbone.describe().params, given).unwrap(),
    })
}

/// Copies of `fixture` with one of `targets` mutated each case, loaded through the plugin: each
/// target is a file and the backbone parameters that make the backbone read it.
fn checkpoint_mutations(library: &str, name: &str, fixture: &Path, targets: &[(&str, &[(&str, &str)])]) {
    let mut registry = Registry::default();
    registry.load_file(&native_library(library));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("checkpoint");
    std::fs::create_dir(&copy).unwrap();
    let originals: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(fixture)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "cases.json"))
        .map(|p| (copy.join(p.file_name().unwrap()), std::fs::read(&p).unwrap()))
        .collect();
    let write_all = || originals.iter().for_each(|(path, bytes)| std::fs::write(path, bytes).unwrap());
    write_all();
    for (_, params) in targets {
        if let Err(e) = load_backbone(&registry, name, &copy, params) {
            panic!("the unmutated fixture must load with {params:?}: {e}");
        }
    }
    check_all((0..targets.len(), mutations()), |(which, edits)| {
        write_all();
        let (file, params) = targets[which];
        let (path, original) = originals.iter().find(|(p, _)| p.ends_with(file)).unwrap();
        std::fs::write(path, mutated(original, &edits)).unwrap();
        let result = load_backbone(&registry, name, &copy, params);
        // A config size within bounds that disagrees with the weights is reported against the
        // weight file, naming the tensor and the shape the config implies: a file of the checkpoint.
        let disagreement = result.as_ref().err().is_some_and(|e| {
            let message = e.to_string();
            ["` has shape ", ": missing tensor `"].iter().any(|m| message.contains(m))
        });
        let named = if disagreement { &copy } else { path };
        refusal_names(result, &named.display().to_string())
    });
}

/// A config size past any model's (a width or layer count of 10^11) and a pad token not in the
/// vocabulary are refused naming the config file and key, before anything is sized from them.
#[test]
fn config_values_are_named_by_their_key() {
    // In a child under a memory cap: an unbounded size would abort on its allocation.
    in_child("fuzz::config_values_are_named_by_their_key", 4 * GIB, || {
        let scgpt = ("ugrn_backbone_scgpt", "backbone-scgpt", scgpt_fixture(), "args.json");
        let geneformer = ("ugrn_backbone_geneformer", "backbone-geneformer", geneformer_fixture(), "config.json");
        let huge = serde_json::json!(100_000_000_000u64);
        let cases = [
            (&scgpt, "d_hid", huge.clone()),
            (&scgpt, "nlayers", huge.clone()),
            (&scgpt, "pad_token", serde_json::json!("=pad>")),
            (&geneformer, "intermediate_size", huge.clone()),
            (&geneformer, "num_hidden_layers", huge.clone()),
            (&geneformer, "vocab_size", huge),
        ];
        let mut wrong = Vec::new();
        for ((library, name, fixture, config), key, value) in cases {
            let mut registry = Registry::default();
            registry.load_file(&native_library(library));
            let dir = tempfile::tempdir().unwrap();
            for e in std::fs::read_dir(fixture).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
            }
            let file = dir.path().join(config);
            let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            json[key] = value.clone();
            std::fs::write(&file, json.to_string()).unwrap();
            let message = load_backbone(&registry, name, dir.path(), &[]).err().expect("refused").to_string();
            if !(message.starts_with(&format!("{}: ", file.display())) && message.contains(&format!("`{key}`"))) {
                wrong.push(format!("{key} = {value}: {message}"));
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    });
}

#[test]
fn scgpt_checkpoint_mutations() {
    in_child("fuzz::scgpt_checkpoint_mutations", 4 * GIB, || {
        checkpoint_mutations(
            "ugrn_backbone_scgpt",
            "backbone-scgpt",
            &scgpt_fixture(),
            &[
                ("model.safetensors", &[]),
                ("best_model.pt", &[("file", "pt")]),
                ("vocab.json", &[]),
                ("args.json", &[]),
            ],
        );
    });
}

#[test]
fn geneformer_checkpoint_mutations() {
    in_child("fuzz::geneformer_checkpoint_mutations", 4 * GIB, || {
        checkpoint_mutations(
            "ugrn_backbone_geneformer",
            "backbone-geneformer",
            &geneformer_fixture(),
            &[
                ("model.safetensors", &[]),
                ("config.json", &[]),
                ("token_dictionary.json", &[]),
                ("gene_median_dictionary.json", &[]),
            ],
        );
    });
}

fn features(rows: usize, cols: usize) -> Features {
    let values = (0..rows * cols).map(|i| (i * 7 % 13) as f32).collect();
    Features::new((0..cols).map(|c| format!("f{c}")).collect(), Matrix::new(rows, cols, values).unwrap()).unwrap()
}

/// A state the translator saved, mutated, read back by `predict`: refused as a translator state
/// (the host adds the file's path), never a panic.
#[test]
fn translator_state_mutations() {
    in_child("fuzz::translator_state_mutations", 4 * GIB, || {
        let mut registry = Registry::default();
        registry.load_file(&native_library("ugrn_translator_mlp"));
        let PluginHandle::Translator(mlp) = &*registry.get("translator-mlp").unwrap().handle else { panic!() };
        let given = [("hidden".to_string(), ParamValue::List(vec![ParamValue::Int(4)]))];
        let params = Params::resolve(&mlp.describe().params, given.into()).unwrap();
        let train = LabeledFeatures { features: features(8, 3), labels: (0..8).map(|i| i % 2 == 0).collect() };
        let empty = LabeledFeatures { features: features(0, 3), labels: Vec::new() };
        let state = mlp.fit(&params, &train, &empty).unwrap().state;
        let x = features(4, 3);
        assert_eq!(mlp.predict(&params, &state, &x).unwrap().len(), 4);
        check_all(mutations(), |edits| {
            let result = mlp.predict(&params, &mutated(&state, &edits), &x);
            if let Ok(logits) = &result {
                prop_assert_eq!(logits.len(), 4);
            }
            refusal_names(result, "translator state")
        });
    });
}

/// Answers `bytes_per_cell` only, the one oracle call the WAT probe makes.
struct BytesOracle(ModelInfo);

impl ModelOracle for BytesOracle {
    fn info(&self) -> &ModelInfo {
        &self.0
    }
    fn token_ids(&self, genes: &[String]) -> Vec<Option<TokenId>> {
        vec![None; genes.len()]
    }
    fn readout(&self, _: &CellBatch) -> ugrn_sdk::Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn readout_derivative(&self, _: &CellBatch, _: &[usize]) -> ugrn_sdk::Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn gene_embeddings(&self, _: &[TokenId]) -> ugrn_sdk::Result<Matrix> {
        Err(Error::compute("not used"))
    }
    fn attention_scores(&self, _: &CellBatch, _: usize) -> ugrn_sdk::Result<AttentionMaps> {
        Err(Error::compute("not used"))
    }
    fn prepare_expression(&self, _: &[TokenId], _: &[f32]) -> ugrn_sdk::Result<Vec<f32>> {
        Err(Error::compute("not used"))
    }
    fn bytes_per_cell(&self, genes: usize, _: Pass) -> u64 {
        genes as u64
    }
}

/// The host's WAT probe component with its text mutated (its constants are the pointers and
/// lengths of what it returns): refused naming the file, or loaded and then every call answers
/// or fails naming the plugin.
#[test]
fn component_mutations() {
    // A component's linear memory reserves address space far beyond what it uses (wasmtime's
    // guard regions), hence the larger limit.
    in_child("fuzz::component_mutations", 16 * GIB, || {
        let text = std::fs::read(workspace().join("host/tests/components/ugrn_probe_wat.wat")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let oracle = BytesOracle(ModelInfo {
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
        });
        let genes: Vec<String> = (0..4).map(|g| format!("G{g}")).collect();
        let pairs = [Pair { source: 0, target: 1 }, Pair { source: 2, target: 3 }];
        let case = std::cell::Cell::new(0);
        check_all(mutations(), |edits| {
            // A fresh name each case: the registry keeps the first plugin of a name.
            case.set(case.get() + 1);
            let file = dir.path().join(format!("ugrn_probe_wat{}.wat", case.get()));
            std::fs::write(&file, mutated(&text, &edits)).unwrap();
            let mut registry = Registry::default();
            registry.load_file(&file);
            if let Some(e) = registry.refused.first() {
                return refusal_names(Err::<(), _>(e), &file.display().to_string());
            }
            let Some(plugin) = registry.plugins().next() else { return Ok(()) };
            let PluginHandle::Probe(probe) = &*plugin.handle else { return Ok(()) };
            let params = Params::defaults(&plugin.info.params);
            let request = ProbeRequest {
                params: &params,
                dataset: DatasetView { name: "toy", genes: &genes, expression: None, expression_source: "none" },
                pairs: &pairs,
            };
            refusal_names(probe.features(&request, &oracle, &NoProgress), &plugin.info.name)
        });
    });
}
