//! The `loadgate` binary: parse arguments, set up logging, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    loadgate::util::quiet_broken_pipe();
    let cli = loadgate::cli::Cli::parse_args();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOADGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match loadgate::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_verdict() => {
            eprintln!("{e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(e.exit_code())
        }
    }
}
