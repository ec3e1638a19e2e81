//! `udpflood agent`: a sender agent. It listens on a control port (the same `udpctl` server as
//! `udprx serve`: framing, token, allow-list, per-source caps, escaping) and runs floods that an
//! authenticated controller asks for — to the controller's own address, or to a target inside
//! `--allow-target` — one at a time, each bounded by `--max-rate` and `--max-duration`, each
//! stopped within a second when the controller's connection drops.
//!
//! This module is the glue: [`FloodAgent`] implements [`udpctl::RunExecutor`] over the
//! `udpflood` library (which knows nothing of the control channel).

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use udpctl::{
    AllowList, ExecError, FloodLimits, FloodRequest, FloodResult, IpNet, RunExecutor, RunHandle,
    RunRequest, ServerConfig, ServerEvent,
};
use udpflood::Flood;
use udpflood::units::{parse_duration, parse_rate};

/// `udpflood agent`: run floods that a controller (`udprx bench --sender`) asks for.
#[derive(Debug, Parser)]
#[command(name = "udpflood agent", version)]
pub struct AgentArgs {
    /// TCP control address to listen on (port 0 picks a free one; the first output line names it).
    #[arg(long, value_name = "ADDR:PORT")]
    pub control: SocketAddr,
    /// File whose first line is the shared secret every controller must give.
    #[arg(long, value_name = "FILE")]
    pub token_file: PathBuf,
    /// Source address or CIDR prefix allowed to control the agent (repeatable; default: any).
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_net)]
    pub allow: Vec<IpNet>,
    /// Receivers the agent may flood besides the controller's own address (repeatable;
    /// default: only the controller's address).
    #[arg(long = "allow-target", value_name = "CIDR", value_parser = parse_net)]
    pub allow_target: Vec<IpNet>,
    /// Highest rate a request may ask for, datagrams/s (k/M/G suffixes).
    #[arg(long, value_name = "PPS", value_parser = rate, default_value = "2M")]
    pub max_rate: u64,
    /// Longest flood a request may ask for.
    #[arg(long, value_name = "TIME", value_parser = duration, default_value = "120s")]
    pub max_duration: Duration,
    /// Most sender threads a request may ask for.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_threads: u32,
    /// Concurrent control connections; more are refused at once.
    #[arg(long, default_value_t = 16)]
    pub max_connections: usize,
    /// Concurrent control connections from one source address.
    #[arg(long, default_value_t = 4)]
    pub max_connections_per_source: usize,
}

fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse().map_err(|e: udpctl::auth::IpNetError| e.to_string())
}
fn rate(s: &str) -> Result<u64, String> {
    match parse_rate(s) {
        Ok(Some(r)) if r > 0 => Ok(r),
        Ok(_) => Err("must be above 0".into()),
        Err(e) => Err(e.to_string()),
    }
}
fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Reads the token: the file's first line, trimmed, not empty.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--token-file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(format!("--token-file {}: empty", path.display()));
    }
    Ok(token)
}

/// The server configuration these arguments describe.
pub fn agent_config(args: &AgentArgs) -> Result<ServerConfig, String> {
    if args.max_connections == 0 || args.max_connections_per_source == 0 {
        return Err("--max-connections and --max-connections-per-source must be at least 1".into());
    }
    if args.max_threads == 0 {
        return Err("--max-threads must be at least 1".into());
    }
    let max_duration_ms = args.max_duration.as_millis().min(u128::from(u64::MAX)) as u64;
    let limits = FloodLimits {
        max_rate_pps: args.max_rate,
        max_duration_ms,
        max_threads: args.max_threads,
        allow_target: args.allow_target.clone(),
        ..FloodLimits::default()
    };
    if limits.max_duration_ms < limits.min_duration_ms {
        return Err(format!("--max-duration must be at least {} ms", limits.min_duration_ms));
    }
    Ok(ServerConfig {
        token: Some(read_token(&args.token_file)?),
        allow: AllowList::new(args.allow.clone()),
        flood_limits: limits,
        max_connections: args.max_connections,
        max_per_source: args.max_connections_per_source,
        observer: Some(Arc::new(log_event)),
        ..ServerConfig::default()
    })
}

/// The flood executor: runs each validated request with the `udpflood` library.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodAgent;

/// How often the flood checks the server's stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

impl RunExecutor for FloodAgent {
    fn methods(&self) -> Vec<String> {
        Vec::new()
    }

    fn prepare(&self, _: &RunRequest, _: IpAddr) -> Result<Box<dyn RunHandle>, ExecError> {
        Err(ExecError("a sender agent does not receive".into()))
    }

    fn floods(&self) -> bool {
        true
    }

    fn flood(
        &self,
        req: &FloodRequest,
        target: SocketAddr,
        stop: &AtomicBool,
    ) -> Result<FloodResult, ExecError> {
        let cpus = req.cpus.as_ref().map(|c| c.iter().map(|&c| c as usize).collect());
        let flood = Flood::builder(target)
            .payload_size(req.payload_size as usize)
            .rate(Some(req.rate_pps))
            .duration(Some(Duration::from_millis(req.duration_ms)))
            .threads(req.threads as usize)
            .flows(req.flows as usize)
            .cpus(cpus)
            .gso(req.gso)
            .clock(req.clock)
            .interval(None)
            .build()
            .map_err(|e| ExecError(e.to_string()))?;
        let flood_stop = flood.stop_handle();
        let done = AtomicBool::new(false);
        let cpu0 = udpprobe::process_cpu_ns();
        let report = std::thread::scope(|s| {
            // The server's flag (controller gone or abort) stops the flood's own.
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if stop.load(Ordering::SeqCst) {
                        flood_stop.stop();
                        return;
                    }
                    std::thread::sleep(STOP_POLL);
                }
            });
            let r = flood.run();
            done.store(true, Ordering::SeqCst);
            r
        })
        .map_err(|e| ExecError(e.to_string()))?;
        let cpu_ns = udpprobe::process_cpu_ns().saturating_sub(cpu0);
        let per = |ns: f64| if report.packets > 0 { ns / report.packets as f64 } else { 0.0 };
        Ok(FloodResult {
            target,
            sent: report.packets,
            bytes: report.bytes,
            send_errors: report.errors.total(),
            elapsed_ns: (report.duration_s * 1e9) as u64,
            flows: report.flows.len() as u32,
            process_cpu_ns_per_datagram: per(cpu_ns as f64),
            thread_cpu_ns_per_datagram: report.cpu_ns_per_packet,
            stopped_early: stop.load(Ordering::SeqCst) || report.interrupted,
            gso_active: report.gso_active,
            clock: report.clock,
            detail: serde_json::to_value(&report).unwrap_or_default(),
        })
    }
}

fn out(text: std::fmt::Arguments<'_>) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_fmt(text).and_then(|()| o.write_all(b"\n")).and_then(|()| o.flush());
}

fn log_event(ev: &ServerEvent) {
    match ev {
        ServerEvent::Rejected { peer, error, suppressed } => {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(
                e,
                "{}",
                crate::rx::serve::rejection_line(*peer, error, *suppressed).replacen(
                    "udprx serve",
                    "udpflood agent",
                    1
                )
            );
        }
        ServerEvent::FloodStarted { peer, target, rate_pps, duration_ms } => out(format_args!(
            "flood for {peer}: {rate_pps} datagrams/s to {target} for {duration_ms} ms"
        )),
        ServerEvent::FloodFinished { peer, sent, send_errors, stopped_early } => {
            let early = if *stopped_early { " (stopped early)" } else { "" };
            out(format_args!("flood for {peer}: sent {sent}, {send_errors} send errors{early}"))
        }
        ServerEvent::RunStarted { .. } | ServerEvent::RunFinished(_) => {}
    }
}

/// clap's message on one line: the first line, and when it ends with a colon (a list of
/// missing arguments follows), the list joined on it.
fn clap_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments").trim_start_matches("error:").trim();
    if !first.ends_with(':') {
        return first.to_string();
    }
    let items: Vec<&str> = lines.take_while(|l| l.starts_with('-') || l.starts_with('<')).collect();
    format!("{first} {}", items.join(", "))
}

/// Runs `udpflood agent` with `args` (the words after `agent`) until SIGINT/SIGTERM.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = match AgentArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return super::usage_error(&clap_line(&e)),
    };
    let cfg = match agent_config(&args) {
        Ok(c) => c,
        Err(e) => return super::usage_error(&e),
    };
    let listener = match TcpListener::bind(args.control) {
        Ok(l) => l,
        Err(e) => return super::runtime_error(&format!("cannot listen on {}: {e}", args.control)),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return super::runtime_error(&format!("control socket: {e}")),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            return super::runtime_error(&format!("cannot install signal handler: {e}"));
        }
    }
    let server = match udpctl::spawn(listener, cfg, FloodAgent) {
        Ok(s) => s,
        Err(e) => return super::runtime_error(&format!("cannot start the agent: {e}")),
    };
    // The first line names the address (tests and scripts read it when --control used port 0).
    out(format_args!("udpflood agent: listening on {addr}"));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = server.stats();
    server.stop();
    eprintln!(
        "udpflood agent: stopped ({} connections rejected, {} refused, {} failed tokens, {} \
         throttled)",
        stats.rejected, stats.refused, stats.auth_failures, stats.throttled
    );
    ExitCode::SUCCESS
}
