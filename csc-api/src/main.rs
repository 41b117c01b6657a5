//! The `qsign` operator command and server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    match csc_api::cli::run(std::env::args_os(), &mut stdin, &mut stdout) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("qsign: {e:#}");
            ExitCode::FAILURE
        }
    }
}
