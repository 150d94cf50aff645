//! The native plugin declaration: the one symbol the host reads before trusting a library.
//!
//! Native plugins share Rust types (trait objects, `Vec`, `String`) with the host, which is only
//! sound when both were compiled by the same rustc against the same SDK. The first three fields
//! of [`PluginDeclaration`] are `#[repr(C)]` and frozen forever, so any host can read them from
//! any plugin and refuse a mismatch before touching anything else.
use std::ffi::{CStr, c_char};

use crate::error::Result;
use crate::plugin::{Backbone, Evaluator, Probe, Translator};

/// Bumped whenever the layout or meaning of the native interface changes.
pub const ABI_VERSION: u32 = 1;

/// This SDK's version and a fingerprint of its source (`0.1.0+src.<hash>`): native plugins share
/// its types with the host, so any change to them must refuse older plugins.
pub const SDK_VERSION: &str = env!("UGRN_SDK_VERSION");

/// The rustc this SDK (and so the plugin linking it) was built with.
pub const RUSTC_VERSION: &str = env!("UGRN_RUSTC_VERSION");

/// The symbol every native plugin exports.
pub const DECLARATION_SYMBOL: &[u8] = b"UGRN_PLUGIN_DECLARATION\0";

#[doc(hidden)]
pub const SDK_VERSION_C: &CStr = match CStr::from_bytes_with_nul(concat!(env!("UGRN_SDK_VERSION"), "\0").as_bytes()) {
    Ok(s) => s,
    Err(_) => panic!("SDK version contains a NUL byte"),
};

#[doc(hidden)]
pub const RUSTC_VERSION_C: &CStr = match CStr::from_bytes_with_nul(concat!(env!("UGRN_RUSTC_VERSION"), "\0").as_bytes())
{
    Ok(s) => s,
    Err(_) => panic!("rustc version contains a NUL byte"),
};

/// A plugin object of one of the four kinds.
pub enum PluginObject {
    Backbone(Box<dyn Backbone>),
    Probe(Box<dyn Probe>),
    Translator(Box<dyn Translator>),
    Evaluator(Box<dyn Evaluator>),
}

/// The exported declaration. Only `abi_version`, `sdk_version` and `rustc_version` may be read
/// before the versions are checked; `create` is called only when all three match the host's.
#[repr(C)]
pub struct PluginDeclaration {
    pub abi_version: u32,
    /// NUL-terminated.
    pub sdk_version: *const c_char,
    /// NUL-terminated.
    pub rustc_version: *const c_char,
    /// Builds the plugin object; panics inside are caught in the plugin and returned as errors.
    pub create: fn() -> Result<PluginObject>,
}

// SAFETY: the pointers refer to `'static` NUL-terminated strings that are never written.
unsafe impl Sync for PluginDeclaration {}
