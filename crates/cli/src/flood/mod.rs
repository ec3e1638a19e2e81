//! The `udpflood` command line: argument parsing, printing and the two-host client glue over
//! the `udpflood` library.

pub mod agent;
pub mod args;

use std::io::Write;
use std::process::ExitCode;

use args::FloodArgs;
use clap::Parser;

/// UDP flood sender: sendmmsg batches, optional GSO, exact pacing; every datagram carries flow,
/// sequence and send time.
#[derive(Debug, Parser)]
#[command(
    name = "udpflood",
    version,
    after_help = "Sender agent for `udprx bench --sender`: udpflood agent --control ADDR:PORT \
                  --token-file FILE (see `udpflood agent --help`)."
)]
struct Cli {
    #[command(flatten)]
    flood: FloodArgs,
    /// Print the final report as JSON on stdout (live lines go to stderr).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Two-host mode: ask a `udprx serve` for the receive side and end with one combined report.
#[derive(Debug, Clone, clap::Args)]
struct RemoteArgs {
    /// Control address of a `udprx serve`; DEST must then be that server's address (its port
    /// is the data port to ask for; 0 lets the server pick). --json prints the combined report.
    #[arg(long, value_name = "ADDR:PORT")]
    server: Option<std::net::SocketAddr>,
    /// Shared secret the server requires.
    #[arg(long, value_name = "TOKEN", requires = "server", conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the shared secret from FILE (first line).
    #[arg(long, value_name = "FILE", requires = "server")]
    token_file: Option<std::path::PathBuf>,
    /// Receive method the server runs: recvfrom, recvmmsg, uring, uring-recv, epoll or auto.
    #[arg(long, value_name = "METHOD", default_value = "auto", requires = "server")]
    rx_method: String,
    /// Receive sockets (SO_REUSEPORT fan-out) the server runs.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "server")]
    rx_sockets: u32,
    /// Senders in this run (N:1): the run starts when all have joined with the same --run-id.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "server")]
    senders: u32,
    /// Run name shared by all senders of an N:1 run.
    #[arg(long, value_name = "NAME", requires = "server")]
    run_id: Option<String>,
    /// Most flows the receiver tracks in this run (the server bounds it; default: the server's
    /// own flow budget).
    #[arg(long, value_name = "FLOWS", requires = "server")]
    rx_flow_budget: Option<u32>,
}

/// Runs the `udpflood` command line and returns its exit status.
pub fn main() -> ExitCode {
    // `udpflood agent ...`: the sender agent (its own command line).
    let mut words = std::env::args_os();
    if std::env::args_os().nth(1).is_some_and(|w| w == "agent") {
        let prog = words.next().unwrap_or_default();
        let _ = words.next();
        let mut name = prog;
        name.push(" agent");
        return agent::main(std::iter::once(name).chain(words));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&clap_reason(&e)),
    };
    if let Some(server) = cli.remote.server {
        return remote::run(&cli.flood, &cli.remote, server, cli.json);
    }
    let flood = match cli.flood.builder().build() {
        Ok(f) => f,
        Err(e) if e.is_usage() => return usage_error(&e.to_string()),
        Err(e) => return runtime_error(&e.to_string()),
    };
    let stop = flood.stop_handle();
    // First Ctrl-C/SIGTERM: stop after the current batch and print the report. A second one
    // while stopping exits at once (status 1), as a way out of anything unexpected.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let installed = signal_hook::flag::register_conditional_shutdown(sig, 1, stop.flag())
            .and_then(|_| signal_hook::flag::register(sig, stop.flag()));
        if let Err(e) = installed {
            return runtime_error(&format!("cannot install signal handler: {e}"));
        }
    }
    let json = cli.json;
    let result = flood.run_with(|line| {
        if json {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return runtime_error(&e.to_string()),
    };
    if let Some(reason) = &report.gso_fallback_reason {
        eprintln!("udpflood: warning: GSO not used: {reason}");
    }
    let text = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s,
            Err(e) => return runtime_error(&format!("cannot serialise the report: {e}")),
        }
    } else {
        report.to_human()
    };
    // Not println!: a closed stdout (`| head`) must not panic.
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => runtime_error(&format!("cannot write the report: {e}")),
    }
}

use crate::args::clap_reason;

fn usage_error(reason: &str) -> ExitCode {
    eprintln!("udpflood: error: {reason}");
    ExitCode::from(2)
}

fn runtime_error(reason: &str) -> ExitCode {
    eprintln!("udpflood: error: {reason}");
    ExitCode::from(1)
}

/// `--server`: the control-channel client (the protocol is in the `udpctl` crate).
mod remote {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::process::ExitCode;
    use std::time::Duration;

    use super::args::FloodArgs;
    use udpctl::{ClientConfig, ClientError, CombinedReport, ErrorCode, RunRequest};
    use udpctl::{SenderReport, SenderSummary};

    use super::{RemoteArgs, runtime_error, usage_error};

    fn token(args: &RemoteArgs) -> Result<Option<String>, String> {
        match &args.token_file {
            Some(path) => {
                let limit = udprx_stats::bounded::TOKEN_MAX_BYTES;
                let text = udprx_stats::bounded::read_to_string(path, limit)
                    .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
                Ok(Some(text.lines().next().unwrap_or("").trim().to_string()))
            }
            None => Ok(args.token.clone()),
        }
    }

    /// The receiver's per-datagram buffer when the request names none (`udprx`'s default).
    const RX_DEFAULT_BUFFER: usize = 2048;

    /// Planned run length: the server bounds its waits by it.
    fn planned(flood: &FloodArgs) -> Duration {
        match (flood.duration, flood.count) {
            (Some(d), _) => d,
            (None, Some(n)) if flood.rate > 0 => Duration::from_secs(n.div_ceil(flood.rate) + 1),
            _ => udpflood::config::DEFAULT_DURATION,
        }
    }

    pub(super) fn run(
        flood: &FloodArgs,
        remote: &RemoteArgs,
        server: SocketAddr,
        json: bool,
    ) -> ExitCode {
        let dest = flood.dest;
        if !dest.ip().is_unspecified() && dest.ip() != server.ip() {
            return usage_error(&format!(
                "with --server {server}, DEST must be the server's address ({}:PORT), not {dest}",
                server.ip()
            ));
        }
        // Validate the flood settings before asking the server for anything.
        let mut probe = flood.clone();
        probe.dest = SocketAddr::new(server.ip(), dest.port().max(1));
        if let Err(e) = probe.builder().build() {
            return usage_error(&e.to_string());
        }
        let token = match token(remote) {
            Ok(t) => t,
            Err(e) => return usage_error(&e),
        };
        let duration = planned(flood).max(Duration::from_millis(100));
        let request = RunRequest {
            method: remote.rx_method.clone(),
            sockets: remote.rx_sockets,
            duration_ms: duration.as_millis().min(u64::MAX as u128) as u64,
            data_port: dest.port(),
            senders: remote.senders,
            flows: flood.flows.unwrap_or(flood.threads) as u32,
            run_id: remote.run_id.clone(),
            clock: flood.clock,
            // Datagrams larger than the receiver's default buffer must not be truncated there.
            buffer_size: (flood.size > RX_DEFAULT_BUFFER).then_some(flood.size as u32),
            flow_budget: remote.rx_flow_budget,
        };
        let outcome = udpctl::run_remote(
            server,
            &request,
            token.as_deref(),
            &ClientConfig::default(),
            |ready, data_addr| {
                let mut args = flood.clone();
                args.dest = data_addr;
                let f = args.builder().build()?;
                let stop = f.stop_handle();
                // Ctrl-C/SIGTERM ends the flood early; the run still ends with a report.
                for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                    let _ = signal_hook::flag::register_conditional_shutdown(sig, 1, stop.flag())
                        .and_then(|_| signal_hook::flag::register(sig, stop.flag()));
                }
                let report = f.run_with(|line| {
                    if json {
                        eprintln!("{line}");
                    } else {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{line}");
                        let _ = out.flush();
                    }
                })?;
                if let Some(reason) = &report.gso_fallback_reason {
                    eprintln!("udpflood: warning: GSO not used: {reason}");
                }
                Ok::<_, udpflood::Error>(SenderReport {
                    summary: SenderSummary {
                        sent: report.packets,
                        bytes: report.bytes,
                        send_errors: report.errors.total(),
                        elapsed_ns: (report.duration_s * 1e9) as u64,
                        flows: report.flows.len() as u32,
                        flow_base: ready.flow_base,
                        clock: report.clock,
                    },
                    detail: serde_json::to_value(&report).unwrap_or_default(),
                })
            },
        );
        let run = match outcome {
            Ok(run) => run,
            Err(ClientError::Server(e)) if e.code == ErrorCode::Invalid => {
                // The server's text: escaped, so a malicious server cannot write to the terminal.
                return usage_error(&format!(
                    "the server refused the request: {}",
                    udpctl::text::escape_limited(&e.message, udpctl::client::REPLY_TEXT_LIMIT)
                ));
            }
            Err(e) => return runtime_error(&e.to_string()),
        };
        let report = CombinedReport::from_run(&run);
        let text = if json {
            // The reports carry the server's strings verbatim: keep them from the terminal.
            match serde_json::to_string_pretty(&report) {
                Ok(s) => udpctl::text::json_safe(&s),
                Err(e) => return runtime_error(&format!("cannot serialise the report: {e}")),
            }
        } else {
            report.to_text()
        };
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{}", text.trim_end()).and_then(|_| out.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
            Err(e) => runtime_error(&format!("cannot write the report: {e}")),
        }
    }
}
