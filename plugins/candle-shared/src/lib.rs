//! What the candle backbones share: forward-mode tangents over candle tensors ([`dual`]),
//! checkpoint weight files and named tensors ([`checkpoint`]), and JSON configs whose errors
//! name the key at fault ([`config`]).
//!
//! A library the backbone plugins link in, not a plugin: it declares nothing for the host to load.
pub mod checkpoint;
pub mod config;
pub mod dual;
