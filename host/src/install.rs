//! Where the running binary finds what ships with it (the BEELINE labels in `data/beeline`),
//! from its own location, never from a path fixed at build time: a moved binary, an install
//! prefix or a deleted build folder must not change what it finds.
use std::path::{Path, PathBuf};

/// Names the folder holding the shipped `data/`; it overrides the search.
pub const HOME_ENV: &str = "UGRN_HOME";

/// The folder holding the shipped `data/`: `UGRN_HOME` when set, else the nearest folder at or
/// above the executable's with a `data/beeline` folder (a source checkout, whose binaries sit in
/// `target/<profile>/`), else `<prefix>/share/ugrn` for an executable in `<prefix>/bin/`.
pub fn shipped_root() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    shipped_root_for(exe.parent()?)
}

fn shipped_root_for(exe_dir: &Path) -> Option<PathBuf> {
    if let Some(checkout) = exe_dir.ancestors().find(|a| a.join("data").join("beeline").is_dir()) {
        return Some(checkout.to_path_buf());
    }
    let share = exe_dir.parent()?.join("share").join("ugrn");
    share.join("data").join("beeline").is_dir().then_some(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkout_is_found_above_the_binary_and_an_install_prefix_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("repo");
        std::fs::create_dir_all(checkout.join("data/beeline")).unwrap();
        std::fs::create_dir_all(checkout.join("target/release/deps")).unwrap();
        assert_eq!(shipped_root_for(&checkout.join("target/release")), Some(checkout.clone()));
        assert_eq!(shipped_root_for(&checkout.join("target/release/deps")), Some(checkout));

        let prefix = dir.path().join("prefix");
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        assert_eq!(shipped_root_for(&prefix.join("bin")), None, "nothing installed yet");
        std::fs::create_dir_all(prefix.join("share/ugrn/data/beeline")).unwrap();
        assert_eq!(shipped_root_for(&prefix.join("bin")), Some(prefix.join("share/ugrn")));
    }
}
