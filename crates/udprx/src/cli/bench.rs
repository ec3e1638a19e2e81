//! `udprx bench`: every receive path side by side, zero-loss throughput, latency at load and
//! kernel-setting comparisons, written as a report with charts. Argument parsing and printing
//! only; the work is in [`udprx::bench`].

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Args;
use udprx::bench::matrix::Size;
use udprx::bench::run::{self, Options};
use udprx::bench::topology::{self, Kind};

use super::{CliError, parse_cpus};

/// Compare every receive path (method × fan-out × GRO) under the classic and the GSO flood,
/// and write a report (terminal table, report.json, report.md, SVG charts).
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
    /// Only these methods (recvfrom, recvmmsg, uring), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub methods: Vec<String>,
    /// Only these fan-outs (one, hash, cpu), comma-separated.
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
    /// Every combination (5 repetitions).
    #[arg(long, conflicts_with = "quick")]
    pub full: bool,
    /// A smaller matrix in under a minute (2 × 2 s).
    #[arg(long)]
    pub quick: bool,
    /// Repetitions of every cell.
    #[arg(long)]
    pub reps: Option<usize>,
    /// Length of each cell: 3s, 500ms...
    #[arg(long, alias = "cell-secs", value_parser = super::parse_duration, value_name = "DURATION")]
    pub secs: Option<std::time::Duration>,
    /// Sockets in hash/cpu fan-out (default: number of cores).
    #[arg(long)]
    pub sockets: Option<usize>,
    /// Pace the sender at this many datagrams/s instead of flooding.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Binary-search each path's zero-loss rate (RFC 2544, 1% resolution).
    #[arg(long)]
    pub zero_loss: bool,
    /// Top of the zero-loss search (default: what the unpaced sender reached).
    #[arg(long)]
    pub max_rate: Option<u64>,
    /// Latency percentiles of each path at this fraction of its maximum rate (e.g. 0.5).
    #[arg(long, value_name = "FRACTION")]
    pub latency_at: Option<f64>,
    /// A sysctl to compare: key=v1,v2 (repeatable; settings are the cross product).
    #[arg(long = "sysctl", value_name = "KEY=V1,V2")]
    pub sysctl: Vec<String>,
    /// A profile file of named settings (see profiles/tuning.conf); repeatable.
    #[arg(long = "profile", value_name = "FILE")]
    pub profile: Vec<PathBuf>,
    /// Add iperf3 and sockperf receivers as reference rows, where installed.
    #[arg(long)]
    pub peers: bool,
    /// Output directory (default bench-results/<UTC timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Sender cores (default: the first usable core).
    #[arg(long, value_parser = parse_cpus, value_name = "CPUS")]
    pub sender_cpus: Option<Vec<usize>>,
    /// Receiver cores (default: the others).
    #[arg(long, value_parser = parse_cpus, value_name = "CPUS")]
    pub receiver_cpus: Option<Vec<usize>>,
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
            size,
            methods: self.methods.clone(),
            fanouts: self.fanout.clone(),
            scenarios: self.scenarios.clone(),
            gro: self.gro,
            no_spin: self.no_spin,
            reps: self.reps,
            secs: self.secs.map(|d| d.as_secs_f64()),
            sockets: self.sockets,
            rate: self.rate,
            zero_loss: self.zero_loss,
            max_rate: self.max_rate,
            latency_at: self.latency_at,
            sysctls: self.sysctl.clone(),
            profiles: self.profile.clone(),
            peers: self.peers,
            out: self.out.clone(),
            sender_cpus: self.sender_cpus.clone(),
            receiver_cpus: self.receiver_cpus.clone(),
        })
    }
}

fn lib_error(e: udprx::bench::Error) -> CliError {
    if e.is_bad_input() { CliError::usage(e.to_string()) } else { CliError::runtime(e.to_string()) }
}

/// Runs `udprx bench`.
pub fn execute(args: BenchArgs) -> Result<(), CliError> {
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
    print!("{}", udprx::bench::markdown::terminal(&outcome.report));
    println!();
    for f in &outcome.files {
        println!("wrote {}", f.display());
    }
    if outcome.interrupted {
        return Err(CliError { message: "interrupted: partial report written".into(), code: 130 });
    }
    Ok(())
}
