//! Temporary names that carry the writing host and process id, so that what a killed run left
//! behind can be told from what a concurrent run is still writing, and removed.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Staging folders of reports and `ugrn infer` outputs.
pub const STAGING: &str = ".ugrn-staging-";
/// Feature-cache entries being written.
pub const TEMPORARY: &str = ".ugrn-tmp-";

/// This machine's name as `/proc` gives it, with anything but letters, digits and `.` dropped;
/// `None` where there is no `/proc`, and then nothing is ever removed.
/// Read once: every cache write names a temporary file with it.
fn host() -> Option<&'static str> {
    static HOST: OnceLock<Option<String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        let name: String = name.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        (!name.is_empty()).then_some(name)
    })
    .as_deref()
}

/// The prefix of this process's temporary names of `kind`: `<kind><host>-<pid>-`.
pub fn prefix(kind: &str) -> String {
    format!("{kind}{}-{}-", host().unwrap_or_default(), std::process::id())
}

/// Removes the entries of `dir` named `<kind><host>-<pid>-<suffix>` that this host's process
/// `pid` left when it stopped, logs each, and returns them. Untouched: entries of a running process (this
/// one included), of another host (a shared file system: its pids mean nothing here), and any
/// whose suffix holds a `.` (a report moved aside as `….old` while it was replaced, which may
/// be the only copy of it).
pub fn remove_stale(dir: &Path, kind: &str) -> Vec<PathBuf> {
    let Some(host) = host() else { return Vec::new() };
    let mine = format!("{kind}{host}-");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((pid, suffix)) = name.strip_prefix(&mine).and_then(|rest| rest.split_once('-')) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if suffix.contains('.') || pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let gone = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            tracing::info!("removed {}, left by a run that no longer runs", path.display());
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
        let host = host().expect("Linux has /proc");
        let dir = tempfile::tempdir().unwrap();
        let at = |name: String| dir.path().join(name);
        let dead = at(format!("{STAGING}{host}-999999999-abc"));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("results.md"), "partial").unwrap();
        let kept = [
            at(format!("{STAGING}{host}-999999999-abc.old")),
            at(format!("{}x", prefix(STAGING))),
            at(format!("{STAGING}otherhost-999999999-abc")),
            at(format!("{STAGING}q1w2e3")),
        ];
        for k in &kept {
            std::fs::create_dir(k).unwrap();
        }
        let other_kind = at(format!("{TEMPORARY}{host}-999999999-abc"));
        std::fs::write(&other_kind, "").unwrap();
        assert_eq!(remove_stale(dir.path(), STAGING), std::slice::from_ref(&dead));
        assert!(!dead.exists());
        assert!(kept.iter().all(|k| k.exists()) && other_kind.exists());
        assert_eq!(remove_stale(dir.path(), TEMPORARY), [other_kind]);
    }
}
