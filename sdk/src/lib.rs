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
//!
//! The macro defines the exported symbol the host looks up, so it belongs in the crate that is
//! built as the loadable library and in no library that other crates link: two linked copies of
//! the symbol collide. A plugin whose logic others link (for tests or benches) keeps that logic in
//! an rlib and calls the macro in a thin `cdylib` crate of its own, as ugrn's plugins do
//! (`plugins/<name>/plugin/`).
//!
//! Built for a wasm target (`cargo build --target wasm32-wasip2`) with this crate's `guest`
//! feature, the same crate is a WebAssembly component of its kind's world in `wit/0.1.0/plugin.wit`
//! (`ugrn:plugin/probe@0.1.0`, …). Probes, translators and evaluators can be components;
//! backbones are native only. A plugin enables the feature for wasm targets alone:
//!
//! ```toml
//! [target.'cfg(target_family = "wasm")'.dependencies]
//! ugrn-sdk = { workspace = true, features = ["guest"] }
//! ```
mod declaration;
mod error;
pub mod guard;
#[cfg(feature = "guest")]
pub mod guest;
mod oracle;
mod params;
mod plugin;
mod types;

pub use declaration::{
    ABI_VERSION, DECLARATION_SYMBOL, PluginDeclaration, PluginObject, RUSTC_VERSION, RUSTC_VERSION_C, SDK_VERSION,
    SDK_VERSION_C,
};
pub use error::{Error, Result};
pub use oracle::{AttentionMaps, CellBatch, ModelInfo, ModelOracle, Pass};
pub use params::{FROM_MODEL, NumberList, ParamKind, ParamRange, ParamSpec, ParamValue, Params};
pub use plugin::{
    Backbone, Evaluator, FittedTranslator, LoadRequest, NoProgress, PluginInfo, PluginKind, Probe, ProbeRequest,
    Progress, Translator,
};
pub use types::{
    Curve, DatasetView, Evaluation, Expression, Features, GeneSymbol, LabeledFeatures, Matrix, Metric, Pair, TokenId,
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
#[cfg(not(target_family = "wasm"))]
#[macro_export]
macro_rules! export_backbone {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Backbone(Box::new($crate::guard::Guarded::new(
            env!("CARGO_PKG_NAME"),
            <$ty as ::core::default::Default>::default()
        ))));
    };
}

/// Backbones hold the model in the host's process: they have no component form.
#[cfg(target_family = "wasm")]
#[macro_export]
macro_rules! export_backbone {
    ($ty:ty) => {
        compile_error!("backbones are native plugins only: build them for the host's target, not for wasm");
    };
}

/// Exports a [`Probe`] type (which must implement `Default`) as a native plugin; on wasm targets,
/// as a component of world `ugrn:plugin/probe` (with the `guest` feature).
#[cfg(not(target_family = "wasm"))]
#[macro_export]
macro_rules! export_probe {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Probe(Box::new($crate::guard::Guarded::new(
            env!("CARGO_PKG_NAME"),
            <$ty as ::core::default::Default>::default()
        ))));
    };
}

/// Exports a [`Probe`] type (which must implement `Default`) as a component of world
/// `ugrn:plugin/probe`; its oracle and progress bar are the host's imports.
#[cfg(all(target_family = "wasm", feature = "guest"))]
#[macro_export]
macro_rules! export_probe {
    ($ty:ty) => {
        const _: () = {
            struct __UgrnComponent;
            impl $crate::guest::probe::Guest for __UgrnComponent {
                fn describe() -> $crate::guest::probe::PluginInfo {
                    $crate::guest::describe($crate::Probe::describe(&<$ty as ::core::default::Default>::default()))
                }
                fn needs_expression(params: $crate::guest::probe::Params) -> bool {
                    $crate::guest::probe_needs_expression(&<$ty as ::core::default::Default>::default(), params)
                }
                fn features(
                    request: $crate::guest::probe::ProbeRequest,
                ) -> ::core::result::Result<$crate::guest::probe::Features, $crate::guest::probe::Error> {
                    $crate::guest::probe_features(&<$ty as ::core::default::Default>::default(), request)
                }
            }
            $crate::guest::probe::export!(__UgrnComponent);
        };
    };
}

/// Without the `guest` feature a wasm build cannot export a component.
#[cfg(all(target_family = "wasm", not(feature = "guest")))]
#[macro_export]
macro_rules! export_probe {
    ($ty:ty) => {
        compile_error!("enable ugrn-sdk's `guest` feature to build a component");
    };
}

/// Exports a [`Translator`] type (which must implement `Default`) as a native plugin; on wasm
/// targets, as a component of world `ugrn:plugin/translator` (with the `guest` feature).
#[cfg(not(target_family = "wasm"))]
#[macro_export]
macro_rules! export_translator {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Translator(Box::new($crate::guard::Guarded::new(
            env!("CARGO_PKG_NAME"),
            <$ty as ::core::default::Default>::default()
        ))));
    };
}

/// Exports a [`Translator`] type (which must implement `Default`) as a component of world
/// `ugrn:plugin/translator`.
#[cfg(all(target_family = "wasm", feature = "guest"))]
#[macro_export]
macro_rules! export_translator {
    ($ty:ty) => {
        const _: () = {
            struct __UgrnComponent;
            impl $crate::guest::translator::Guest for __UgrnComponent {
                fn describe() -> $crate::guest::translator::PluginInfo {
                    $crate::guest::describe($crate::Translator::describe(&<$ty as ::core::default::Default>::default()))
                }
                fn fit(
                    params: $crate::guest::translator::Params,
                    train: $crate::guest::translator::LabeledFeatures,
                    validation: $crate::guest::translator::LabeledFeatures,
                ) -> ::core::result::Result<
                    $crate::guest::translator::FittedTranslator,
                    $crate::guest::translator::Error,
                > {
                    $crate::guest::translator_fit(&<$ty as ::core::default::Default>::default(), params, train, validation)
                }
                fn predict(
                    params: $crate::guest::translator::Params,
                    state: ::std::vec::Vec<u8>,
                    features: $crate::guest::translator::Features,
                ) -> ::core::result::Result<::std::vec::Vec<f32>, $crate::guest::translator::Error> {
                    $crate::guest::translator_predict(
                        &<$ty as ::core::default::Default>::default(),
                        params,
                        state,
                        features,
                    )
                }
            }
            $crate::guest::translator::export!(__UgrnComponent);
        };
    };
}

/// Without the `guest` feature a wasm build cannot export a component.
#[cfg(all(target_family = "wasm", not(feature = "guest")))]
#[macro_export]
macro_rules! export_translator {
    ($ty:ty) => {
        compile_error!("enable ugrn-sdk's `guest` feature to build a component");
    };
}

/// Exports an [`Evaluator`] type (which must implement `Default`) as a native plugin; on wasm
/// targets, as a component of world `ugrn:plugin/evaluator` (with the `guest` feature).
#[cfg(not(target_family = "wasm"))]
#[macro_export]
macro_rules! export_evaluator {
    ($ty:ty) => {
        $crate::__export_plugin!($crate::PluginObject::Evaluator(Box::new($crate::guard::Guarded::new(
            env!("CARGO_PKG_NAME"),
            <$ty as ::core::default::Default>::default()
        ))));
    };
}

/// Exports an [`Evaluator`] type (which must implement `Default`) as a component of world
/// `ugrn:plugin/evaluator`.
#[cfg(all(target_family = "wasm", feature = "guest"))]
#[macro_export]
macro_rules! export_evaluator {
    ($ty:ty) => {
        const _: () = {
            struct __UgrnComponent;
            impl $crate::guest::evaluator::Guest for __UgrnComponent {
                fn describe() -> $crate::guest::evaluator::PluginInfo {
                    $crate::guest::describe($crate::Evaluator::describe(&<$ty as ::core::default::Default>::default()))
                }
                fn evaluate(
                    params: $crate::guest::evaluator::Params,
                    scores: ::std::vec::Vec<f32>,
                    labels: ::std::vec::Vec<bool>,
                ) -> ::core::result::Result<$crate::guest::evaluator::Evaluation, $crate::guest::evaluator::Error>
                {
                    $crate::guest::evaluator_evaluate(
                        &<$ty as ::core::default::Default>::default(),
                        params,
                        scores,
                        labels,
                    )
                }
            }
            $crate::guest::evaluator::export!(__UgrnComponent);
        };
    };
}

/// Without the `guest` feature a wasm build cannot export a component.
#[cfg(all(target_family = "wasm", not(feature = "guest")))]
#[macro_export]
macro_rules! export_evaluator {
    ($ty:ty) => {
        compile_error!("enable ugrn-sdk's `guest` feature to build a component");
    };
}
