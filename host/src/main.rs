use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ugrn::cli::Cli::parse();
    ugrn::cli::init_logging(cli.quiet);
    match ugrn::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
