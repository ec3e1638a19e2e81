//! `udprx serve`: listen on a control port and run receive measurements that `udpflood --server`
//! asks for, each ending with one combined report on the sender's side.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::control::{EngineExecutor, ExecutorConfig};
use clap::Args;
use udpctl::{AllowList, IpNet, Limits, ServerConfig, ServerEvent};
use udprx_stats::measure::Measure;
use udprx_stats::report::Report;
use udprx_stats::stats::flow::{DEFAULT_FLOW_BUDGET, check_flow_budget};

use super::{CliError, parse_bytes, parse_duration};
use crate::args::{CpuList, parse_cpu_list};

/// Options of `udprx serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TCP control address to listen on (an explicit address; port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9001")]
    pub control: SocketAddr,
    /// Shared secret every request must carry (compared in constant time).
    #[arg(long, value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Read the shared secret from FILE (first line), keeping it out of `ps`.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Source address or CIDR prefix allowed to connect (repeatable; default: any).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_net)]
    pub allow: Vec<IpNet>,
    /// Write each run's receiver record (JSON) to FILE, replacing the previous one.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Accept data ports below 1024.
    #[arg(long)]
    pub allow_privileged_ports: bool,
    /// Longest run a client may ask for.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub max_duration: Duration,
    /// Most receive sockets a client may ask for.
    #[arg(long, default_value_t = 64)]
    pub max_sockets: u32,
    /// Deadline for a client's first message (short: an idle connection holds a slot until then).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub handshake_timeout: Duration,
    /// How long an N:1 run waits for all its senders.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub join_timeout: Duration,
    /// Concurrent control connections; more are refused at once.
    #[arg(long, default_value_t = 128)]
    pub max_connections: usize,
    /// Concurrent control connections from one source address (IPv6: one /64); more are refused
    /// at once. At least the number of N:1 senders that share a host.
    #[arg(long, default_value_t = 20)]
    pub max_connections_per_source: usize,
    /// CPUs for the receive threads (`0,1`, `0-3`, `none`).
    #[arg(long, value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Receive buffer size per socket, e.g. 4M.
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub rcvbuf: Option<usize>,
    /// Datagrams per recvmmsg call.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Kernel receive timestamps (SO_TIMESTAMPNS).
    #[arg(long)]
    pub timestamps: bool,
    /// Most flows (source address, flow id) one run tracks over all its sockets, 1..=1048576
    /// (about 600 bytes each): what a request gets by default and the most its `flow_budget`
    /// may ask for. Datagrams of further flows are counted as untracked.
    #[arg(long, value_name = "FLOWS", default_value_t = DEFAULT_FLOW_BUDGET as u64)]
    pub flow_budget: u64,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse().map_err(|e: udpctl::auth::IpNetError| e.to_string())
}

fn read_token(args: &ServeArgs) -> Result<Option<String>, CliError> {
    if let Some(path) = &args.token_file {
        let limit = udprx_stats::bounded::TOKEN_MAX_BYTES;
        let text = udprx_stats::bounded::read_to_string(path, limit)
            .map_err(|e| CliError::usage(format!("--token-file {}: {e}", path.display())))?;
        let token = text.lines().next().unwrap_or("").trim().to_string();
        if token.is_empty() {
            return Err(CliError::usage(format!("--token-file {}: empty", path.display())));
        }
        return Ok(Some(token));
    }
    match &args.token {
        Some(t) if t.is_empty() => Err(CliError::usage("--token must not be empty")),
        t => Ok(t.clone()),
    }
}

/// The server configuration these arguments describe.
pub fn server_config(args: &ServeArgs) -> Result<ServerConfig, CliError> {
    if args.max_connections == 0 {
        return Err(CliError::usage("--max-connections must be at least 1"));
    }
    if args.max_connections_per_source == 0 {
        return Err(CliError::usage("--max-connections-per-source must be at least 1"));
    }
    let flow_budget =
        check_flow_budget("--flow-budget", args.flow_budget).map_err(CliError::usage)?;
    let limits = Limits {
        max_duration_ms: args.max_duration.as_millis().min(u64::MAX as u128) as u64,
        max_sockets: args.max_sockets,
        allow_privileged_port: args.allow_privileged_ports,
        // At most MAX_FLOW_BUDGET (2^20), well inside u32.
        max_flow_budget: flow_budget as u32,
        ..Limits::default()
    };
    if limits.max_duration_ms < limits.min_duration_ms {
        return Err(CliError::usage("--max-duration must be at least 100ms"));
    }
    Ok(ServerConfig {
        token: read_token(args)?,
        allow: AllowList::new(args.allow.clone()),
        limits,
        handshake_timeout: args.handshake_timeout.max(Duration::from_millis(10)),
        join_timeout: args.join_timeout.max(Duration::from_millis(10)),
        max_connections: args.max_connections,
        max_per_source: args.max_connections_per_source,
        report_path: args.json.clone(),
        observer: Some(Arc::new(log_event)),
        ..ServerConfig::default()
    })
}

/// Prints to stdout, ignoring a closed or broken stdout (the server keeps serving).
fn out(text: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_fmt(text).and_then(|()| o.write_all(b"\n")).and_then(|()| o.flush());
}

/// Peer-influenced text as it may appear in a log line: escaped and shortened.
fn esc(s: &str) -> String {
    udpctl::text::escape_limited(s, udpctl::text::LOG_LIMIT)
}

/// The stderr line for a rejected connection (peer-supplied text escaped: one line, no escape
/// sequences, whatever the peer sent).
pub fn rejection_line(peer: SocketAddr, error: &udpctl::ErrorReply, suppressed: u64) -> String {
    let mut line = format!("udprx serve: {peer}: {}: {}", error.code, esc(&error.message));
    if suppressed > 0 {
        line.push_str(&format!(" ({suppressed} earlier rejections not logged: rate limit)"));
    }
    line
}

fn log_event(ev: &ServerEvent) {
    match ev {
        ServerEvent::Rejected { peer, error, suppressed } => {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "{}", rejection_line(*peer, error, *suppressed));
        }
        ServerEvent::RunStarted { run_id, data_port, peers } => {
            let peers: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
            out(format_args!(
                "run {}: receiving on port {data_port} from {}",
                esc(run_id),
                peers.join(", ")
            ));
        }
        ServerEvent::RunFinished(record) => {
            let run_id = esc(&record.run_id);
            if let Some(err) = &record.error {
                out(format_args!("run {run_id}: failed: {}", esc(err)));
                return;
            }
            if let Some(r) = &record.receiver {
                match Report::from_json(&r.detail.to_string(), "run") {
                    Ok(report) => out(format_args!("run {run_id}:\n{}", report.to_table())),
                    Err(_) => out(format_args!(
                        "run {run_id}: received {} of {} sent",
                        r.summary.received,
                        record.sender_reports.iter().map(|s| s.summary.sent).sum::<u64>()
                    )),
                }
            }
        }
        // A receive server never floods (its executor refuses `flood`).
        ServerEvent::FloodStarted { .. } | ServerEvent::FloodFinished { .. } => {}
    }
}

/// Runs the server until SIGINT/SIGTERM.
pub fn execute(args: ServeArgs) -> Result<(), CliError> {
    let cfg = server_config(&args)?;
    let exec = EngineExecutor::new(ExecutorConfig {
        cpus: args.cpus.as_ref().map(|c| c.0.clone()),
        rcvbuf: args.rcvbuf,
        batch: args.batch,
        timestamps: args.timestamps,
        // Checked by `server_config` above.
        measure: Measure { flow_budget: args.flow_budget as usize, ..Measure::default() },
        ..ExecutorConfig::default()
    });
    let listener = TcpListener::bind(args.control)
        .map_err(|e| CliError::runtime(format!("cannot listen on {}: {e}", args.control)))?;
    let addr =
        listener.local_addr().map_err(|e| CliError::runtime(format!("control socket: {e}")))?;
    if !addr.ip().is_loopback() && cfg.token.is_none() {
        eprintln!(
            "udprx serve: warning: listening on {addr} without --token; anyone who can reach it \
             can start receive runs (use --token and --allow)"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::runtime(format!("cannot install signal handler: {e}")))?;
    }
    let server = udpctl::spawn(listener, cfg, exec)
        .map_err(|e| CliError::runtime(format!("cannot start the server: {e}")))?;
    // The first line names the address (tests and scripts read it when --control used port 0).
    out(format_args!("udprx serve: listening on {addr}"));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = server.stats();
    server.stop();
    eprintln!(
        "udprx serve: stopped ({} runs completed, {} failed, {} connections rejected, {} refused, \
         {} failed tokens, {} throttled, {} rejections not logged)",
        stats.runs_completed,
        stats.runs_failed,
        stats.rejected,
        stats.refused,
        stats.auth_failures,
        stats.throttled,
        stats.log_suppressed
    );
    Ok(())
}
