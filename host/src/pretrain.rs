//! `ugrn pretrain`: runs the `ugrn-pretrain` executable (crate `pretrain/`) with the same
//! arguments. Pretraining trains the scGPT backbone's model, and the host imports no plugin
//! crate, so it is an executable of its own.
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};

/// The pretraining executable's file name on this platform.
fn executable_name() -> String {
    format!("ugrn-pretrain{}", std::env::consts::EXE_SUFFIX)
}

/// The pretraining executable in `exe_dir` (the running `ugrn`'s folder), else in the first
/// folder of `path` (a `PATH` value) that has it; `Err` holds the folders searched, in order.
pub fn find_executable(exe_dir: Option<&Path>, path: Option<&OsStr>) -> Result<PathBuf, Vec<PathBuf>> {
    let dirs: Vec<PathBuf> =
        exe_dir.map(Path::to_path_buf).into_iter().chain(path.into_iter().flat_map(std::env::split_paths)).collect();
    let name = executable_name();
    dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()).ok_or(dirs)
}

/// Runs `ugrn-pretrain args` (with `--quiet` first when `quiet`) and exits as it does.
pub fn run(args: &[OsString], quiet: bool) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the running ugrn executable")?;
    let program = find_executable(exe.parent(), std::env::var_os("PATH").as_deref()).map_err(|searched| {
        let searched: Vec<String> = searched.iter().map(|d| d.display().to_string()).collect();
        anyhow!(
            "`ugrn pretrain` runs the `{}` executable, found neither beside ugrn nor on PATH (searched: {}); \
             build it with `cargo build --release -p ugrn-pretrain`",
            executable_name(),
            searched.join(", ")
        )
    })?;
    let mut command = std::process::Command::new(&program);
    if quiet {
        command.arg("--quiet");
    }
    let status = command.args(args).status().with_context(|| format!("running {}", program.display()))?;
    Ok(status.code().map_or(ExitCode::FAILURE, |code| ExitCode::from(code as u8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_beside_ugrn_then_on_path() {
        let (beside, on_path, other) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let path = std::env::join_paths([other.path(), on_path.path()]).unwrap();
        let searched = find_executable(Some(beside.path()), Some(&path)).unwrap_err();
        assert_eq!(searched, [beside.path(), other.path(), on_path.path()]);

        std::fs::write(on_path.path().join(executable_name()), "").unwrap();
        assert_eq!(find_executable(Some(beside.path()), Some(&path)).unwrap(), on_path.path().join(executable_name()));
        std::fs::write(beside.path().join(executable_name()), "").unwrap();
        assert_eq!(find_executable(Some(beside.path()), Some(&path)).unwrap(), beside.path().join(executable_name()));
    }
}
