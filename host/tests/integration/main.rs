//! The host's integration tests, in one binary (one link instead of one per file): the CLI as a
//! user runs it, and component plugins on the WAT fixtures in `host/tests/components/`.
mod cli;
mod components;
