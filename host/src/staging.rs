//! Temporary names that carry the writing process's id, so that what a killed run left behind
//! can be told from what a concurrent run is still writing, and removed.
use std::path::{Path, PathBuf};

/// Staging folders of reports and `ugrn infer` outputs.
pub const STAGING: &str = ".ugrn-staging-";
/// Feature-cache entries being written.
pub const TEMPORARY: &str = ".ugrn-tmp-";

/// The prefix of this process's temporary names of `kind`: `<kind><pid>-`.
pub fn prefix(kind: &str) -> String {
    format!("{kind}{}-", std::process::id())
}

/// Removes the entries of `dir` named `<kind><pid>-…` whose process no longer runs, and returns
/// them. Where process ids cannot be checked (no `/proc`) nothing is removed; an entry of a
/// running process, this one included, is never touched.
pub fn remove_stale(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(kind).and_then(|rest| rest.split('-').next()?.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || proc.join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pid 999999999 is past any Linux `pid_max`, so it never runs.
    #[test]
    fn only_leftovers_of_processes_that_are_gone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(format!("{STAGING}999999999-abc"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("results.md"), "partial").unwrap();
        let dead_old = dir.path().join(format!("{STAGING}999999999-abc.old"));
        std::fs::write(&dead_old, "").unwrap();
        let own = dir.path().join(format!("{}x", prefix(STAGING)));
        std::fs::create_dir(&own).unwrap();
        let unnamed = dir.path().join(format!("{STAGING}q1w2e3"));
        std::fs::create_dir(&unnamed).unwrap();
        let other_kind = dir.path().join(format!("{TEMPORARY}999999999-abc"));
        std::fs::write(&other_kind, "").unwrap();
        let mut removed = remove_stale(dir.path(), STAGING);
        removed.sort();
        assert_eq!(removed, [dead.clone(), dead_old.clone()]);
        assert!(own.exists() && unnamed.exists() && other_kind.exists());
        assert_eq!(remove_stale(dir.path(), TEMPORARY), [other_kind]);
    }
}
