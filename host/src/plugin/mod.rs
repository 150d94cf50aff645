//! Plugin discovery and the registry of loaded plugins: native libraries and WebAssembly
//! components behind one interface.
mod component;
#[cfg(unix)]
mod elf;
mod native;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ugrn_sdk::{Backbone, Evaluator, PluginInfo, PluginKind, PluginObject, Probe, Translator};

pub use component::ComponentLimits;
use component::ComponentRuntime;
pub use native::Hosted;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{file}: cannot load: {reason}")]
    Load { file: String, reason: String },
    #[error("{file}: not a ugrn plugin (no UGRN_PLUGIN_DECLARATION symbol)")]
    NotAPlugin { file: String },
    #[error(
        "{file}: refused: plugin built with {what} {plugin}, host has {host}; rebuild the plugin against this host"
    )]
    Mismatch { file: String, what: &'static str, plugin: String, host: String },
    #[error("{file}: plugin creation failed: {reason}")]
    Create { file: String, reason: String },
    #[error("unknown {kind} plugin `{name}` (available: {available})")]
    Unknown { kind: PluginKind, name: String, available: String },
    #[error("plugin `{name}` is a {found}, not a {expected}")]
    WrongKind { name: String, found: PluginKind, expected: PluginKind },
    /// The plugin describes itself as `kind` but its object is of another kind.
    #[error("plugin `{name}` is not {}", with_article(.kind))]
    NotItsKind { name: String, kind: PluginKind },
}

/// "a probe", "an evaluator".
fn with_article(kind: &PluginKind) -> String {
    let article = if *kind == PluginKind::Evaluator { "an" } else { "a" };
    format!("{article} {kind}")
}

impl PluginError {
    /// The plugin file this error is about, if any.
    fn file(&self) -> Option<&Path> {
        match self {
            PluginError::Load { file, .. }
            | PluginError::NotAPlugin { file }
            | PluginError::Mismatch { file, .. }
            | PluginError::Create { file, .. } => Some(Path::new(file)),
            PluginError::Unknown { .. } | PluginError::WrongKind { .. } | PluginError::NotItsKind { .. } => None,
        }
    }
}

/// A loaded plugin of any kind.
pub enum PluginHandle {
    Backbone(Hosted<dyn Backbone>),
    Probe(Hosted<dyn Probe>),
    Translator(Hosted<dyn Translator>),
    Evaluator(Hosted<dyn Evaluator>),
}

impl PluginHandle {
    pub fn describe(&self) -> PluginInfo {
        match self {
            PluginHandle::Backbone(p) => p.describe(),
            PluginHandle::Probe(p) => p.describe(),
            PluginHandle::Translator(p) => p.describe(),
            PluginHandle::Evaluator(p) => p.describe(),
        }
    }

    pub fn kind(&self) -> PluginKind {
        match self {
            PluginHandle::Backbone(_) => PluginKind::Backbone,
            PluginHandle::Probe(_) => PluginKind::Probe,
            PluginHandle::Translator(_) => PluginKind::Translator,
            PluginHandle::Evaluator(_) => PluginKind::Evaluator,
        }
    }
}

/// A plugin found on disk and loaded.
pub struct Plugin {
    pub info: PluginInfo,
    pub file: PathBuf,
    pub handle: Arc<PluginHandle>,
}

/// Every plugin discovered, by name. The first found of a name wins (search order: workflow
/// folders, `--plugins`, `UGRN_PLUGIN_PATH`, then the workspace's own builds).
pub struct Registry {
    /// Compiles and runs the component plugins; created on the first one found.
    components: Option<Arc<ComponentRuntime>>,
    limits: ComponentLimits,
    plugins: BTreeMap<String, Plugin>,
    /// Files that looked like plugins but were refused, with the reason.
    pub refused: Vec<PluginError>,
    /// Later files whose name was already taken.
    pub shadowed: Vec<(String, PathBuf)>,
}

/// How a plugin file is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PluginFile {
    Native,
    /// A WebAssembly component, binary (`.wasm`) or text (`.wat`).
    Component,
}

/// Whether a file name looks like a ugrn plugin: `ugrn_*` as a native library of this platform
/// or as a component.
fn plugin_file(path: &Path) -> Option<PluginFile> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix(std::env::consts::DLL_PREFIX).unwrap_or(name);
    if stem.starts_with("ugrn_") && name.ends_with(std::env::consts::DLL_SUFFIX) {
        Some(PluginFile::Native)
    } else if name.starts_with("ugrn_") && (name.ends_with(".wasm") || name.ends_with(".wat")) {
        Some(PluginFile::Component)
    } else {
        None
    }
}

/// The folders searched when nothing else is said, all found from the running executable: its
/// own folder; when that is a cargo build folder (`target/<profile>`, or its `deps/`), the
/// release and debug builds beside it; and `<prefix>/lib/ugrn` for an executable in
/// `<prefix>/bin/`. Each with its `deps/` (where `cargo test` leaves cdylibs).
pub fn default_search_path() -> Vec<PathBuf> {
    let exe_dir = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf));
    search_path_for(exe_dir.as_deref())
}

fn search_path_for(exe_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = exe_dir {
        let profile_dir = if dir.file_name().is_some_and(|n| n == "deps") { dir.parent() } else { Some(dir) };
        if let Some(p) = profile_dir {
            dirs.push(p.to_path_buf());
            if let Some(target) = p.parent().filter(|t| t.file_name().is_some_and(|n| n == "target")) {
                dirs.extend(["release", "debug"].map(|profile| target.join(profile)));
            }
            if p.file_name().is_some_and(|n| n == "bin")
                && let Some(prefix) = p.parent()
            {
                dirs.push(prefix.join("lib").join("ugrn"));
            }
        }
    }
    let mut out = Vec::new();
    for d in dirs {
        for candidate in [d.clone(), d.join("deps")] {
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// Folders named in `UGRN_PLUGIN_PATH` (separated like `PATH`).
pub fn env_search_path() -> Vec<PathBuf> {
    std::env::var_os("UGRN_PLUGIN_PATH")
        .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default()
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(ComponentLimits::default())
    }
}

impl Registry {
    /// An empty registry whose component plugins run under `limits`.
    pub fn new(limits: ComponentLimits) -> Registry {
        Registry { components: None, limits, plugins: BTreeMap::new(), refused: Vec::new(), shadowed: Vec::new() }
    }

    /// Loads every plugin file in `dirs`, in order. Missing folders are skipped.
    pub fn discover(dirs: &[PathBuf], limits: ComponentLimits) -> Registry {
        let mut registry = Registry::new(limits);
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| plugin_file(p).is_some()).collect();
            files.sort();
            for file in files {
                registry.load_file(&file);
            }
        }
        // A stale build of a plugin that loaded from another folder (say target/debug beside a
        // fresh target/release) is expected; only refusals that leave a plugin missing warn.
        // `ugrn plugins` lists them all.
        for e in &registry.refused {
            let name = e.file().and_then(Path::file_name);
            if registry.plugins.values().any(|p| p.file.file_name() == name) {
                tracing::debug!("{e}");
            } else {
                tracing::warn!("{e}");
            }
        }
        registry
    }

    /// Loads one plugin file; refusals are recorded, not fatal.
    pub fn load_file(&mut self, file: &Path) {
        let handle = match plugin_file(file) {
            Some(PluginFile::Component) => self.open_component(file),
            _ => native::open(file).map(|loaded| {
                let library = loaded.library;
                match loaded.object {
                    PluginObject::Backbone(b) => PluginHandle::Backbone(Hosted::native(b, library)),
                    PluginObject::Probe(p) => PluginHandle::Probe(Hosted::native(p, library)),
                    PluginObject::Translator(t) => PluginHandle::Translator(Hosted::native(t, library)),
                    PluginObject::Evaluator(e) => PluginHandle::Evaluator(Hosted::native(e, library)),
                }
            }),
        };
        match handle {
            Ok(handle) => {
                let info = handle.describe();
                if self.plugins.contains_key(&info.name) {
                    self.shadowed.push((info.name, file.to_path_buf()));
                    return;
                }
                tracing::debug!(plugin = %info.name, file = %file.display(), "loaded plugin");
                self.plugins
                    .insert(info.name.clone(), Plugin { info, file: file.to_path_buf(), handle: Arc::new(handle) });
            }
            Err(e) => self.refused.push(e),
        }
    }

    fn open_component(&mut self, file: &Path) -> Result<PluginHandle, PluginError> {
        let runtime = match &self.components {
            Some(r) => r.clone(),
            None => {
                let r = ComponentRuntime::new(self.limits)
                    .map_err(|e| PluginError::Load { file: file.display().to_string(), reason: format!("{e:#}") })?;
                self.components.insert(r).clone()
            }
        };
        Ok(match component::open(&runtime, file)? {
            component::ComponentObject::Probe(p) => PluginHandle::Probe(Hosted::component(Box::new(p))),
            component::ComponentObject::Translator(t) => PluginHandle::Translator(Hosted::component(Box::new(t))),
            component::ComponentObject::Evaluator(e) => PluginHandle::Evaluator(Hosted::component(Box::new(e))),
        })
    }

    pub fn plugins(&self) -> impl Iterator<Item = &Plugin> {
        self.plugins.values()
    }

    pub fn get(&self, name: &str) -> Option<&Plugin> {
        self.plugins.get(name)
    }

    /// The version plugin `name` declares; `?` when none has that name.
    pub fn version(&self, name: &str) -> &str {
        self.get(name).map_or("?", |p| p.info.version.as_str())
    }

    fn names_of(&self, kind: PluginKind) -> String {
        let names: Vec<&str> =
            self.plugins.values().filter(|p| p.info.kind == kind).map(|p| p.info.name.as_str()).collect();
        if names.is_empty() { "none found".into() } else { names.join(", ") }
    }

    /// The plugin `name`, which must be of `kind`.
    pub fn require(&self, name: &str, kind: PluginKind) -> Result<&Plugin, PluginError> {
        let plugin = self.plugins.get(name).ok_or_else(|| PluginError::Unknown {
            kind,
            name: name.to_string(),
            available: self.names_of(kind),
        })?;
        if plugin.info.kind != kind {
            return Err(PluginError::WrongKind { name: name.into(), found: plugin.info.kind, expected: kind });
        }
        Ok(plugin)
    }

    /// The object of plugin `name`, which must be of `kind` and hold what `object` picks.
    fn object<T: ?Sized>(
        &self,
        name: &str,
        kind: PluginKind,
        object: impl FnOnce(&PluginHandle) -> Option<&Hosted<T>>,
    ) -> Result<&Hosted<T>, PluginError> {
        object(&self.require(name, kind)?.handle).ok_or_else(|| PluginError::NotItsKind { name: name.into(), kind })
    }

    pub fn backbone(&self, name: &str) -> Result<&Hosted<dyn Backbone>, PluginError> {
        self.object(name, PluginKind::Backbone, |h| if let PluginHandle::Backbone(b) = h { Some(b) } else { None })
    }

    pub fn probe(&self, name: &str) -> Result<&Hosted<dyn Probe>, PluginError> {
        self.object(name, PluginKind::Probe, |h| if let PluginHandle::Probe(p) = h { Some(p) } else { None })
    }

    pub fn translator(&self, name: &str) -> Result<&Hosted<dyn Translator>, PluginError> {
        self.object(name, PluginKind::Translator, |h| if let PluginHandle::Translator(t) = h { Some(t) } else { None })
    }

    pub fn evaluator(&self, name: &str) -> Result<&Hosted<dyn Evaluator>, PluginError> {
        self.object(name, PluginKind::Evaluator, |h| if let PluginHandle::Evaluator(e) = h { Some(e) } else { None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_are_searched_beside_the_executable_never_where_it_was_built() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            search_path_for(Some(Path::new("/x/target/debug/deps"))),
            [p("/x/target/debug"), p("/x/target/debug/deps"), p("/x/target/release"), p("/x/target/release/deps")]
        );
        assert_eq!(
            search_path_for(Some(Path::new("/opt/ugrn/bin"))),
            [p("/opt/ugrn/bin"), p("/opt/ugrn/bin/deps"), p("/opt/ugrn/lib/ugrn"), p("/opt/ugrn/lib/ugrn/deps")]
        );
        assert_eq!(search_path_for(Some(Path::new("/tmp/moved"))), [p("/tmp/moved"), p("/tmp/moved/deps")]);
    }

    #[test]
    fn typed_getters_say_what_is_missing() {
        let registry = Registry::default();
        let e = registry.evaluator("evaluator-x").err().expect("no plugins");
        assert_eq!(e.to_string(), "unknown evaluator plugin `evaluator-x` (available: none found)");
        let e = PluginError::NotItsKind { name: "p".into(), kind: PluginKind::Evaluator };
        assert_eq!(e.to_string(), "plugin `p` is not an evaluator");
        let e = PluginError::NotItsKind { name: "p".into(), kind: PluginKind::Backbone };
        assert_eq!(e.to_string(), "plugin `p` is not a backbone");
    }
}
