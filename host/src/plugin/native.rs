//! Native plugins: `cdylib`s loaded with libloading behind a strict version gate.
use std::ffi::CStr;
use std::path::Path;
use std::sync::Arc;

use libloading::Library;
use ugrn_sdk::{ABI_VERSION, DECLARATION_SYMBOL, PluginDeclaration, PluginObject, RUSTC_VERSION, SDK_VERSION};

use super::PluginError;

/// A plugin object together with the library it came from. Field order matters: Rust drops
/// fields in declaration order, so the object (whose vtable and code live in the library) is
/// dropped before the library can be unloaded.
pub struct Native<T: ?Sized> {
    object: Box<T>,
    _library: Arc<Library>,
}

impl<T: ?Sized> Native<T> {
    pub fn new(object: Box<T>, library: Arc<Library>) -> Self {
        Native { object, _library: library }
    }
}

impl<T: ?Sized> Native<T> {
    /// Wraps an object this plugin created (e.g. a backbone's oracle) so that it, too, keeps
    /// the library loaded.
    pub fn child<U: ?Sized>(&self, object: Box<U>) -> Native<U> {
        Native { object, _library: self._library.clone() }
    }
}

impl<T: ?Sized> std::ops::Deref for Native<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.object
    }
}

/// The library handle and the object its declaration created.
pub struct LoadedLibrary {
    pub library: Arc<Library>,
    pub object: PluginObject,
}

/// Opens `path`, checks its declaration against this host and creates its plugin object.
pub fn open(path: &Path) -> Result<LoadedLibrary, PluginError> {
    let file = path.display().to_string();
    // SAFETY: loading a library runs its initialisers. Only files that look like ugrn plugins
    // (by name) are opened, and nothing else in them is touched before the declaration passes
    // the version gate below.
    let library = unsafe { Library::new(path) }
        .map_err(|e| PluginError::Load { file: file.clone(), reason: e.to_string() })?;
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
    Ok(LoadedLibrary { library: Arc::new(library), object })
}
