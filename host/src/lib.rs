//! The ugrn host runtime: loads plugins, owns the frozen model behind the oracle, runs TOML
//! workflows and writes reports. The `ugrn` binary is a thin CLI over this library.
pub mod cache;
pub mod cli;
pub mod data;
pub mod devices;
pub mod experiment;
pub mod grn_h5ad;
pub mod infer;
pub mod install;
pub mod oracle;
pub mod plots;
pub mod plugin;
pub mod pretrain;
pub mod progress;
pub mod report;
pub mod session;
pub mod staging;
pub mod translators;
pub mod workflow;
