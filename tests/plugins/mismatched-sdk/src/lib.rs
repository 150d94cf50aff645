//! A plugin declaring an SDK version other than the host's.
use ugrn_sdk::{PluginDeclaration, PluginObject, Result};

fn create() -> Result<PluginObject> {
    Err(ugrn_sdk::Error::invalid("a refused plugin must never be created"))
}

#[unsafe(no_mangle)]
pub static UGRN_PLUGIN_DECLARATION: PluginDeclaration = PluginDeclaration {
    abi_version: ugrn_sdk::ABI_VERSION,
    sdk_version: c"0.0.0-other".as_ptr(),
    rustc_version: ugrn_sdk::RUSTC_VERSION_C.as_ptr(),
    create,
};
