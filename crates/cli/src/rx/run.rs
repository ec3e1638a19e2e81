//! `udprx run`: receive on one address with the chosen method and fan-out, print a live line
//! per interval and a final summary.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, ValueEnum};
use std::path::PathBuf;
use udprx::{Method, Receiver, SetupInfo, Steer, StopHandle};
use udprx_bench::profile::{self, PerfSession, Profiler};
use udprx_stats::measure::{self, Measure};
use udprx_stats::stats::flow::{DEFAULT_FLOW_BUDGET, check_flow_budget};
use udprx_stats::stats::{IntervalLine, MAX_INTERVAL, MIN_INTERVAL, StatsMode};

use super::{CliError, parse_bytes, parse_duration};
use crate::args::{CpuList, parse_cpu_list};

/// How much the final report holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsLevel {
    /// Everything the handlers measured.
    Full,
    /// Totals only.
    Minimal,
}

/// Options of `udprx run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address and port to listen on (other than loopback only when asked for explicitly).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub bind: SocketAddr,
    /// Receive method: recvfrom, recvmmsg, uring, uring-recv (io_uring recv: no source address,
    /// no control messages), epoll (epoll_wait, then recvmmsg MSG_DONTWAIT batches: an event
    /// loop's shape, where --busy-poll also sets epoll busy polling), auto, xdp (AF_XDP) or xdp-drop (XDP count and drop: the
    /// driver-level ceiling). auto is recvmmsg unless io_uring is shown cheaper (it prints
    /// why) and never picks an XDP path.
    #[arg(long, default_value = "auto")]
    pub method: Method,
    /// xdp, xdp-drop: the interface to attach to (default: the one holding the --bind address).
    #[arg(long, value_name = "NAME")]
    pub iface: Option<String>,
    /// xdp, xdp-drop: detach an XDP program someone else attached to the interface instead of
    /// refusing.
    #[arg(long)]
    pub force: bool,
    /// Number of SO_REUSEPORT sockets (one pinned thread each).
    #[arg(long, default_value_t = 1)]
    pub sockets: usize,
    /// Steering between sockets: hash (kernel 4-tuple hash) or cpu (CBPF, socket of the softirq CPU).
    #[arg(long, default_value = "hash")]
    pub steer: Steer,
    /// Join the port's SO_REUSEPORT group even if another socket (another udprx) already holds
    /// the port: the datagrams are then split between them. Without it, such a port is refused.
    #[arg(long)]
    pub share_port: bool,
    /// CPUs for the socket threads (`0,1`, `0-3`, `none`); default socket i on core i mod ncores.
    #[arg(long, value_parser = parse_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Datagrams per recvmmsg call.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// recvmmsg: block until the batch is full instead of MSG_WAITFORONE.
    #[arg(long)]
    pub full_batch: bool,
    /// Buffers in the io_uring provided-buffer ring (power of two; default 4096, 256 with --gro).
    #[arg(long)]
    pub ring_buffers: Option<usize>,
    /// Payload bytes per receive buffer, e.g. 2048 or 4K (raised to 64 KiB with --gro).
    #[arg(long, default_value = "2048", value_parser = parse_bytes, value_name = "BYTES")]
    pub buffer_size: usize,
    /// Enable UDP_GRO (coalesced buffers, counted per segment).
    #[arg(long)]
    pub gro: bool,
    /// SO_BUSY_POLL in microseconds (uring, uring-recv: also io_uring NAPI busy polling;
    /// epoll: also the epoll instance's busy polling, EPIOCSPARAMS, Linux 6.9).
    #[arg(long, value_name = "USEC")]
    pub busy_poll: Option<u32>,
    /// SO_PREFER_BUSY_POLL on the sockets (Linux 5.11, root), and prefer_busy_poll in the epoll
    /// instance's parameters with --method epoll --busy-poll USEC.
    #[arg(long)]
    pub prefer_busy_poll: bool,
    /// Packets per busy-poll round: SO_BUSY_POLL_BUDGET (Linux 5.11; raising it needs root),
    /// and the epoll instance's budget with --method epoll --busy-poll USEC (above 64: root).
    #[arg(long, value_name = "PACKETS")]
    pub busy_poll_budget: Option<u16>,
    /// Receive buffer size (SO_RCVBUFFORCE when permitted, else SO_RCVBUF), e.g. 4M.
    #[arg(long, value_parser = parse_bytes, value_name = "BYTES")]
    pub rcvbuf: Option<usize>,
    /// Kernel receive timestamps (SO_TIMESTAMPNS).
    #[arg(long)]
    pub timestamps: bool,
    /// Busy-loop on non-blocking receives instead of sleeping in the kernel.
    #[arg(long)]
    pub spin: bool,
    /// Read each datagram's source address (flows are then also keyed by address). By default
    /// the receive calls are a bare loop's: no address, flows kept apart by the probe header's
    /// sender id and flow id.
    #[arg(long)]
    pub sources: bool,
    /// Read the socket's drop counter with every datagram (SO_RXQ_OVFL control message)
    /// instead of once per idle interval (SO_MEMINFO; the total stays exact either way).
    #[arg(long)]
    pub drops_per_datagram: bool,
    /// Accepted for old scripts: what --lean did is now the default.
    #[arg(long, hide = true)]
    pub lean: bool,
    /// Stop after this long (e.g. 10s); default: until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Live line and rate-series interval: 0 (no live lines; 1 s series) or 10ms..=1h.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Write the final report as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<String>,
    /// Report detail.
    #[arg(long, value_enum, default_value = "full")]
    pub stats: StatsLevel,
    /// Most flows (source address, flow id) the run tracks over all its sockets, 1..=1048576
    /// (about 600 bytes each); datagrams of further flows are counted as untracked.
    #[arg(long, value_name = "FLOWS", default_value_t = DEFAULT_FLOW_BUDGET as u64)]
    pub flow_budget: u64,
    /// Sample the receive cores with `perf record -e cpu-clock` over the run and print where
    /// their time went (needs perf and root; without them the run goes on and says why).
    #[arg(long)]
    pub profile: bool,
    /// Flame graph of `--profile` (default: profile-<method>.svg in the current directory).
    #[arg(long, value_name = "FILE", requires = "profile")]
    pub profile_svg: Option<PathBuf>,
    /// Sampling frequency of `--profile`, Hz (10..=20000).
    #[arg(long, value_name = "HZ", default_value_t = profile::DEFAULT_FREQ, requires = "profile")]
    pub profile_freq: u32,
}

/// Refuses an `--interval` the stats layer cannot keep up with (or that says nothing).
fn check_interval(d: Duration) -> Result<(), CliError> {
    if d.is_zero() || (MIN_INTERVAL..=MAX_INTERVAL).contains(&d) {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "--interval must be 0 (no live lines) or between {MIN_INTERVAL:?} and {MAX_INTERVAL:?}, \
         got {d:?}"
    )))
}

/// Where `--json FILE` goes, opened before the run so an unwritable path fails at once.
struct JsonFile {
    file: std::fs::File,
    path: String,
    /// The file did not exist before: removed again if the run fails.
    created: bool,
}

impl JsonFile {
    /// Opens `path` for writing without truncating it yet (a failed run leaves an existing
    /// report as it was).
    fn open(path: &str) -> Result<JsonFile, CliError> {
        let created = std::fs::symlink_metadata(path).is_err();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| {
                let e = e.to_string();
                let reason = e.split(" (os error").next().unwrap_or(&e);
                CliError::usage(format!("--json {path}: cannot write: {reason}"))
            })?;
        Ok(JsonFile { file, path: path.to_string(), created })
    }

    /// Replaces the file's contents with `text`.
    fn write(mut self, text: &str) -> Result<(), CliError> {
        let err = |e: std::io::Error| CliError::runtime(format!("cannot write {}: {e}", self.path));
        // Only a regular file can be (and needs to be) truncated; /dev/null or a FIFO not.
        if self.file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            self.file.set_len(0).map_err(err)?;
        }
        self.file.write_all(text.as_bytes()).map_err(err)?;
        self.file.flush().map_err(err)?;
        self.created = false;
        Ok(())
    }
}

impl Drop for JsonFile {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Runs the receiver until duration, Ctrl-C or SIGTERM, then prints the report.
pub fn execute(a: RunArgs) -> Result<(), CliError> {
    check_interval(a.interval)?;
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(CliError::usage(
            "--duration must be above 0 (leave it out to run until Ctrl-C)",
        ));
    }
    if !matches!(a.method, Method::Xdp | Method::XdpDrop) {
        for (set, flag) in [(a.iface.is_some(), "--iface"), (a.force, "--force")] {
            if set {
                return Err(CliError::usage(format!(
                    "{flag} applies to --method xdp and xdp-drop only (the socket methods receive \
                     on every interface holding --bind)"
                )));
            }
        }
    }
    let ip = a.bind.ip();
    if ip.is_multicast() || matches!(ip, std::net::IpAddr::V4(v4) if v4.is_broadcast()) {
        return Err(CliError::usage(format!(
            "--bind {ip}: a multicast or broadcast address receives nothing without a group \
             join, which udprx does not do; bind a unicast address (or 0.0.0.0)"
        )));
    }
    let flow_budget = check_flow_budget("--flow-budget", a.flow_budget).map_err(CliError::usage)?;
    if !profile::FREQ_RANGE.contains(&a.profile_freq) {
        return Err(CliError::usage(format!(
            "--profile-freq must be between {} and {} Hz, got {}",
            profile::FREQ_RANGE.start(),
            profile::FREQ_RANGE.end(),
            a.profile_freq
        )));
    }
    let json_file = match a.json.as_deref() {
        Some(path) if path != "-" => Some(JsonFile::open(path)?),
        _ => None,
    };
    if a.lean {
        eprintln!(
            "udprx: --lean is the default now (no source address, drops read per interval); \
             --sources and --drops-per-datagram read them per datagram"
        );
    }
    let stop = StopHandle::new();
    let mut b = Receiver::builder(a.bind)
        .method(a.method)
        .fanout(udprx::Fanout::new(a.sockets, a.steer))
        .share_port(a.share_port)
        .batch(a.batch)
        .full_batch(a.full_batch)
        .buffer_size(a.buffer_size)
        .gro(a.gro)
        .busy_poll(a.busy_poll)
        .prefer_busy_poll(a.prefer_busy_poll)
        .rcvbuf(a.rcvbuf)
        .timestamps(a.timestamps)
        .spin(a.spin)
        .source_addresses(a.sources)
        .drops_per_interval(!a.drops_per_datagram && !a.method.is_xdp())
        .duration(a.duration)
        .iface(a.iface.clone())
        .force(a.force)
        .stop_handle(stop.clone());
    if let Some(c) = a.cpus.clone() {
        b = b.cpus(c.0);
    }
    if let Some(n) = a.ring_buffers {
        b = b.ring_buffers(n);
    }
    if let Some(n) = a.busy_poll_budget {
        b = b.busy_poll_budget(n);
    }
    let rx = b.build()?;
    // With JSON on stdout, everything for people goes to stderr.
    let json_stdout = a.json.as_deref() == Some("-");
    let say = |line: &str| {
        if json_stdout { eprintln!("{line}") } else { println!("{line}") }
    };
    say(&setup_line(rx.setup()));
    if let Some(r) = &rx.setup().fallback_reason {
        say(&format!("udprx: auto chose {} because: {r}", rx.setup().method));
    }

    // The profiler samples the receive threads' cores (every CPU when a thread is unpinned)
    // from here to the end of the receive loop.
    let mut perf: Option<PerfSession> = None;
    if a.profile {
        match start_profile(rx.setup(), a.profile_freq) {
            Ok(p) => perf = Some(p),
            Err(why) => say(&format!("udprx: profile: not sampled: {why}")),
        }
    }

    let signal = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, signal.clone())
            .map_err(|e| CliError::runtime(format!("cannot install signal handler: {e}")))?;
    }
    let mode = match a.stats {
        StatsLevel::Full => StatsMode::Full,
        StatsLevel::Minimal => StatsMode::Minimal,
    };
    let interval = if a.interval.is_zero() { Duration::from_secs(1) } else { a.interval };
    let measure = Measure { mode, interval, flow_budget };
    let done = AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        // Ctrl-C / SIGTERM stop the run; the report below is still printed.
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if signal.load(Ordering::Relaxed) {
                    stop.stop();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut header = false;
        let mut print_line = |l: &IntervalLine| {
            if !header {
                say(&IntervalLine::header());
                header = true;
            }
            say(&l.to_string());
        };
        let live: Option<&mut (dyn FnMut(&IntervalLine) + Send)> =
            if a.interval.is_zero() { None } else { Some(&mut print_line) };
        let r = measure::run(rx, &measure, live);
        done.store(true, Ordering::Relaxed);
        r
    })?;
    let mut text = report.to_table();
    if let Some(p) = perf {
        let svg = a
            .profile_svg
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("profile-{}.svg", report_method(&report))));
        text.push_str(&finish_profile(p, report.summary().received, &svg));
    }
    if json_stdout {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if let Some(f) = json_file {
        f.write(&(report.to_json() + "\n"))?;
    } else if json_stdout {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", report.to_json())
            .map_err(|e| CliError::runtime(format!("writing JSON: {e}")))?;
    }
    Ok(())
}

/// Starts `perf record` on the receive threads' cores and enables it.
fn start_profile(setup: &SetupInfo, freq: u32) -> Result<PerfSession, String> {
    let profiler = Profiler::new(freq).map_err(|u| u.0)?;
    let mut cpus: Vec<usize> = setup.cpus.iter().flatten().copied().collect();
    if cpus.len() < setup.cpus.len() {
        cpus.clear(); // an unpinned thread may run anywhere: sample every CPU
    }
    cpus.sort_unstable();
    cpus.dedup();
    let mut session = profiler.start(&cpus)?;
    session.enable()?;
    for n in profiler.notes {
        eprintln!("udprx: profile: {n}");
    }
    Ok(session)
}

/// Stops the profiler and renders its table (or the one line saying why there is none).
fn finish_profile(session: PerfSession, received: u64, svg: &std::path::Path) -> String {
    let cpus = session.cpus().to_vec();
    let freq = session.freq();
    let window = session.window().as_secs_f64();
    let collapsed = match session.finish() {
        Ok(c) => c,
        Err(why) => return format!("\nudprx: profile: failed: {why}\n"),
    };
    let table = profile::ProfileTable::from_collapsed(
        &collapsed,
        std::process::id(),
        &cpus,
        freq,
        window,
        received,
    );
    let mut out = format!("\n{}\n", table.headline());
    out.push_str(&table.render(false));
    for n in &table.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    if !table.other_top.is_empty() {
        let list: Vec<String> = table
            .other_top
            .iter()
            .map(|(f, ns)| format!("{f} {:.1}%", *ns as f64 * 100.0 / table.total_ns.max(1) as f64))
            .collect();
        out.push_str(&format!("other kernel, largest: {}\n", list.join(", ")));
    }
    let title = format!("udprx: {}", table.headline().trim_start_matches("profile: "));
    match profile::flame_graph(&collapsed, &title, svg) {
        Ok(()) => out.push_str(&format!("flame graph: {}\n", svg.display())),
        Err(e) => out.push_str(&format!("udprx: profile: no flame graph: {e}\n")),
    }
    out
}

/// The method the report ran (for the default flame graph name).
fn report_method(r: &udprx_stats::report::Report) -> String {
    r.setup
        .get("method")
        .and_then(|m| m.as_str())
        .unwrap_or("run")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn setup_line(s: &SetupInfo) -> String {
    let mut line = format!(
        "udprx: listening on {} method={} sockets={} steer={} cpus={} rcvbuf={:?}",
        s.local_addr,
        s.method,
        s.sockets,
        s.steer,
        s.cpus
            .iter()
            .map(|c| c.map_or("-".to_string(), |c| c.to_string()))
            .collect::<Vec<_>>()
            .join(","),
        s.rcvbuf
    );
    if let Some(m) = &s.uring_mode {
        line.push_str(&format!(" uring={m}"));
    }
    if s.gro {
        line.push_str(" gro");
    }
    if s.spin {
        line.push_str(" spin");
    }
    if let Some(us) = s.busy_poll {
        line.push_str(&format!(" busy_poll={us}us"));
    }
    if let Some(napi) = &s.uring_napi {
        line.push_str(&format!(" napi=\"{napi}\""));
    }
    if s.prefer_busy_poll {
        line.push_str(" prefer_busy_poll");
    }
    if let Some(n) = s.busy_poll_budget {
        line.push_str(&format!(" busy_poll_budget={n}"));
    }
    if let Some(e) = &s.epoll_busy_poll {
        line.push_str(&format!(" epoll_busy_poll=\"{e}\""));
    }
    if s.full_batch {
        line.push_str(" full_batch");
    }
    if s.timestamps {
        line.push_str(" timestamps");
    }
    if !s.source_addresses && !s.method.is_xdp() {
        line.push_str(" sources=off");
    }
    if let Some(x) = &s.xdp {
        line.push_str(&format!(
            " iface={} xdp={} queues={:?} sockets={} need_wakeup={}",
            x.iface, x.attach_mode, x.queues, x.socket_mode, x.need_wakeup
        ));
        if let Some(r) = &x.replaced {
            line.push_str(&format!(" ({r})"));
        }
    }
    line
}
