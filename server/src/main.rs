use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = faultline::cli::Cli::parse();
    let default = if matches!(cli.command, faultline::cli::Command::Serve { .. }) {
        "faultline=info,tower_http=info,warn"
    } else {
        "warn"
    };
    faultline::logging::init(cli.log_format(), default);
    match faultline::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
