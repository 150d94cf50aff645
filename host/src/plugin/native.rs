//! Native plugins: `cdylib`s loaded with libloading behind a strict version gate.
use std::ffi::CStr;
use std::path::Path;
use std::sync::Arc;

use libloading::Library;
use ugrn_sdk::{ABI_VERSION, DECLARATION_SYMBOL, PluginDeclaration, PluginObject, RUSTC_VERSION, SDK_VERSION};

use super::PluginError;

/// A plugin object together with what keeps its code alive: the native library it came from
/// (none for component plugins, whose object owns its compiled code). Field order matters: Rust
/// drops fields in declaration order, so the object (whose vtable and code live in the library)
/// is dropped before the library can be unloaded.
pub struct Hosted<T: ?Sized> {
    object: Box<T>,
    _library: Option<Arc<Library>>,
}

impl<T: ?Sized> Hosted<T> {
    pub fn native(object: Box<T>, library: Arc<Library>) -> Self {
        Hosted { object, _library: Some(library) }
    }

    pub fn component(object: Box<T>) -> Self {
        Hosted { object, _library: None }
    }

    /// Wraps an object this plugin created (e.g. a backbone's oracle) so that it, too, keeps
    /// the library loaded.
    pub fn child<U: ?Sized>(&self, object: Box<U>) -> Hosted<U> {
        Hosted { object, _library: self._library.clone() }
    }
}

impl<T: ?Sized> std::ops::Deref for Hosted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.object
    }
}

/// The object a library's declaration created, and the library (dropped after the object).
pub struct LoadedLibrary {
    pub object: PluginObject,
    pub library: Arc<Library>,
}

/// Opens `path`, checks its declaration against this host and creates its plugin object.
pub fn open(path: &Path) -> Result<LoadedLibrary, PluginError> {
    let file = path.display().to_string();
    #[cfg(unix)]
    super::elf::check_file(path).map_err(|reason| PluginError::Load { file: file.clone(), reason })?;
    // SAFETY: loading a library runs its initialisers. Only files that look like ugrn plugins
    // (by name) are opened, and nothing else in them is touched before the declaration passes
    // the version gate below.
    let library = unsafe { Library::new(path) }.map_err(|e| {
        // libloading's message is generic ("dlopen failed"); the loader's reason (a missing
        // dependency such as libcuda.so.1) is its source.
        let reason = match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        };
        PluginError::Load { file: file.clone(), reason }
    })?;
    // SAFETY: the symbol is a `PluginDeclaration` static; its first three fields are
    // `#[repr(C)]` and frozen across all versions, so reading them is sound for any plugin.
    let declaration: &PluginDeclaration = unsafe {
        let symbol = library
            .get::<*const PluginDeclaration>(DECLARATION_SYMBOL)
            .map_err(|_| PluginError::NotAPlugin { file: file.clone() })?;
        &**symbol
    };
    let abi = declaration.abi_version;
    // SAFETY: both pointers are NUL-terminated statics of the plugin (frozen layout above).
    let (sdk, rustc) = unsafe {
        (
            CStr::from_ptr(declaration.sdk_version).to_string_lossy().into_owned(),
            CStr::from_ptr(declaration.rustc_version).to_string_lossy().into_owned(),
        )
    };
    if abi != ABI_VERSION {
        return Err(PluginError::Mismatch {
            file,
            what: "ABI version",
            plugin: abi.to_string(),
            host: ABI_VERSION.to_string(),
        });
    }
    if sdk != SDK_VERSION {
        return Err(PluginError::Mismatch { file, what: "SDK version", plugin: sdk, host: SDK_VERSION.into() });
    }
    if rustc != RUSTC_VERSION {
        return Err(PluginError::Mismatch { file, what: "rustc version", plugin: rustc, host: RUSTC_VERSION.into() });
    }
    let object = (declaration.create)().map_err(|e| PluginError::Create { file, reason: e.to_string() })?;
    Ok(LoadedLibrary { object, library: Arc::new(library) })
}
