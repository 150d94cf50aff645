//! Records the git commit the binary is built from, for the provenance in `results.json`.
use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=UGRN_GIT_COMMIT={commit}");
    // A new commit moves HEAD or the branch it points to, wherever git keeps them (a worktree's
    // HEAD is in its own folder, the branches in the common one). Only paths that exist are
    // watched: a missing one would rerun this script on every build.
    let paths = [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--git-common-dir"]).map(|d| format!("{d}/refs/heads")),
        git(&["rev-parse", "--git-common-dir"]).map(|d| format!("{d}/packed-refs")),
    ];
    for path in paths.into_iter().flatten().map(PathBuf::from).filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
