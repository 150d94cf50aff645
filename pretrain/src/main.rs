//! `ugrn-pretrain`: what `ugrn pretrain` runs.
use std::process::ExitCode;

use ugrn_pretrain::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    ugrn::cli::init_logging(cli.quiet);
    match ugrn_pretrain::cli::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
