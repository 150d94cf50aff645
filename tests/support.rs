//! Helpers shared by the integration tests.
use std::path::PathBuf;

/// The folder holding this test executable's build products (`target/<profile>/deps`), where
/// cargo leaves the workspace's cdylibs.
pub fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().expect("test executable folder").to_path_buf()
}

/// The path of the native library built from the crate whose lib name is `lib_name`.
pub fn native_library(lib_name: &str) -> PathBuf {
    let file = format!("{}{lib_name}{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let deps = deps_dir();
    for dir in [deps.clone(), deps.join("..")] {
        let path = dir.join(&file);
        if path.exists() {
            return path;
        }
    }
    panic!("{file} not found next to {}: run the tests with `cargo test --workspace`", deps.display());
}

/// The scGPT fixture folder: `UGRN_SCGPT_FIXTURE` or `../shared/fixtures/scgpt-tiny`.
pub fn scgpt_fixture() -> PathBuf {
    fixture("UGRN_SCGPT_FIXTURE", "scgpt-tiny")
}

/// The Geneformer fixture folder: `UGRN_GENEFORMER_FIXTURE` or `../shared/fixtures/geneformer-tiny`.
pub fn geneformer_fixture() -> PathBuf {
    fixture("UGRN_GENEFORMER_FIXTURE", "geneformer-tiny")
}

fn fixture(var: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures").join(name));
    assert!(path.is_dir(), "fixture folder {} not found: set {var}", path.display());
    path
}
