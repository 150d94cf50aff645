//! Cross-crate integration tests in one binary (one link on two cores): the native plugin gate
//! and panic boundary, whole runs through the host and the real plugins, and component plugins
//! in real runs; mutated inputs of every kind (`fuzz`).
mod components;
mod fuzz;
mod infer;
mod pipeline;
mod planted;
mod plugins;
