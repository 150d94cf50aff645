//! What the probes' tests share (feature `testing`, for dev-dependencies only).
pub mod mock;
pub mod scgpt;
