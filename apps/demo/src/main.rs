//! `hallpass-demo`: see `hallpass-demo --help`, and the crate docs.

use std::process::ExitCode;

use clap::Parser as _;
use hallpass_demo::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("hallpass-demo: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hallpass_demo::server::run(&cli, std::io::stdout())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hallpass-demo: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
