//! `tsercom`: the command-line tool. One module per subcommand under
//! `cmd/`; shared pieces (dialing a tsercom peer with raw messages, the
//! schema helpers) beside them.
//!
//! ```text
//! tsercom record --peer 127.0.0.1:50051 --method sensors.Sensor/Stream \
//!     --descriptors file_descriptor_set.bin --output session.mcap
//! tsercom info session.mcap
//! tsercom replay session.mcap --to 127.0.0.1:50160 --pace 2
//! tsercom probe 127.0.0.1:50051
//! tsercom browse _sensors._tcp --interfaces eth0
//! tsercom top --metrics 127.0.0.1:9464
//! ```

mod cmd;
mod dial;
mod schema;

use clap::{Parser, Subcommand};

/// tsercom's command-line tool: record sessions to MCAP files, replay
/// them, describe recordings, browse, probe peers, watch a fleet.
#[derive(Debug, Parser)]
#[command(name = "tsercom", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Record(cmd::record::Args),
    Replay(cmd::replay::Args),
    Info(cmd::info::Args),
    Probe(cmd::probe::Args),
    Browse(cmd::browse::Args),
    Top(cmd::top::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(args) => cmd::record::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Info(args) => cmd::info::run(&args),
        Command::Probe(args) => cmd::probe::run(&args),
        Command::Browse(args) => cmd::browse::run(&args),
        Command::Top(args) => cmd::top::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tsercom: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What a subcommand fails with: a message for the user.
pub(crate) type CliResult<T = ()> = Result<T, String>;

/// Adds context to any error.
pub(crate) fn ctx<E: std::fmt::Display>(what: impl std::fmt::Display) -> impl FnOnce(E) -> String {
    move |e| format!("{what}: {e}")
}

/// A tokio runtime for a subcommand.
pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ctx("starting the async runtime"))
}
