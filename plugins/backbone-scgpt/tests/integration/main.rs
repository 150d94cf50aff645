//! The scGPT backbone's tests in one binary (one link on two cores). `parity` holds the checks
//! against the reference outputs (and, built with `--features cuda`, their GPU runs).
mod common;
mod derivatives;
mod errors;
mod oracle;
mod parity;
mod random_checkpoint;
mod vocab_coverage;
