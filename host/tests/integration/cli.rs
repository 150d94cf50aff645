//! `ugrn check` and `ugrn plugins` as a user runs them.
use std::path::Path;
use std::process::{Command, Output};

fn ugrn(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ugrn"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run ugrn")
}

/// A workflow with every part valid, into which the tests put one fault each.
fn workflow(backbone_dir: &str, data_extra: &str, probe: &str) -> String {
    format!(
        r#"
[run]
name = "check-test"

[backbone]
plugin = "backbone-scgpt"
checkpoint = "{backbone_dir}"

[data]
train = ["hESC"]
test = ["mDC"]
{data_extra}

[[method]]
name = "VVP"
probe = {{ plugin = "{probe}" }}
translator = {{ plugin = "translator-mlp" }}
"#
    )
}

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("model")).unwrap();
    let file = dir.path().join("wf.toml");
    std::fs::write(&file, text).unwrap();
    let out = ugrn(&["check", file.to_str().unwrap()], dir.path());
    (out.status.success(), String::from_utf8_lossy(&out.stderr).replace(file.to_str().unwrap(), "wf.toml"))
}

#[test]
fn check_names_an_unknown_key_with_file_and_line() {
    let (ok, stderr) = check(&workflow("model", "negative = 1.0", "probe-vvp"));
    assert!(!ok, "check must fail");
    assert!(stderr.starts_with("wf.toml: line 12: unknown field `negative`"), "{stderr}");
}

#[test]
fn check_names_a_bad_negatives_value_with_file_and_line() {
    let (ok, stderr) = check(&workflow("model", "negatives = -1", "probe-vvp"));
    assert!(!ok, "check must fail");
    assert_eq!(stderr.trim(), "wf.toml: line 12: expected a positive ratio or \"all\", got -1");
}

#[test]
fn check_names_an_unknown_plugin() {
    let (ok, stderr) = check(&workflow("model", "", "probe-vpp"));
    assert!(!ok, "check must fail");
    assert!(
        stderr.contains("wf.toml: method[0] (VVP).probe.plugin: unknown probe plugin `probe-vpp` (available: "),
        "{stderr}"
    );
}

#[test]
fn check_names_a_missing_file() {
    let (ok, stderr) = check(&workflow("no-such-model", "", "probe-vvp"));
    assert!(!ok, "check must fail");
    assert!(
        stderr.contains("wf.toml: backbone.checkpoint: ") && stderr.contains("no-such-model does not exist"),
        "{stderr}"
    );
}

#[test]
fn check_names_an_unknown_plugin_parameter() {
    let (ok, stderr) = check(&workflow("model", "", "probe-vvp\", backgrond = \"1"));
    assert!(!ok, "check must fail");
    assert!(stderr.contains("wf.toml: method[0] (VVP).probe.backgrond: unknown parameter (known: "), "{stderr}");
}

/// The values of the adversarial pass that `check` used to pass (a run then failed every cell).
#[test]
fn check_refuses_parameters_outside_their_declared_ranges() {
    let cases = [
        ("probe-vvp", "", "epochs = 0", "translator.epochs: 0 is outside 1..=1000000"),
        ("probe-vvp", "", "learning_rate = nan", "translator.learning_rate: NaN is outside 1e-12..=1000"),
        ("probe-vvp", "", "batch_size = -1", "translator.batch_size: -1 is outside 1..=16777216"),
        ("probe-vvp", "", "hidden = [-1]", "translator.hidden: -1 is outside 1..=65536"),
        ("probe-vvp", "", "hidden = [100000000000]", "translator.hidden: 100000000000 is outside 1..=65536"),
        ("probe-vvp", "targets = []", "", "probe.targets: expected at least one value"),
        ("probe-gdt", "background = inf", "", "probe.background: inf is outside -1000000000..=1000000000"),
        ("probe-attn", "layer = 99999", "", "probe.layer: 99999 is outside -1024..=1023"),
    ];
    for (probe, probe_extra, translator_extra, expected) in cases {
        let with = |extra: &str| if extra.is_empty() { String::new() } else { format!(", {extra}") };
        let text = workflow("model", "", probe)
            .replace(&format!("plugin = \"{probe}\""), &format!("plugin = \"{probe}\"{}", with(probe_extra)))
            .replace("plugin = \"translator-mlp\"", &format!("plugin = \"translator-mlp\"{}", with(translator_extra)));
        let (ok, stderr) = check(&text);
        assert!(!ok, "check must fail for {probe_extra}{translator_extra}");
        let plugin = if probe_extra.is_empty() { "translator-mlp" } else { probe };
        assert_eq!(stderr.trim(), format!("wf.toml: method[0] (VVP).{expected} [plugin {plugin}]"));
    }
}

/// What only the loaded model can tell: a layer it does not have, a direct score on a probe of
/// several columns. A dataset beyond its context is no problem: it runs tiled.
#[test]
fn check_refuses_what_the_model_cannot_take() {
    let mini = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ugrn-mini");
    let text = workflow(mini.to_str().unwrap(), "", "probe-attn\", layer = 99, context = \"pair")
        + "\n[[method]]\nname = \"VVP direct\"\nprobe = { plugin = \"probe-vvp\", context = \"pair\" }\nscore = \"feature\"\n"
        + "\n[[method]]\nname = \"GDT\"\nprobe = { plugin = \"probe-gdt\", context = \"dataset\" }\nscore = \"feature\"\n";
    let text = text.replace("test = [\"mDC\"]", "test = [\"mESC\"]");
    let (ok, stderr) = check(&text);
    assert!(!ok, "check must fail");
    let args: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(mini.join("args.json")).unwrap()).unwrap();
    let layers = args["nlayers"].as_u64().unwrap();
    assert_eq!(
        stderr.trim().lines().collect::<Vec<_>>(),
        [
            format!(
                "wf.toml: method[0] (VVP).probe: parameter `layer`: 99 is not a layer of this {layers}-layer model \
                 (0..{layers}, or -1 = last) [plugin probe-attn]"
            ),
            "wf.toml: method[1] (VVP direct).score: a direct score needs a probe with one feature column; probe-vvp \
             gives 8 (vvp_v0, vvp_v5, vvp_v10, … 5 more) on this model: give it a translator"
                .to_string(),
            "wf.toml: method[2] (GDT).score: a direct score needs a probe with one feature column; probe-gdt gives 8 \
             (gdt_b0, gdt_b2, gdt_b5, … 5 more) on this model: give it a translator"
                .to_string(),
        ]
    );
}

/// A binary moved out of the build folder finds the shipped data from where it is (an install
/// prefix, or `UGRN_HOME`), never from the folder it was built in.
#[test]
fn a_moved_binary_finds_its_data_beside_it_or_says_how_to_point_to_it() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap();
    let prefix = tempfile::tempdir().unwrap();
    std::fs::create_dir(prefix.path().join("bin")).unwrap();
    let exe = prefix.path().join("bin/ugrn");
    std::fs::hard_link(env!("CARGO_BIN_EXE_ugrn"), &exe)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_ugrn"), &exe).map(drop))
        .unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_ugrn")).parent().unwrap();
    let plugins = std::env::join_paths([built.to_path_buf(), built.join("deps")]).unwrap();
    let file = prefix.path().join("wf.toml");
    std::fs::write(&file, workflow(repo.join("models/ugrn-mini").to_str().unwrap(), "", "probe-emb")).unwrap();
    let check = |home: Option<&Path>| {
        let mut command = Command::new(&exe);
        command.args(["check", file.to_str().unwrap()]).env("UGRN_PLUGIN_PATH", &plugins).env("RUST_LOG", "error");
        command.env_remove("UGRN_HOME");
        if let Some(home) = home {
            command.env("UGRN_HOME", home);
        }
        let out = command.current_dir(prefix.path()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stderr) = check(None);
    assert!(!ok, "nothing shipped beside the binary yet");
    assert!(
        stderr.contains(
            "data.roots: not given, and this ugrn finds no shipped data/beeline above its executable or in \
             <prefix>/share/ugrn: set data.roots, or UGRN_HOME to the folder holding data/"
        ),
        "{stderr}"
    );
    assert_eq!(check(Some(&repo)), (true, String::new()), "UGRN_HOME names the folder holding data/");
    std::fs::create_dir_all(prefix.path().join("share/ugrn/data")).unwrap();
    std::os::unix::fs::symlink(repo.join("data/beeline"), prefix.path().join("share/ugrn/data/beeline")).unwrap();
    assert_eq!(check(None), (true, String::new()), "an install prefix holds it in share/ugrn");
}

#[test]
fn check_refuses_a_dataset_both_trained_and_tested_on() {
    let text = workflow("model", "", "probe-vvp").replace("test = [\"mDC\"]", "test = [\"mDC\", \"hESC\"]");
    let (ok, stderr) = check(&text);
    assert!(!ok, "check must fail");
    assert_eq!(
        stderr.trim(),
        "wf.toml: data.test: \"hESC\" is also in data.train; leave-dataset-out tests only datasets not trained on"
    );
}

#[test]
fn shipped_workflows_validate() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<String> = std::fs::read_dir(repo.join("workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 4, "expected the quickstart and Table 1 workflows, found {files:?}");
    // Every one runs on the embedded default; the Table 1 workflows' `dataset` context runs tiled.
    let mut args = vec!["check"];
    args.extend(files.iter().map(|f| f.as_str()));
    let out = ugrn(&args, &repo);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn plugins_lists_every_workspace_plugin_with_parameters() {
    let out = ugrn(&["plugins"], Path::new(env!("CARGO_MANIFEST_DIR")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for name in [
        "backbone-scgpt (backbone)",
        "probe-vvp (probe)",
        "probe-gdt (probe)",
        "probe-pert (probe)",
        "probe-emb (probe)",
        "probe-attn (probe)",
        "probe-corr (probe)",
        "translator-mlp (translator)",
        "evaluator-beeline (evaluator)",
    ] {
        assert!(stdout.contains(name), "`{name}` missing from:\n{stdout}");
    }
    assert!(stdout.contains("background = "), "parameters with defaults are listed:\n{stdout}");
    assert!(!stdout.contains("refused:"), "{stdout}");
}

#[test]
fn check_refuses_an_ensemble_of_a_method_without_translator() {
    let text = workflow("model", "", "probe-vvp")
        + "\n[[method]]\nname = \"Pert (origin)\"\nprobe = { plugin = \"probe-pert\", mode = \"origin\" }\nscore = \"abs-feature\"\n"
        + "\n[[method]]\nname = \"Ens\"\nensemble = [\"VVP\", \"Pert (origin)\"]\n";
    let (ok, stderr) = check(&text);
    assert!(!ok, "check must fail");
    assert_eq!(
        stderr.trim(),
        "wf.toml: method[2] (Ens).ensemble: \"Pert (origin)\" is not a method of this workflow with a translator (ensembles average logits)"
    );
}
