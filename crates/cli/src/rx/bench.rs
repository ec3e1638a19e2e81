//! `udprx bench`: every receive path's offered-load curve side by side, with NDR/PDR, verdicts
//! with confidence intervals, kernel-setting comparisons and an Answer, written as a report
//! with charts; `udprx compare`: two saved runs side by side. Argument parsing and printing
//! only; the work is in [`udprx_bench`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use udprx_bench::plan::Size;
use udprx_bench::run::{self, Options};
use udprx_bench::topology::{self, Kind};

use super::CliError;
use crate::args::{CpuList, parse_pinned_cpu_list};

/// Measure every receive path's offered-load curve under the classic and the GSO flood, rank
/// the paths with confidence intervals, and write a report (terminal summary, report.json,
/// report.md with an Answer section, SVG charts including the receive-livelock plot).
///
/// As root the default topology is two network namespaces joined by a veth pair with RPS on
/// the receiver's core (receiver-bound); without root it is loopback (sender-bound).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// veth (two namespaces, needs root) or loopback. Default: veth as root, else loopback.
    #[arg(long, value_name = "veth|loopback")]
    pub topology: Option<String>,
    /// Put the receive softirq on the receiver's cores (RPS on the veth; default on with veth).
    #[arg(long, overrides_with = "no_rps")]
    pub rps: bool,
    /// Leave RPS off: the receive softirq runs on the sender's core.
    #[arg(long)]
    pub no_rps: bool,
    /// XDP rows: leave the veth's NAPI (where XDP runs) in the sender's softirq even with RPS,
    /// instead of a threaded NAPI pinned to the receiver's core.
    #[arg(long)]
    pub xdp_on_sender: bool,
    /// Only these methods (recvfrom, recvmmsg, uring, uring-recv, epoll, xdp, xdp-drop),
    /// comma-separated; epoll (epoll_wait + recvmmsg MSG_DONTWAIT, an event loop's shape) runs
    /// only when named; `recvfrom+sources`, `recvmmsg+sources`, `uring+sources`,
    /// `epoll+sources` add rows of that
    /// method that read the source address and the drop counter with every datagram (by default
    /// the receive calls are a bare loop's).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub methods: Vec<String>,
    /// Only these fan-outs (one, hash, cpu), comma-separated; `sweep` also measures the fan-out
    /// rows at 1, 2, 4, … sockets (scaling efficiency; counts beyond the cores not measurable).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub fanout: Vec<String>,
    /// Only these scenarios (classic, gso), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub scenarios: Vec<String>,
    /// Also run +gro variants in the classic flood (the GSO flood always has them).
    #[arg(long)]
    pub gro: bool,
    /// Leave out the busy-spinning reference row.
    #[arg(long)]
    pub no_spin: bool,
    /// Every combination, finer grid, longer budget.
    #[arg(long, conflicts_with = "quick")]
    pub full: bool,
    /// A short run in about a minute (classic flood, 0.5 s trials, shorter grid).
    #[arg(long)]
    pub quick: bool,
    /// Least repetitions of each headline point (peak, top, common rate); default 3.
    #[arg(long, alias = "min-reps")]
    pub reps: Option<usize>,
    /// Most repetitions of each headline point while its interval is wider than the target.
    #[arg(long)]
    pub max_reps: Option<usize>,
    /// NDR/PDR searches per path; their lower bounds give the NDR's 95% interval (default 3).
    #[arg(long, value_name = "N")]
    pub search_reps: Option<usize>,
    /// Target half-width of the 95% intervals, as a fraction (default 0.05 = ±5%).
    #[arg(long, value_name = "FRACTION")]
    pub ci_target: Option<f64>,
    /// Time budget for the curves; extra repetitions stop when it is spent (default by size).
    #[arg(long, value_parser = super::parse_duration, value_name = "DURATION")]
    pub budget: Option<std::time::Duration>,
    /// Length of each trial: 1s, 500ms... (the search's confirmations last twice as long).
    #[arg(long, alias = "cell-secs", value_parser = super::parse_duration, value_name = "DURATION")]
    pub secs: Option<std::time::Duration>,
    /// Sockets in hash/cpu fan-out (default: number of cores).
    #[arg(long)]
    pub sockets: Option<usize>,
    /// Measure one offered rate instead of the curve: `max` (the unpaced flood) or a rate
    /// such as 200k.
    #[arg(long, value_parser = parse_rate_arg, value_name = "max|PPS")]
    pub rate: Option<RateArg>,
    /// Top of the curve's grid (default: the rate the unpaced sender reached).
    #[arg(long, value_parser = parse_pps, value_name = "PPS")]
    pub max_rate: Option<u64>,
    /// Latency percentiles of each path at this fraction of its NDR (e.g. 0.5).
    #[arg(long, value_name = "FRACTION")]
    pub latency_at: Option<f64>,
    /// A saved report.json to compare this run with (same verdicts and intervals).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// A sysctl to compare: key=v1,v2 (repeatable; settings are the cross product).
    #[arg(long = "sysctl", value_name = "KEY=V1,V2")]
    pub sysctl: Vec<String>,
    /// A NIC or interrupt setting of the receiving interface to compare: NAME=v1,v2
    /// (repeatable; e.g. gro=on,off, channels.combined=1,2, threaded=0,1; names in
    /// docs/bench.md). Needs --topology veth (the receiver's veth) or --sender (--iface).
    #[arg(long = "nic", value_name = "NAME=V1,V2")]
    pub nic: Vec<String>,
    /// A socket option of the receiving sockets to compare: busy_poll=0,50 (SO_BUSY_POLL µs;
    /// on the io_uring paths it also registers io_uring NAPI busy polling, on the epoll rows
    /// epoll busy polling, EPIOCSPARAMS, Linux 6.9), prefer_busy_poll=0,1 (SO_PREFER_BUSY_POLL;
    /// root), busy_poll_budget=8,64 (SO_BUSY_POLL_BUDGET packets; root) or rcvbuf=BYTES,...
    /// (repeatable; settings are the cross product).
    #[arg(long = "sockopt", value_name = "NAME=V1,V2")]
    pub sockopt: Vec<String>,
    /// A file of named kernel-setting profiles to compare (see profiles/tuning.conf);
    /// repeatable.
    #[arg(long = "settings", value_name = "FILE")]
    pub settings: Vec<PathBuf>,
    /// Sample each path's receive cores with `perf record -e cpu-clock` in one extra trial at
    /// the common paced rate: a share table per path and flame graphs. (`--profile FILE` is
    /// the older spelling of `--settings FILE` and still loads a settings file.)
    #[arg(long = "profile", value_name = "FILE", num_args = 0..=1, default_missing_value = "")]
    pub profile: Vec<String>,
    /// Add reference receivers as rows, where installed: iperf3, sockperf and the bare C loops
    /// c-recvmmsg and c-uring (udp_bare, built by scripts/setup.sh).
    #[arg(long)]
    pub peers: bool,
    /// Output directory (default bench-results/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Sender cores (default: the first usable core). With `--sender`: the CPUs on each
    /// agent's host its flood threads are pinned to, one thread per CPU (default: one unpinned
    /// thread); no local core is then kept for a sender.
    // A `CpuList`, not `Vec<usize>`: clap takes `Option<Vec<_>>` for a list of single values
    // and panicked on any value of a parser that returns a whole list.
    #[arg(long, value_parser = parse_pinned_cpu_list, value_name = "CPUS")]
    pub sender_cpus: Option<CpuList>,
    /// Receiver cores (default: the others).
    #[arg(long, value_parser = parse_pinned_cpu_list, value_name = "CPUS")]
    pub receiver_cpus: Option<CpuList>,
    /// Two hosts: a sender agent (`udpflood agent`) at HOST:PORT floods every trial; this
    /// host receives. Repeatable: several agents flood together, their counts merged.
    #[arg(long = "sender", value_name = "HOST:PORT", value_parser = parse_sender)]
    pub senders: Vec<std::net::SocketAddr>,
    /// The agents' token (first line of the file), with --sender.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Receive interface, with --sender (default: the one routing to the first agent).
    #[arg(long, value_name = "IFACE")]
    pub iface: Option<String>,
    /// Receive address, with --sender (default: this host's address on the route to the
    /// first agent).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::IpAddr>,
    /// With --sender: the hosts' clocks are synchronised (PTP), so latency is taken as
    /// measured; otherwise the agents' clock offset is estimated over the control channel.
    #[arg(long)]
    pub clocks_synced: bool,
    /// Only put back what a killed run left behind (global sysctls from the journal in
    /// /run/udprx-bench, namespaces), say what, and exit; every run does this first anyway.
    #[arg(long, exclusive = true)]
    pub restore: bool,
}

impl BenchArgs {
    /// The library's options.
    pub fn options(&self) -> Result<Options, CliError> {
        let topology = self
            .topology
            .as_deref()
            .map(Kind::parse)
            .transpose()
            .map_err(|e| CliError::usage(e.to_string()))?;
        if self.senders.is_empty() {
            let given = [
                ("--token-file", self.token_file.is_some()),
                ("--iface", self.iface.is_some()),
                ("--bind", self.bind.is_some()),
                ("--clocks-synced", self.clocks_synced),
            ];
            if let Some((name, _)) = given.iter().find(|(_, on)| *on) {
                return Err(CliError::usage(format!("{name} goes with --sender HOST:PORT")));
            }
        }
        let size = if self.full {
            Some(Size::Full)
        } else if self.quick {
            Some(Size::Quick)
        } else {
            None
        };
        Ok(Options {
            topology,
            rps: if self.no_rps {
                Some(false)
            } else if self.rps {
                Some(true)
            } else {
                None
            },
            xdp_on_sender: self.xdp_on_sender,
            size,
            max_reps: self.max_reps,
            search_reps: self.search_reps,
            ci_target: self.ci_target,
            budget: self.budget.map(|d| d.as_secs_f64()),
            baseline: self.baseline.clone(),
            methods: self.methods.clone(),
            fanouts: self.fanout.clone(),
            scenarios: self.scenarios.clone(),
            gro: self.gro,
            no_spin: self.no_spin,
            reps: self.reps,
            secs: self.secs.map(|d| d.as_secs_f64()),
            sockets: self.sockets,
            rate: self.rate.map(|r| r.0),
            max_rate: self.max_rate,
            latency_at: self.latency_at,
            sysctls: self.sysctl.clone(),
            nic: self.nic.clone(),
            sockopts: self.sockopt.clone(),
            profiles: self
                .settings
                .iter()
                .cloned()
                .chain(self.profile.iter().filter(|p| !p.is_empty()).map(PathBuf::from))
                .collect(),
            cpu_profile: self.profile.iter().any(|p| p.is_empty()),
            peers: self.peers,
            out: self.out.clone(),
            sender_cpus: self.sender_cpus.clone().map(|c| c.0),
            receiver_cpus: self.receiver_cpus.clone().map(|c| c.0),
            remote: (!self.senders.is_empty()).then(|| udprx_bench::lab::remote::RemoteOptions {
                senders: self.senders.clone(),
                token_file: self.token_file.clone(),
                iface: self.iface.clone(),
                bind: self.bind,
                clocks_synced: self.clocks_synced,
                agent_cpus: self.sender_cpus.clone().map(|c| c.0),
            }),
        })
    }
}

/// `--sender HOST:PORT`: an address, or a name resolved once (its first address).
fn parse_sender(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?}: expected HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("{s:?}: the name has no address"))
}

/// `--rate`: `None` inside is the unpaced flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateArg(pub Option<u64>);

/// `max` (the unpaced flood) or a positive rate.
fn parse_rate_arg(s: &str) -> Result<RateArg, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(RateArg(None));
    }
    parse_pps(s).map(|r| RateArg(Some(r)))
}

/// A positive rate: 200000, 200k, 1.5M.
fn parse_pps(s: &str) -> Result<u64, String> {
    match udpflood::units::parse_rate(s) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err("the rate must be positive (use `max` for the unpaced flood)".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Re-derive a saved run's figures, verdicts and Answer with this version's rules and write
/// its report again (report.json, report.md, charts) into another directory.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The saved run (its directory or its report.json).
    pub run: PathBuf,
    /// Where to write (default: `<run>/rendered`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `udprx render`.
pub fn render(args: RenderArgs) -> Result<(), CliError> {
    use udprx_bench::{answer, compare, report};
    let (dir, file) = if args.run.is_dir() {
        (args.run.clone(), args.run.join("report.json"))
    } else {
        (args.run.parent().map(PathBuf::from).unwrap_or_default(), args.run.clone())
    };
    let mut r = compare::load(&file).map_err(lib_error)?;
    answer::analyze(&mut r);
    let out = args.out.unwrap_or_else(|| dir.join("rendered"));
    report::prepare_out_dir(&out).map_err(lib_error)?;
    let files = udprx_bench::write::write(&r, &out).map_err(lib_error)?;
    print!("{}", udprx_bench::markdown::terminal(&r));
    println!();
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// Compare two saved `udprx bench` runs (report.json): kernels, boot parameters or hosts that
/// cannot be switched inside one run. Run B is compared against run A with the same verdicts
/// and intervals as paths within a run; environment differences are listed.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline run's report.json (or its directory).
    pub a: PathBuf,
    /// The run compared against it.
    pub b: PathBuf,
    /// Also write the comparison as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Runs `udprx compare`.
pub fn compare(args: CompareArgs) -> Result<(), CliError> {
    use udprx_bench::compare;
    let resolve = |p: &PathBuf| if p.is_dir() { p.join("report.json") } else { p.clone() };
    let (pa, pb) = (resolve(&args.a), resolve(&args.b));
    let a = compare::load(&pa).map_err(lib_error)?;
    let b = compare::load(&pb).map_err(lib_error)?;
    // File names are printed too: escaped like the reports' own strings.
    let name = |p: &PathBuf| udpctl::text::escape(&p.display().to_string());
    let c = compare::compare_reports(&a, &b, &name(&pa), &name(&pb));
    match args.json.as_deref() {
        Some(p) if p == std::path::Path::new("-") => {
            println!(
                "{}",
                serde_json::to_string_pretty(&c).map_err(|e| CliError::runtime(e.to_string()))?
            );
        }
        Some(p) => {
            let text =
                serde_json::to_string_pretty(&c).map_err(|e| CliError::runtime(e.to_string()))?;
            std::fs::write(p, text)
                .map_err(|e| CliError::runtime(format!("writing {}: {e}", p.display())))?;
            print!("{}", udprx_bench::markdown::comparison(&c, false));
        }
        None => print!("{}", udprx_bench::markdown::comparison(&c, false)),
    }
    Ok(())
}

fn lib_error(e: udprx_bench::Error) -> CliError {
    if e.is_bad_input() { CliError::usage(e.to_string()) } else { CliError::runtime(e.to_string()) }
}

/// `udprx bench --restore`: restores what killed runs left (see [`udprx_bench::journal`]).
fn restore() -> Result<(), CliError> {
    let r = udprx_bench::journal::recover(topology::is_root());
    if r.is_empty() {
        eprintln!("udprx bench: nothing to restore");
    }
    for line in r.lines() {
        eprintln!("udprx bench: {line}");
    }
    if r.failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::runtime(format!(
            "{} item(s) left behind by killed runs could not be restored (see above)",
            r.failures.len()
        )))
    }
}

/// Runs `udprx bench`.
pub fn execute(args: BenchArgs) -> Result<(), CliError> {
    if args.restore {
        return restore();
    }
    let opts = args.options()?;
    let prepared = run::prepare(&opts, topology::is_root()).map_err(lib_error)?;
    // Ctrl-C and SIGTERM set the flag: the run stops between cells (and the flood at once),
    // undoes the topology and the settings, and still writes the report.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| CliError::runtime(format!("installing the signal handler: {e}")))?;
    }
    let outcome =
        run::execute(prepared, &stop, &mut |line| eprintln!("{line}")).map_err(lib_error)?;
    print!("{}", udprx_bench::markdown::terminal(&outcome.report));
    println!();
    for f in &outcome.files {
        println!("wrote {}", f.display());
    }
    if outcome.interrupted {
        return Err(CliError { message: "interrupted: partial report written".into(), code: 130 });
    }
    if outcome.measured() == 0 {
        return Err(CliError::runtime(run::NOTHING_MEASURED));
    }
    Ok(())
}
