//! What the candle backbones share: forward-mode tangents over candle tensors ([`dual`]),
//! checkpoint weight files and named tensors ([`checkpoint`]), JSON configs whose errors name the
//! key at fault ([`config`]), the `device` and `dtype` load parameters ([`device`]), f32 CPU kernels for
//! attention's softmax ([`kernels`]), how the
//! allocator treats activations ([`memory`]), and candle's errors as the SDK's ([`Context`]).
//!
//! A library the backbone plugins link in, not a plugin: it declares nothing for the host to load.
//! Feature `testing` adds `testing`, the helpers of the backbones' tests.
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod dual;
mod error;
pub mod kernels;
pub mod memory;
mod pth;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Context;
