//! `ugrn-sdk`: the contract between the ugrn host and its plugins.
//!
//! Four plugin kinds ([`Backbone`], [`Probe`], [`Translator`], [`Evaluator`]) over plain shared
//! types, the [`ModelOracle`] probes compute through, typed [`Params`], and one export macro per
//! kind. A native plugin is a `cdylib` crate that implements one kind and calls its macro:
//!
//! ```ignore
//! #[derive(Default)]
//! struct MyProbe;
//! impl ugrn_sdk::Probe for MyProbe { /* … */ }
//! ugrn_sdk::export_probe!(MyProbe);
//! ```
mod declaration;
mod error;
pub mod guard;
mod oracle;
mod params;
mod plugin;
mod types;
pub mod virtual_cell;

pub use declaration::{
    ABI_VERSION, DECLARATION_SYMBOL, PluginDeclaration, PluginObject, RUSTC_VERSION,
    RUSTC_VERSION_C, SDK_VERSION, SDK_VERSION_C,
};
pub use error::{Error, Result};
pub use oracle::{AttentionMaps, CellBatch, ModelInfo, ModelOracle, Pass};
pub use params::{ParamKind, ParamSpec, ParamValue, Params};
pub use plugin::{
    Backbone, Corpus, Evaluator, FittedTranslator, LoadRequest, PretrainRequest, NoProgress, PluginInfo, PluginKind, Probe,
    ProbeRequest, Progress, Translator,
};
pub use types::{
    Curve, DatasetView, Evaluation, Expression, Features, GeneSymbol, LabeledFeatures, Matrix,
    Metric, Pair, TokenId,
};

/// Exports the declaration of a native plugin whose object `$make` builds. Use the per-kind
/// macros instead.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin {
    ($make:expr) => {
        #[unsafe(no_mangle)]
        pub static UGRN_PLUGIN_DECLARATION: $crate::PluginDeclaration = $crate::PluginDeclaration {
            abi_version: $crate::ABI_VERSION,
            sdk_version: $crate::SDK_VERSION_C.as_ptr(),
            rustc_version: $crate::RUSTC_VERSION_C.as_ptr(),
            create: {
                fn __ugrn_create() -> $crate::Result<$crate::PluginObject> {
                    $crate::guard::catch(env!("CARGO_PKG_NAME"), || Ok($make))
                }
                __ugrn_create
            },
        };
    };
}

/// Exports a [`Backbone`] type (which must implement `Default`) as a native plugin.
#[macro_export]
macro_rules! export_backbone {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Backbone(Box::new(
            $crate::guard::Guarded::new(env!("CARGO_PKG_NAME"), <$ty as ::core::default::Default>::default())
        )));
    };
}

/// Exports a [`Probe`] type (which must implement `Default`) as a native plugin.
#[macro_export]
macro_rules! export_probe {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Probe(Box::new(
            $crate::guard::Guarded::new(env!("CARGO_PKG_NAME"), <$ty as ::core::default::Default>::default())
        )));
    };
}

/// Exports a [`Translator`] type (which must implement `Default`) as a native plugin.
#[macro_export]
macro_rules! export_translator {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Translator(Box::new(
            $crate::guard::Guarded::new(env!("CARGO_PKG_NAME"), <$ty as ::core::default::Default>::default())
        )));
    };
}

/// Exports an [`Evaluator`] type (which must implement `Default`) as a native plugin.
#[macro_export]
macro_rules! export_evaluator {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Evaluator(Box::new(
            $crate::guard::Guarded::new(env!("CARGO_PKG_NAME"), <$ty as ::core::default::Default>::default())
        )));
    };
}
