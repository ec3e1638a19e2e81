//! The `udprx` command line: one file per subcommand; `run` is the default.

pub mod bench;
pub mod merge;
pub mod run;
pub mod serve;

use std::process::ExitCode;
use std::time::Duration;

use crate::args::cli_message;
use clap::{Parser, Subcommand};

/// UDP receive engine and benchmark.
#[derive(Debug, Parser)]
#[command(name = "udprx", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: run::RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive datagrams and report rates (the default when no subcommand is given).
    Run(run::RunArgs),
    /// Merge JSON reports of several receivers or runs into one.
    Merge(merge::MergeArgs),
    /// Serve run requests from `udpflood --server` on a control port (two-host mode).
    Serve(serve::ServeArgs),
    /// Compare every receive path and write a report with charts (see docs/bench.md).
    Bench(Box<bench::BenchArgs>),
    /// Compare two saved bench runs (report.json) with verdicts and intervals.
    Compare(bench::CompareArgs),
    /// Re-derive a saved bench run's verdicts and Answer with this version's rules.
    Render(bench::RenderArgs),
}

/// Exit status for bad arguments.
pub const EXIT_USAGE: u8 = 2;

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("udprx: {}", crate::args::clap_reason(&e));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match cli.command {
        Some(Command::Run(args)) => run::execute(args),
        Some(Command::Merge(args)) => merge::run(args).map_err(CliError::from),
        Some(Command::Serve(args)) => serve::execute(args),
        Some(Command::Bench(args)) => bench::execute(*args),
        Some(Command::Compare(args)) => bench::compare(args),
        Some(Command::Render(args)) => bench::render(args),
        None => run::execute(cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udprx: error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// A failure with its exit status.
#[derive(Debug)]
pub struct CliError {
    /// One-line reason.
    pub message: String,
    /// Exit status (2 for bad arguments).
    pub code: u8,
}

impl CliError {
    /// A bad-arguments error (exit 2).
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), code: EXIT_USAGE }
    }
    /// A runtime failure (exit 1).
    pub fn runtime(message: impl Into<String>) -> CliError {
        CliError { message: message.into(), code: 1 }
    }
}

impl From<udprx::Error> for CliError {
    fn from(e: udprx::Error) -> CliError {
        let code = if e.is_config() { EXIT_USAGE } else { 1 };
        CliError { message: cli_message(&e), code }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> CliError {
        CliError::runtime(format!("{e:#}"))
    }
}

/// Parses `10s`, `500ms`, `2m`, `1h`, `1.5s` or a bare number of seconds (udpflood's parser,
/// so both tools read durations alike).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    udpflood::units::parse_duration(s).map_err(|e| e.to_string())
}

/// Parses a byte size: `4194304`, `4M`, `512K`, `1G` (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&s[..s.len() - 1], 1usize << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mul))
        .ok_or_else(|| format!("invalid byte size '{s}' (e.g. 4194304, 4M, 512K)"))
}

pub use crate::args::parse_cpus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn bench_profile_with_and_without_a_file() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Some(Command::Bench(b)) => b.options().unwrap(),
            other => panic!("{other:?}"),
        };
        let o = parse(&["udprx", "bench", "--profile", "--quick"]);
        assert!(o.cpu_profile && o.profiles.is_empty());
        let o = parse(&["udprx", "bench", "--profile", "profiles/tuning.conf"]);
        assert!(!o.cpu_profile);
        assert_eq!(o.profiles, vec![std::path::PathBuf::from("profiles/tuning.conf")]);
        let o = parse(&["udprx", "bench", "--settings", "profiles/tuning.conf", "--profile"]);
        assert!(o.cpu_profile);
        assert_eq!(o.profiles, vec![std::path::PathBuf::from("profiles/tuning.conf")]);
        let o = parse(&["udprx", "bench", "--settings", "a.conf", "--settings", "b.conf"]);
        assert!(!o.cpu_profile && o.profiles.len() == 2);
        let o = parse(&["udprx", "bench", "--profile", "a.conf", "--profile"]);
        assert!(o.cpu_profile && o.profiles.len() == 1);
        let o = parse(&["udprx", "bench", "--quick"]);
        assert!(!o.cpu_profile && o.profiles.is_empty());
    }

    #[test]
    fn bytes_and_cpus() {
        assert_eq!(parse_bytes("4M"), Ok(4 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("x").is_err());
        assert_eq!(parse_cpus("0,2-3"), Ok(vec![0, 2, 3]));
        assert_eq!(parse_cpus("none"), Ok(vec![]));
        assert!(parse_cpus("3-1").is_err());
    }
}
