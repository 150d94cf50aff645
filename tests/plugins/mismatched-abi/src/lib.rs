//! A plugin declaring an ABI version the host does not speak. Its declaration is written by hand
//! (the export macros always declare the SDK's own versions).
use ugrn_sdk::{PluginDeclaration, PluginObject, Result};

fn create() -> Result<PluginObject> {
    Err(ugrn_sdk::Error::invalid("a refused plugin must never be created"))
}

#[unsafe(no_mangle)]
pub static UGRN_PLUGIN_DECLARATION: PluginDeclaration = PluginDeclaration {
    abi_version: 999,
    sdk_version: ugrn_sdk::SDK_VERSION_C.as_ptr(),
    rustc_version: ugrn_sdk::RUSTC_VERSION_C.as_ptr(),
    create,
};
