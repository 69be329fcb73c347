use std::process::ExitCode;

use clap::Parser;
use faultline_probe::cli::{Cli, run};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("faultline-probe: {e:#}");
            ExitCode::FAILURE
        }
    }
}
