//! The whole experiment through the host and the real plugins, on the reference fixtures and a
//! small synthetic dataset: report files, the feature cache, refusal to overwrite, and the same
//! workflow on two backbone families without rebuilding anything.
use std::path::{Path, PathBuf};

use ugrn::experiment::{RunOptions, run};
use ugrn_tests::{geneformer_fixture, scgpt_fixture};

const GENES: usize = 40;

/// Writes two datasets over genes GENE000..GENE039 (the scGPT fixture's vocabulary): `toyA`
/// on genes 0–19 with TFs 0–4, `toyB` on genes 20–39 with TFs 20–24. Edges: each TF regulates
/// the genes whose index is congruent to it modulo 5 (deterministic, half of the candidates
/// stay non-edges).
pub(crate) fn write_datasets(dir: &Path) {
    for (name, offset) in [("toyA", 0usize), ("toyB", 20usize)] {
        let genes: Vec<String> = (offset..offset + 20).map(|g| format!("GENE{g:03}")).collect();
        let cells = 12;
        let mut csv = String::from("gene");
        for c in 0..cells {
            csv.push_str(&format!(",cell{c}"));
        }
        csv.push('\n');
        for (g, gene) in genes.iter().enumerate() {
            csv.push_str(gene);
            for c in 0..cells {
                let v = ((g * 7 + c * 3) % 11) as f32 / 2.0;
                csv.push_str(&format!(",{v}"));
            }
            csv.push('\n');
        }
        std::fs::write(dir.join(format!("{name}.csv")), csv).unwrap();
        let tfs: Vec<&String> = genes.iter().take(5).collect();
        std::fs::write(dir.join(format!("{name}_tfs.txt")), tfs.iter().map(|t| format!("{t}\n")).collect::<String>())
            .unwrap();
        let mut edges = String::from("Gene1,Gene2\n");
        for t in 0..5 {
            for g in 5..20 {
                if g % 5 == t {
                    edges.push_str(&format!("{},{}\n", genes[t], genes[g]));
                }
            }
        }
        std::fs::write(dir.join(format!("{name}_edges.csv")), edges).unwrap();
    }
}

pub(crate) fn workflow(backbone: &str, checkpoint: &Path, hidden: &str, with_pert: bool) -> String {
    let pert = if with_pert {
        "[[method]]\nname = \"Pert (origin)\"\nprobe = { plugin = \"probe-pert\", mode = \"origin\", context = \"dataset\" }\nscore = \"abs-feature\"\n"
    } else {
        ""
    };
    format!(
        r#"
[run]
name = "pipeline"
cache = "cache"

[backbone]
plugin = "{backbone}"
checkpoint = "{checkpoint}"

[data]
train = ["toyA"]
test = ["toyB"]
validation_fraction = 0.25

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

{pert}
[[method]]
name = "Emb"
probe = {{ plugin = "probe-emb" }}
translator = {{ plugin = "translator-mlp", hidden = {hidden}, epochs = 30 }}

[[method]]
name = "VVP"
probe = {{ plugin = "probe-vvp", context = "pair" }}
translator = {{ plugin = "translator-mlp", hidden = {hidden}, epochs = 30 }}

[[method]]
name = "GDT"
probe = {{ plugin = "probe-gdt", context = "dataset" }}
translator = {{ plugin = "translator-mlp", hidden = {hidden}, epochs = 30 }}

[[method]]
name = "Ens"
ensemble = ["VVP", "GDT"]
"#,
        checkpoint = checkpoint.display()
    )
}

pub(crate) fn run_workflow(dir: &Path, text: &str, output: &str, force: bool) -> anyhow::Result<ugrn::report::Report> {
    let file = dir.join("wf.toml");
    std::fs::write(&file, text).unwrap();
    let (resolved, registry) = ugrn::cli::check(&file, &[]).map_err(|p| anyhow::anyhow!("{p}"))?;
    let options = RunOptions { output: Some(dir.join(output)), force, quiet: true };
    run(&resolved, &registry, &options)
}

fn auprcs(report: &ugrn::report::Report) -> Vec<f64> {
    report.table[0]
        .1
        .iter()
        .map(|cell| cell.parse::<f64>().unwrap_or_else(|_| panic!("not a number: {cell}")))
        .collect()
}

#[test]
fn leave_dataset_out_run_writes_a_full_report_and_reuses_features() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let text = workflow("backbone-scgpt", &scgpt_fixture(), "[16]", true);
    let report = run_workflow(dir.path(), &text, "out", false).expect("run");
    assert_eq!(report.methods, ["Pert (origin)", "Emb", "VVP", "GDT", "Ens"]);
    assert_eq!(report.table.len(), 1);
    assert_eq!(report.table[0].0, "STRING / toyB");
    for v in auprcs(&report) {
        assert!((0.0..=1.0).contains(&v), "AUPRC {v}");
    }
    let out = dir.path().join("out");
    for f in [
        "results.md",
        "results.csv",
        "results.json",
        "workflow.resolved.toml",
        "run.log",
        "plots/STRING_toyB_pr.svg",
        "plots/STRING_toyB_pr.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let ranked = std::fs::read_to_string(out.join("edges/STRING/toyB/GDT/rankedEdges.csv")).unwrap();
    let lines: Vec<&str> = ranked.lines().collect();
    assert_eq!(lines[0], "Gene1\tGene2\tEdgeWeight");
    // 15 edges (3 per TF) and as many sampled negatives.
    assert_eq!(lines.len(), 1 + 30);
    let weights: Vec<f32> = lines[1..].iter().map(|l| l.rsplit('\t').next().unwrap().parse().unwrap()).collect();
    assert!(weights.windows(2).all(|w| w[0] >= w[1]), "ranked best first");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["rows"][0]["pairs"]["positives"], 15);
    assert_eq!(json["rows"][0]["pairs"]["negatives"], 15);
    assert_eq!(json["ugrn_version"], env!("CARGO_PKG_VERSION"));
    // The commit the binary was built from (this test's build), or "unknown" outside git.
    let head =
        std::process::Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    let head =
        head.ok().filter(|o| o.status.success()).map(|o| String::from_utf8(o.stdout).unwrap().trim().to_string());
    assert_eq!(json["git_commit"], head.as_deref().unwrap_or("unknown"));
    let resolved = std::fs::read_to_string(out.join("workflow.resolved.toml")).unwrap();
    assert!(resolved.contains("baselines = \"model\"") && resolved.contains("learning_rate = 0.001"), "{resolved}");
    // Its paths are absolute: copied into another folder, it still resolves.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("rerun.toml");
    std::fs::write(&copy, &resolved).unwrap();
    if let Err(problems) = ugrn::cli::check(&copy, &[]) {
        panic!("the resolved workflow does not rerun from another folder: {problems}\n{resolved}");
    }

    // Same folder again: refused without --force, nothing touched.
    let err = run_workflow(dir.path(), &text, "out", false).err().expect("refused").to_string();
    assert!(err.ends_with("out already exists: pass --force to replace it, or --output NEW_FOLDER"), "{err}");

    // Only the translator changes: every feature comes from the cache.
    let changed = workflow("backbone-scgpt", &scgpt_fixture(), "[8]", true);
    run_workflow(dir.path(), &changed, "out2", false).expect("second run");
    let log = std::fs::read_to_string(dir.path().join("out2/run.log")).unwrap();
    let cached = log.lines().filter(|l| l.contains("from the feature cache, nothing recomputed")).count();
    // Emb, VVP and GDT on toyA (training) and toyB, Pert (origin) on toyB.
    assert_eq!(cached, 7, "{log}");
    assert!(!log.contains("pairs/s"), "nothing recomputed:\n{log}");

    // A corrupted cache entry is refused and recomputed, never used.
    let entry = std::fs::read_dir(dir.path().join("cache")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(&entry, "{\"truncated\":").unwrap();
    let report = run_workflow(dir.path(), &changed, "out3", false).expect("third run");
    let log = std::fs::read_to_string(dir.path().join("out3/run.log")).unwrap();
    assert!(log.contains("feature cache entry refused") && log.contains("unreadable"), "{log}");
    assert_eq!(auprcs(&report).len(), 5);
}

/// Two methods on one probe (different parameters, same translator) are timed apart, by method.
#[test]
fn two_methods_on_one_probe_have_their_own_timings() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let text = workflow("backbone-scgpt", &scgpt_fixture(), "[8]", false);
    let (head, _) = text.split_once("[[method]]").unwrap();
    let text = format!(
        r#"{head}
[[method]]
name = "Emb sum"
probe = {{ plugin = "probe-emb", combine = "sum" }}
translator = {{ plugin = "translator-mlp", hidden = [8], epochs = 5 }}

[[method]]
name = "Emb concat"
probe = {{ plugin = "probe-emb", combine = "concat" }}
translator = {{ plugin = "translator-mlp", hidden = [8], epochs = 5 }}
"#
    );
    run_workflow(dir.path(), &text, "out", false).expect("run");
    let out = dir.path().join("out");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let mut keys: Vec<&str> = json["timings_seconds"].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "STRING / Emb concat: features toyA",
            "STRING / Emb concat: features toyB",
            "STRING / Emb concat: fit",
            "STRING / Emb sum: features toyA",
            "STRING / Emb sum: features toyB",
            "STRING / Emb sum: fit",
            "load backbone",
            "total",
        ]
    );
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    let (_, timings) = md.split_once("## Timings\n").unwrap();
    assert_eq!(timings.lines().filter(|l| l.starts_with("- ")).count(), keys.len(), "{timings}");
    for key in keys {
        assert_eq!(timings.matches(&format!("- {key}: ")).count(), 1, "{key} in\n{timings}");
    }
}

/// The Geneformer fixture with a symbol → Ensembl table, so the same GENE### datasets map to it.
fn geneformer_with_symbols(dir: &Path) -> PathBuf {
    let src = geneformer_fixture();
    let dst = dir.join("geneformer");
    std::fs::create_dir(&dst).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    let tokens: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(src.join("token_dictionary.json")).unwrap()).unwrap();
    let ensembl: Vec<&String> = tokens.keys().filter(|k| k.starts_with("ENSG")).collect();
    let table: serde_json::Map<String, serde_json::Value> =
        (0..GENES).map(|g| (format!("GENE{g:03}"), serde_json::Value::String(ensembl[g].clone()))).collect();
    std::fs::write(dst.join("gene_name_id_dict.json"), serde_json::to_string(&table).unwrap()).unwrap();
    dst
}

#[test]
fn the_same_workflow_runs_on_scgpt_and_geneformer() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let geneformer = geneformer_with_symbols(dir.path());
    let scgpt =
        run_workflow(dir.path(), &workflow("backbone-scgpt", &scgpt_fixture(), "[16]", false), "out-scgpt", false)
            .expect("scGPT run");
    let gf =
        run_workflow(dir.path(), &workflow("backbone-geneformer", &geneformer, "[16]", false), "out-geneformer", false)
            .expect("Geneformer run");
    assert_eq!(auprcs(&scgpt).len(), 4);
    assert_eq!(auprcs(&gf).len(), 4);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out-geneformer/results.json")).unwrap())
            .unwrap();
    assert_eq!(json["model"]["family"], "geneformer");
    // Probes left at their defaults spread over the backbone's own range: scGPT's bins 0–50,
    // Geneformer's ranks 0–2 around its background 1, not scGPT's bins (which would put every
    // non-zero target above the background, making seven identical columns).
    let columns = |out: &str, method: &str| -> Vec<String> {
        let manifest = dir.path().join(out).join("translators/STRING").join(method).join("translator.json");
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
        serde_json::from_value(manifest["method_kind"]["columns"].clone()).unwrap()
    };
    let named =
        |prefix: &str, values: &[f32]| -> Vec<String> { values.iter().map(|v| format!("{prefix}{v}")).collect() };
    assert_eq!(columns("out-scgpt", "VVP"), named("vvp_v", &[0.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]));
    assert_eq!(columns("out-scgpt", "GDT"), named("gdt_b", &[0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0]));
    assert_eq!(columns("out-geneformer", "VVP"), named("vvp_v", &[0.0, 0.2, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4]));
    assert_eq!(columns("out-geneformer", "GDT"), named("gdt_b", &[0.0, 0.08, 0.2, 0.4, 0.6, 0.8, 1.2, 1.8]));
}

/// hESC and mHSC-E have no expression matrix: probes that need one are reported as not
/// applicable with the reason, and the others run.
#[test]
fn datasets_without_expression_report_expression_probes_as_not_applicable() {
    let dir = tempfile::tempdir().unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ugrn-mini");
    let text = format!(
        r#"
[run]
name = "no-expression"
cache = "cache"

[backbone]
plugin = "backbone-scgpt"
checkpoint = "{}"

[data]
train = ["hESC"]
test = ["mHSC-E"]

[[method]]
name = "Pert (origin)"
probe = {{ plugin = "probe-pert", mode = "origin", context = "pair" }}
score = "abs-feature"

[[method]]
name = "Pert"
probe = {{ plugin = "probe-pert", mode = "baseline", context = "pair" }}
translator = {{ plugin = "translator-mlp", epochs = 5 }}

[[method]]
name = "Emb"
probe = {{ plugin = "probe-emb" }}
translator = {{ plugin = "translator-mlp", epochs = 5 }}
"#,
        model.display()
    );
    let report = run_workflow(dir.path(), &text, "out", false).expect("run");
    let cells = &report.table[0].1;
    assert!(cells[0].starts_with("n/a ["), "{cells:?}");
    assert!(cells[1].starts_with("n/a ["), "{cells:?}");
    let emb: f64 = cells[2].parse().expect("Emb runs without expression");
    assert!((0.0..=1.0).contains(&emb));
    let notes = report.footnotes.join("\n");
    assert!(notes.contains("Pert (origin): n/a: ") && notes.contains("mHSC-E"), "{notes}");
    assert!(notes.contains("Pert: n/a: training set hESC: "), "{notes}");
    assert!(notes.contains("expression"), "{notes}");

    // Many of mHSC-E's genes are not in ugrn-mini's vocabulary: their edges are left out before
    // negatives are drawn, so the test set stays balanced.
    let out = dir.path().join("out");
    let log = std::fs::read_to_string(out.join("run.log")).unwrap();
    let left_out = "ground-truth edges left out because a gene is not eligible (outside the vocabulary or excluded)";
    assert!(log.lines().any(|l| l.starts_with("STRING / mHSC-E: ") && l.contains(left_out)), "{log}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let pairs = &json["rows"][0]["pairs"];
    assert!(pairs["positives"].as_u64().unwrap() > 0, "{pairs}");
    assert_eq!(pairs["positives"], pairs["negatives"], "{pairs}");
}

/// A test set without labels gives no evaluated cell: the run writes its report (the reasons
/// are in it) and exits non-zero, so a pipeline sees the failure.
#[test]
fn a_run_in_which_no_cell_is_evaluated_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let text = workflow("backbone-scgpt", &scgpt_fixture(), "[8]", false).replace("edges = \"toyB_edges.csv\"\n", "");
    let md = failing_run(dir.path(), &text);
    assert!(md.contains("0 positive and 0 negative pairs"), "{md}");
}

/// NaN weights give NaN features: each cell fails naming the probe, and nothing is cached (a
/// cached NaN would be refused on every later run).
#[test]
fn non_finite_features_fail_their_cells_and_are_never_cached() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let model = dir.path().join("nan-model");
    std::fs::create_dir(&model).unwrap();
    for file in ["vocab.json", "args.json"] {
        std::fs::copy(scgpt_fixture().join(file), model.join(file)).unwrap();
    }
    // safetensors: an 8-byte header length, the JSON header, then the tensors' bytes; all-ones
    // bytes are NaN in every float type.
    let mut weights = std::fs::read(scgpt_fixture().join("model.safetensors")).unwrap();
    let header = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    weights[8 + header..].fill(0xFF);
    std::fs::write(model.join("model.safetensors"), weights).unwrap();

    let report = run_workflow(dir.path(), &workflow("backbone-scgpt", &model, "[8]", false), "out", false).unwrap();
    assert_eq!(report.evaluated_cells(), 0, "{:?}", report.table);
    for probe in ["probe-emb", "probe-vvp", "probe-gdt"] {
        let line = format!("{probe} gave ");
        assert!(
            report.footnotes.iter().any(|f| f.contains(&line) && f.contains("non-finite feature values")),
            "{probe}: {:#?}",
            report.footnotes
        );
    }
    let cached = std::fs::read_dir(dir.path().join("cache")).map_or(0, |d| d.count());
    assert_eq!(cached, 0, "nothing cached");
}

/// Under the default protocol a test set shares no gene with any training pair and stays
/// balanced: the shared genes are left out before its pairs are drawn.
#[test]
fn test_pairs_share_no_gene_with_training_pairs_and_stay_balanced() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    // toyC: genes GENE010..GENE029 (half of them toyA's), TFs GENE010..GENE014 and
    // GENE020..GENE024, each TF regulating the genes congruent to it modulo 5.
    let genes: Vec<String> = (10..30).map(|g| format!("GENE{g:03}")).collect();
    let mut csv = String::from("gene,c0,c1,c2\n");
    for (g, gene) in genes.iter().enumerate() {
        csv.push_str(&format!("{gene},{},{},{}\n", g % 3, g % 5, g % 7));
    }
    std::fs::write(dir.path().join("toyC.csv"), csv).unwrap();
    let tfs: Vec<usize> = (10..15).chain(20..25).collect();
    std::fs::write(dir.path().join("toyC_tfs.txt"), tfs.iter().map(|t| format!("GENE{t:03}\n")).collect::<String>())
        .unwrap();
    let mut edges = String::from("Gene1,Gene2\n");
    for &t in &tfs {
        for g in 10..30 {
            if g != t && g % 5 == t % 5 {
                edges.push_str(&format!("GENE{t:03},GENE{g:03}\n"));
            }
        }
    }
    std::fs::write(dir.path().join("toyC_edges.csv"), edges).unwrap();
    let text = workflow("backbone-scgpt", &scgpt_fixture(), "[8]", false)
        .replace("test = [\"toyB\"]", "test = [\"toyC\"]")
        + "\n[[dataset]]\nname = \"toyC\"\nexpression = \"toyC.csv\"\ntfs = \"toyC_tfs.txt\"\nedges = \"toyC_edges.csv\"\n";
    run_workflow(dir.path(), &text, "out", false).expect("run");
    let out = dir.path().join("out");
    let ranked = std::fs::read_to_string(out.join("edges/STRING/toyC/Emb/rankedEdges.csv")).unwrap();
    let test_genes: std::collections::BTreeSet<&str> =
        ranked.lines().skip(1).flat_map(|l| l.split('\t').take(2)).collect();
    // toyA's training pairs use its TFs GENE000..GENE004 and targets among GENE005..GENE019, so
    // every shared gene GENE010..GENE019 is out, with all 15 edges of TFs GENE010..GENE014
    // and 10 of GENE020..GENE024's; each of those keeps one edge (to t + 5): 5 positives.
    assert!(test_genes.iter().all(|g| g >= &"GENE020"), "{test_genes:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let pairs = &json["rows"][0]["pairs"];
    assert_eq!((pairs["positives"].as_u64(), pairs["negatives"].as_u64()), (Some(5), Some(5)), "{pairs}");
    let log = std::fs::read_to_string(out.join("run.log")).unwrap();
    assert!(
        log.contains(
            "STRING / toyC: exclude_train_genes: 10 of its vocabulary genes are used by training pairs and left \
             out before sampling, with the 25 ground-truth edges that use them"
        ),
        "{log}"
    );
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("| STRING / toyC | 0.500 (5/10) |"), "{md}");
}

/// A translator too large to allocate fails its cell naming the key, and the process lives on
/// (before the bound it aborted on the allocation, rc 134). Each width is within its declared
/// range (one of 10^11 is refused by `check`); their product is not.
#[test]
fn a_translator_too_large_to_allocate_fails_its_cell_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    let text = workflow("backbone-scgpt", &scgpt_fixture(), "[8]", false);
    let (head, _) = text.split_once("[[method]]").unwrap();
    let text = format!(
        "{head}[[method]]\nname = \"Emb\"\nprobe = {{ plugin = \"probe-emb\" }}\n\
         translator = {{ plugin = \"translator-mlp\", hidden = [65536, 65536], epochs = 1 }}\n"
    );
    let md = failing_run(dir.path(), &text);
    assert!(
        md.contains("parameter `hidden`: [65536, 65536] units on ")
            && md.contains(" feature columns exceed the 268435456 weights (2^28) a translator may hold"),
        "{md}"
    );
}

/// Runs workflow `text` through the command line in `dir`, which must complete with a failing
/// exit code (no cell evaluated); its results.md.
fn failing_run(dir: &Path, text: &str) -> String {
    let file = dir.join("wf.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.join("out");
    let args = ["ugrn", "--quiet", "run", file.to_str().unwrap(), "--output", out.to_str().unwrap()];
    let cli = <ugrn::cli::Cli as clap::Parser>::parse_from(args);
    let code = ugrn::cli::run(cli).expect("the run itself completes");
    assert_eq!(format!("{code:?}"), format!("{:?}", std::process::ExitCode::FAILURE));
    std::fs::read_to_string(out.join("results.md")).unwrap()
}

/// A dataset with more vocabulary genes than the model takes runs `dataset` context tiled, and
/// the report logs the tiling of each dataset it probed.
#[test]
fn dataset_context_longer_than_the_model_runs_tiled_and_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    write_datasets(dir.path());
    // The fixture's weights with a context of eight genes (`<cls>` + 8), shorter than the 20
    // genes of each dataset.
    let short = dir.path().join("scgpt-short");
    std::fs::create_dir(&short).unwrap();
    for e in std::fs::read_dir(scgpt_fixture()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), short.join(e.file_name())).unwrap();
    }
    let mut args: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(short.join("args.json")).unwrap()).unwrap();
    args["max_seq_len"] = 9.into();
    std::fs::write(short.join("args.json"), args.to_string()).unwrap();
    let text = workflow("backbone-scgpt", &short, "[8]", false);
    let (head, _) = text.split_once("[[method]]").unwrap();
    let text = format!(
        "{head}[[method]]\nname = \"GDT\"\nprobe = {{ plugin = \"probe-gdt\", context = \"dataset\" }}\n\
         translator = {{ plugin = \"translator-mlp\", hidden = [8], epochs = 5 }}\n"
    );
    let report = run_workflow(dir.path(), &text, "out", false).expect("a tiled run");
    let auprc: f64 = report.table[0].1[0].parse().expect("GDT is evaluated");
    assert!((0.0..=1.0).contains(&auprc), "{auprc}");
    let log = std::fs::read_to_string(dir.path().join("out/run.log")).unwrap();
    for dataset in ["toyA", "toyB"] {
        let line = format!(
            "probe-gdt on {dataset}: dataset context beyond the model's 8 genes; 20 context genes tiled into 3 \
             windows of 6–7 genes: each cell holds one window and the source"
        );
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "{line} once in\n{log}");
    }
}
