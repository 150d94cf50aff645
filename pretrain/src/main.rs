//! `ugrn-pretrain`: what `ugrn pretrain` runs.
use std::process::ExitCode;

use ugrn_pretrain::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let threads = cli.threads.map(|t| t.to_string()).or_else(|| std::env::var("CANDLE_NUM_THREADS").ok());
    // SAFETY: no other thread runs yet, and candle reads the variable once, at its first
    // parallel operation.
    unsafe { std::env::set_var("CANDLE_NUM_THREADS", threads.as_deref().unwrap_or("1")) };
    ugrn::cli::init_logging(cli.quiet);
    match ugrn_pretrain::cli::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
