//! `ugrn infer` with translators a real run saved: the same scores as the run for the same
//! pairs, a user's `.h5ad` end to end, and bad inputs refused by name with no output folder.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ugrn::infer::{InferOptions, Inferred, Shard, TfSource, infer, merge};
use ugrn::plugin::{ComponentLimits, Registry};
use ugrn_tests::scgpt_fixture;

use crate::pipeline::{run_workflow, workflow, write_datasets};

fn registry() -> Registry {
    Registry::discover(&ugrn::cli::search_path(&[], &[]), ComponentLimits::default())
}

fn options(dir: &Path, method: &str, expression: PathBuf, tfs: TfSource, output: &str) -> InferOptions {
    InferOptions {
        translator: dir.join("run/translators/STRING").join(method),
        expression,
        gene_column: None,
        tfs,
        checkpoint: None,
        allow_other_checkpoint: false,
        context: None,
        base: None,
        groupby: None,
        top: None,
        pairs: None,
        h5ad: false,
        shard: None,
        block_pairs: 1 << 18,
        output: dir.join(output),
        force: false,
        device: "cpu".into(),
        memory_budget_mb: 1024,
        // Not the run's cache: infer computes its own features.
        cache: dir.join(format!("cache-{output}")),
        quiet: true,
    }
}

/// (Gene1, Gene2) → weight, as written, of a `rankedEdges.csv`.
fn ranked_edges(file: &Path) -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("Gene1\tGene2\tEdgeWeight"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ((f[0].to_string(), f[1].to_string()), f[2].to_string())
        })
        .collect()
}

/// (TF, target) → logit, as written, of an `edges.tsv`.
fn edges_logits(file: &Path) -> BTreeMap<(String, String), String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ((f[0].to_string(), f[1].to_string()), f[3].to_string())
        })
        .collect()
}

/// The pipeline's workflow (trained on toyA, tested on toyB) run into `dir/run`.
fn trained(dir: &Path) {
    write_datasets(dir);
    run_workflow(dir, &workflow("backbone-scgpt", &scgpt_fixture(), "[16]", false), "run", false).expect("run");
}

#[test]
fn infer_gives_the_runs_scores_for_the_same_pairs_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    // VVP in pair context, GDT in dataset context (the cells hold all of toyB's genes), and
    // their ensemble.
    for method in ["VVP", "GDT", "Ens"] {
        let from_run = ranked_edges(&d.join("run/edges/STRING/toyB").join(method).join("rankedEdges.csv"));
        let pairs = d.join(format!("{method}-pairs.csv"));
        let listed: String = from_run.keys().map(|(a, b)| format!("{a},{b}\n")).collect();
        std::fs::write(&pairs, format!("Gene1,Gene2\n{listed}")).unwrap();
        let tfs = TfSource::File(d.join("toyB_tfs.txt"));
        let out = format!("infer-{method}");
        let options = InferOptions { pairs: Some(pairs), ..options(d, method, d.join("toyB.csv"), tfs, &out) };
        let inferred: Inferred = infer(&registry(), &options).expect("infer");
        assert_eq!(inferred.pairs, from_run.len());
        assert_eq!(ranked_edges(&d.join(&out).join("rankedEdges.csv")), from_run, "{method}");
        let edges = std::fs::read_to_string(d.join(&out).join("edges.tsv")).unwrap();
        assert_eq!(edges.lines().next(), Some("TF\ttarget\tscore\tlogit\trank"));
        let first: Vec<&str> = edges.lines().nth(1).unwrap().split('\t').collect();
        let logit: f64 = first[3].parse().unwrap();
        assert_eq!(first[2], format!("{:.6}", 1.0 / (1.0 + (-logit).exp())), "score is the logit's sigmoid");
        assert_eq!(first[4], "1");
    }
}

#[test]
fn every_candidate_and_the_top_k_of_a_user_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let tfs = || TfSource::File(d.join("toyB_tfs.txt"));
    infer(&registry(), &options(d, "GDT", d.join("toyB.csv"), tfs(), "all")).expect("infer");
    let options = InferOptions { top: Some(7), ..options(d, "GDT", d.join("toyB.csv"), tfs(), "out") };
    let inferred = infer(&registry(), &options).expect("infer");
    let all = std::fs::read_to_string(d.join("all/edges.tsv")).unwrap();
    assert_eq!(all.lines().count(), 1 + 5 * 19);
    let top: String = all.lines().take(1 + 7).map(|l| format!("{l}\n")).collect();
    assert_eq!(std::fs::read_to_string(d.join("out/edges.tsv")).unwrap(), top, "the 7 best of all");
    assert_eq!(std::fs::read_to_string(d.join("out/rankedEdges.csv")).unwrap().lines().count(), 1 + 7);
    // 5 TFs × the 19 other genes of toyB, all in the fixture's vocabulary.
    assert_eq!(inferred.pairs, 5 * 19);
    let out = d.join("out");
    let edges = std::fs::read_to_string(out.join("edges.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = edges.lines().skip(1).map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 7);
    let logits: Vec<f32> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(logits.windows(2).all(|w| w[0] >= w[1]), "best first: {logits:?}");
    assert!(rows.iter().all(|r| r[0] != r[1]), "no self-pairs");
    let ranks: Vec<&str> = rows.iter().map(|r| r[4]).collect();
    assert_eq!(ranks, ["1", "2", "3", "4", "5", "6", "7"]);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("- genes: 20 in the expression file (12 cells), 20 in the model's vocabulary, 0 not\n"));
    assert!(summary.contains("- TFs: 5 listed in "), "{summary}");
    assert!(summary.contains("self-pairs excluded: 95\n"), "{summary}");
    assert!(summary.contains("Out-degree among the best 7 edges"), "{summary}");
    assert!(summary.contains("- trained on toyA (STRING labels): "), "{summary}");
    for plot in ["plots/score_distribution.svg", "plots/score_distribution.png"] {
        assert!(out.join(plot).is_file(), "{plot}");
    }
}

/// Every file under `dir` (relative path → bytes) but the timings, which say how the run went.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if name != "timings.tsv" {
                    out.insert(name, std::fs::read(&path).unwrap());
                }
            }
        }
    }
    out
}

/// Asserts two output folders hold the same files with the same bytes (naming those that differ).
fn assert_same_files(a: &Path, b: &Path, what: &str) {
    let (a, b) = (files(a), files(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: file names");
    let differ: Vec<&String> = a.iter().filter(|(name, bytes)| b[*name] != **bytes).map(|(name, _)| name).collect();
    assert!(differ.is_empty(), "{what}: these files differ: {differ:?}");
}

#[test]
fn shards_merged_equal_the_unsharded_output_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let tfs = || TfSource::File(d.join("toyB_tfs.txt"));
    // VVP in pair context, GDT in dataset context, their ensemble; all edges, and the best 7
    // with grn.h5ad. 19 pairs per block: one source each, 5 blocks.
    for (method, top) in [("VVP", None), ("GDT", Some(7)), ("Ens", None)] {
        let base = |output: &str| InferOptions {
            top,
            h5ad: top.is_some(),
            block_pairs: 19,
            ..options(d, method, d.join("toyB.csv"), tfs(), output)
        };
        let whole = format!("{method}-whole");
        let inferred = infer(&registry(), &base(&whole)).expect("infer");
        assert_eq!(inferred.pairs, 95);
        let expected = files(&d.join(&whole));
        assert!(expected.contains_key("edges.tsv") && expected.contains_key("plots/score_distribution.svg"));
        assert_eq!(expected.contains_key("grn.h5ad"), top.is_some());
        assert!(d.join(&whole).join("timings.tsv").is_file());

        let mut shards = Vec::new();
        for k in [3, 1, 2] {
            let folder = format!("{method}-shard-{k}");
            let shard = Some(Shard { index: k, count: 3 });
            infer(&registry(), &InferOptions { shard, ..base(&folder) }).expect("shard");
            assert!(!d.join(&folder).join("edges.tsv").exists(), "a shard writes no network");
            shards.push(d.join(folder));
        }
        let merged = merge(&shards, &d.join(format!("{method}-merged")), false).expect("merge");
        assert_eq!(merged.pairs, 95);
        assert_same_files(&d.join(&whole), &d.join(format!("{method}-merged")), &format!("{method}: 3 shards"));
        let timings = std::fs::read_to_string(d.join(format!("{method}-merged/timings.tsv"))).unwrap();
        assert!(timings.starts_with("step\tseconds\nshard 1/3: load backbone\t"), "{timings}");

        // One block for all sources batches other cells together: the same scores to float
        // rounding, not to the bit (which is why shards are cut at block boundaries).
        let one_block = format!("{method}-one-block");
        infer(&registry(), &InferOptions { block_pairs: 1 << 18, ..base(&one_block) }).expect("infer");
        let (a, b) =
            (edges_logits(&d.join(&whole).join("edges.tsv")), edges_logits(&d.join(&one_block).join("edges.tsv")));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (pair, logit) in &a {
            let (x, y): (f64, f64) = (logit.parse().unwrap(), b[pair].parse().unwrap());
            assert!((x - y).abs() <= 1e-5 * x.abs().max(1.0), "{method} {pair:?}: {x} vs {y}");
        }

        let e = merge(&shards[..2], &d.join("partial"), false).unwrap_err().to_string();
        assert_eq!(e, "ugrn merge: shard 2/3 not given (every shard of the inference is needed)");
        let twice = [shards[0].clone(), shards[0].clone()];
        let e = merge(&twice, &d.join("twice"), false).unwrap_err().to_string();
        let s3 = shards[0].display();
        assert_eq!(e, format!("{s3} and {s3} are both shard 3/3"));
        assert!(!d.join("partial").exists() && !d.join("twice").exists());
    }
    // Shards of different inferences do not merge.
    let mixed = [d.join("VVP-shard-1"), d.join("GDT-shard-2"), d.join("GDT-shard-3")];
    let e = merge(&mixed, &d.join("mixed"), false).unwrap_err().to_string();
    assert!(e.ends_with(": shards of different inferences (inputs, options, build or shard count differ)"), "{e}");
}

/// The pipeline's toy datasets renamed onto genes of the embedded ugrn-mini, trained into
/// `dir/run`, so that a real `.h5ad` of symbols (GATA1, SPI1, MYC, CEBPA) can be scored.
fn trained_on_mini(d: &Path) {
    let mini = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ugrn-mini");
    let vocab: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(mini.join("vocab.json")).unwrap()).unwrap();
    let mut symbols: Vec<&String> = vocab.keys().filter(|g| g.chars().all(|c| c.is_ascii_alphanumeric())).collect();
    symbols.sort();
    write_datasets(d);
    for name in ["toyA", "toyB", "toyA_tfs", "toyB_tfs", "toyA_edges", "toyB_edges"] {
        let ext = if name.ends_with("tfs") { "txt" } else { "csv" };
        let file = d.join(format!("{name}.{ext}"));
        let mut text = std::fs::read_to_string(&file).unwrap();
        for g in (0..40).rev() {
            text = text.replace(&format!("GENE{g:03}"), symbols[g]);
        }
        std::fs::write(&file, text).unwrap();
    }
    run_workflow(d, &workflow("backbone-scgpt", &mini, "[16]", false), "run", false).expect("run on ugrn-mini");
}

fn testdata(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src/data/testdata").join(file)
}

#[test]
fn an_h5ad_user_dataset_end_to_end_on_the_embedded_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_on_mini(d);
    let h5ad = testdata("csc_feature_name.h5ad");
    std::fs::write(d.join("tfs.txt"), "spi1\nCEBPA\nFOXP3\n").unwrap();
    let options = InferOptions {
        gene_column: Some("feature_name".into()),
        context: Some("pair".into()),
        h5ad: true,
        ..options(d, "Ens", h5ad, TfSource::File(d.join("tfs.txt")), "out")
    };
    let inferred = infer(&registry(), &options).expect("infer");
    let out = d.join("out");
    let edges = std::fs::read_to_string(out.join("edges.tsv")).unwrap();
    let mut pairs: Vec<(&str, &str)> = edges
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[1])
        })
        .collect();
    pairs.sort();
    // GATA1 is not in ugrn-mini's vocabulary: TFs SPI1 and CEBPA, targets MYC and each other.
    assert_eq!(pairs, [("CEBPA", "MYC"), ("CEBPA", "SPI1"), ("SPI1", "CEBPA"), ("SPI1", "MYC")]);
    assert_eq!(inferred.pairs, 4);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains(
            "- genes: 4 in the expression file (3 cells), 3 in the model's vocabulary, 1 not (first: GATA1)\n"
        ),
        "{summary}"
    );
    assert!(summary.contains(", 2 among the genes, 1 not (first: FOXP3)\n"), "{summary}");
    assert!(summary.contains("- ensemble: the mean of the logits of VVP, GDT\n"), "{summary}");
    assert!(summary.contains("context = \"pair\""), "the override is shown: {summary}");
    let grn = std::fs::read(out.join("grn.h5ad")).unwrap();
    assert_eq!(&grn[..8], b"\x89HDF\r\n\x1a\n", "an HDF5 file");
}

#[test]
fn dense_csr_and_csc_h5ad_give_identical_networks_from_the_mean_cell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_on_mini(d);
    std::fs::write(d.join("tfs.txt"), "SPI1\nCEBPA\n").unwrap();
    // The same 3 × 4 matrix, written by anndata dense, as csr_matrix (gzip) and csc_matrix;
    // GDT at the mean cell reads the means, which the sparse files give without a dense copy.
    let mut edges = Vec::new();
    for (file, column) in [("dense.h5ad", None), ("csr.h5ad", None), ("csc_feature_name.h5ad", Some("feature_name"))] {
        let out = format!("out-{file}");
        let options = InferOptions {
            gene_column: column.map(String::from),
            base: Some("mean".into()),
            context: Some("pair".into()),
            ..options(d, "GDT", testdata(file), TfSource::File(d.join("tfs.txt")), &out)
        };
        infer(&registry(), &options).expect("infer");
        edges.push(std::fs::read_to_string(d.join(&out).join("edges.tsv")).unwrap());
        let summary = std::fs::read_to_string(d.join(&out).join("summary.md")).unwrap();
        assert!(summary.contains("real mean cell"), "{summary}");
    }
    assert_eq!(edges[0].lines().count(), 1 + 4, "SPI1 and CEBPA to each other and MYC");
    assert_eq!(edges[1], edges[0], "csr");
    assert_eq!(edges[2], edges[0], "csc");
    // The mean cell matters: virtual cells give other scores.
    let virtual_cells = InferOptions {
        context: Some("pair".into()),
        ..options(d, "GDT", testdata("dense.h5ad"), TfSource::File(d.join("tfs.txt")), "virtual")
    };
    infer(&registry(), &virtual_cells).expect("infer");
    assert_ne!(std::fs::read_to_string(d.join("virtual/edges.tsv")).unwrap(), edges[0]);
}

#[test]
fn groupby_gives_one_network_per_group_from_its_mean_cell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained_on_mini(d);
    std::fs::write(d.join("tfs.txt"), "SPI1\nCEBPA\n").unwrap();
    let grouped = |base: Option<&str>, output: &str| InferOptions {
        groupby: Some("cell_type".into()),
        base: base.map(String::from),
        context: Some("pair".into()),
        ..options(d, "GDT", testdata("grouped.h5ad"), TfSource::File(d.join("tfs.txt")), output)
    };
    let e = infer(&registry(), &grouped(None, "virtual")).expect_err("refused").to_string();
    assert_eq!(
        e,
        "--groupby: probe-gdt of GDT does not read the cells (with these parameters), so every group would get \
         the same network; add --base mean, or use a method whose probe reads them"
    );
    assert!(!d.join("virtual").exists());

    infer(&registry(), &grouped(Some("mean"), "out")).expect("infer");
    let out = d.join("out");
    assert_eq!(
        std::fs::read_to_string(out.join("groups.tsv")).unwrap(),
        "group\tcells\tfolder\nB\t2\tgroups/B\nT\t2\tgroups/T\n"
    );
    let logits = |group: &str| edges_logits(&out.join("groups").join(group).join("edges.tsv"));
    let (b, t) = (logits("B"), logits("T"));
    assert_eq!(b.len(), 4);
    assert_eq!(b.keys().collect::<Vec<_>>(), t.keys().collect::<Vec<_>>());
    // The two groups' mean cells differ (SPI1 high in B, MYC and CEBPA in T), so do their
    // derivatives.
    assert!(b.iter().any(|(k, v)| &t[k] != v), "B {b:?} T {t:?}");
    let summary = std::fs::read_to_string(out.join("groups/T/summary.md")).unwrap();
    assert!(
        summary.contains("- cells the source was changed in: GDT (probe-gdt): group `T`'s (2 cells) real mean cell\n"),
        "{summary}"
    );

    // One group alone as its own file gives the same network: the groups are independent.
    let csv = "gene,t1,t2\nGATA1,0,1\nSPI1,0.5,0\nMYC,7,9\nCEBPA,5,3\n";
    std::fs::write(d.join("t.csv"), csv).unwrap();
    let alone = InferOptions {
        base: Some("mean".into()),
        context: Some("pair".into()),
        ..options(d, "GDT", d.join("t.csv"), TfSource::File(d.join("tfs.txt")), "alone")
    };
    infer(&registry(), &alone).expect("infer");
    let alone = edges_logits(&d.join("alone/edges.tsv"));
    assert_eq!(alone, t);
}

#[test]
fn bad_inputs_are_refused_by_name_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let registry = registry();
    let tfs = || TfSource::File(d.join("toyB_tfs.txt"));
    let listing = || {
        let mut names: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let refused = |options: InferOptions| {
        let before = listing();
        let e = infer(&registry, &options).expect_err("refused");
        assert!(!options.output.exists(), "{} written", options.output.display());
        // Nothing else either: no staging folder left behind (the cache folder may appear).
        let after: Vec<String> = listing().into_iter().filter(|n| !n.starts_with("cache-")).collect();
        assert_eq!(after, before.into_iter().filter(|n| !n.starts_with("cache-")).collect::<Vec<_>>());
        format!("{e:#}")
    };
    let e = refused(InferOptions { top: Some(0), ..options(d, "GDT", d.join("toyB.csv"), tfs(), "out") });
    assert_eq!(e, "--top 0: asks for no edges; give a positive K, or leave --top out for every pair");

    // A translator saved with another probe version.
    let copy = d.join("old/translators/STRING/GDT");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["translator.json", "state.bin"] {
        std::fs::copy(d.join("run/translators/STRING/GDT").join(f), copy.join(f)).unwrap();
    }
    let manifest = copy.join("translator.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (head, tail) = text.split_once("\"plugin\": \"probe-gdt\",\n      \"version\": \"").expect(&text);
    let (version, rest) = tail.split_once('"').unwrap();
    std::fs::write(&manifest, format!("{head}\"plugin\": \"probe-gdt\",\n      \"version\": \"0.0.0-old\"{rest}"))
        .unwrap();
    let e = refused(InferOptions { translator: copy.clone(), ..options(d, "GDT", d.join("toyB.csv"), tfs(), "out") });
    assert!(
        e.starts_with(&format!(
            "{}: probe: saved with probe-gdt 0.0.0-old, but the plugin found is version {version} (",
            copy.display()
        )),
        "{e}"
    );

    // Another checkpoint: the fixture with args.json reformatted loads the same model under
    // another sha256.
    let other = d.join("other-checkpoint");
    std::fs::create_dir(&other).unwrap();
    for entry in std::fs::read_dir(scgpt_fixture()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, other.join(path.file_name().unwrap())).unwrap();
        }
    }
    let args = std::fs::read_to_string(other.join("args.json")).unwrap();
    std::fs::write(other.join("args.json"), format!("{args}\n ")).unwrap();
    let with_other =
        || InferOptions { checkpoint: Some(other.clone()), ..options(d, "GDT", d.join("toyB.csv"), tfs(), "out") };
    let e = refused(with_other());
    assert!(e.starts_with(&format!("{}: checkpoint sha256 ", other.display())), "{e}");
    assert!(e.ends_with("; pass --allow-other-checkpoint to apply it anyway"), "{e}");
    infer(&registry, &InferOptions { allow_other_checkpoint: true, ..with_other() }).expect("allowed");
    let summary = std::fs::read_to_string(d.join("out/summary.md")).unwrap();
    assert!(summary.contains("**another checkpoint than the translator's** (--allow-other-checkpoint)"), "{summary}");
    std::fs::remove_dir_all(d.join("out")).unwrap();

    // No TF of the list among the genes.
    std::fs::write(d.join("none.txt"), "FOXP3\nGATA3\n").unwrap();
    let e = refused(options(d, "GDT", d.join("toyB.csv"), TfSource::File(d.join("none.txt")), "out"));
    assert_eq!(
        e,
        format!(
            "{}: none of its 2 TFs is among the 20 genes of the expression file (first genes: GENE020, \
             GENE021, GENE022, GENE023, GENE024); check the species, or the gene column (--gene-column) \
             for an .h5ad",
            d.join("none.txt").display()
        )
    );

    // --base on a probe without `cell`, --groupby on a CSV, and an output holding the inputs.
    let e = refused(InferOptions { base: Some("mean".into()), ..options(d, "Emb", d.join("toyB.csv"), tfs(), "out") });
    assert_eq!(e, "--base mean: probe-emb (method Emb) has no `cell` parameter");
    let e = refused(InferOptions {
        groupby: Some("cell_type".into()),
        base: Some("mean".into()),
        ..options(d, "GDT", d.join("toyB.csv"), tfs(), "out")
    });
    assert_eq!(
        e,
        format!("--groupby cell_type: groups are read from an .h5ad's obs, not {}", d.join("toyB.csv").display())
    );
    let over_inputs = InferOptions { force: true, ..options(d, "GDT", d.join("toyB.csv"), tfs(), "run") };
    let e = infer(&registry, &over_inputs).expect_err("refused").to_string();
    assert_eq!(
        e,
        format!(
            "--output {}: holds the input {}; write the network to another folder",
            d.join("run").display(),
            d.join("run/translators/STRING/GDT").display()
        )
    );
    assert!(d.join("run/translators/STRING/GDT/state.bin").is_file(), "the run is left as it was");

    // An expression file naming a gene twice.
    let csv = std::fs::read_to_string(d.join("toyB.csv")).unwrap().replacen("GENE021,", "GENE020,", 1);
    std::fs::write(d.join("dup.csv"), csv).unwrap();
    let e = refused(options(d, "GDT", d.join("dup.csv"), tfs(), "out"));
    assert_eq!(e, format!("{}:3: gene `GENE020` has a second row (first on line 2)", d.join("dup.csv").display()));
}
