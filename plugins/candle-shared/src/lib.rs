//! What the candle backbones share: forward-mode tangents over candle tensors ([`dual`]) and
//! checkpoint weight files and named tensors ([`checkpoint`]).
//!
//! A library the backbone plugins link in, not a plugin: it declares nothing for the host to load.
pub mod checkpoint;
pub mod dual;
