//! A whole benchmark run: validate everything first (bad input changes nothing), build the
//! topology, apply each setting in turn, measure every path's offered-load curve, derive the
//! verdicts and the Answer, write the report.
//! The topology and the kernel settings are guards: they are undone on a normal end, an error,
//! Ctrl-C (checked between cells and inside the flood) and a panic (unwinding drops them). What
//! a SIGKILL leaves (journaled global sysctls, namespaces) is put back first by the next run
//! (see [`crate::lab::journal`]).

mod machine;

use crate::analysis::answer;
use crate::harness::curve;
use crate::lab::env::{self, Env};
use crate::lab::nic;
use crate::lab::noise::Thresholds;
use crate::lab::sysctl::{self, Applier, Profile, SysctlSweep};
use crate::lab::topology::{self, Kind, Topology};
use crate::model::curve::{CurveConfig, CurveRun};
use crate::model::plan::{self, Plan, Progress, Selection, Size, SkippedRow};
use crate::model::report::{self, BenchReport, Config, SettingInfo, TopologyInfo};
use crate::{Bench, Error, PeerKind, Receiver, Result};
use machine::{RealBench, profile_paths};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Everything the command line can ask for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: veth with RPS as root, loopback otherwise.
    pub topology: Option<Kind>,
    /// RPS on the receiver's veth; `None`: on for veth.
    pub rps: Option<bool>,
    /// XDP rows: keep the veth's NAPI in the sender's softirq even with RPS.
    pub xdp_on_sender: bool,
    /// Run size.
    pub size: Option<Size>,
    /// Method names to keep (empty: all).
    pub methods: Vec<String>,
    /// Fan-out names to keep.
    pub fanouts: Vec<String>,
    /// Scenario names to keep.
    pub scenarios: Vec<String>,
    /// `+gro` variants in the classic flood too.
    pub gro: bool,
    /// Leave out the busy-spinning rows (`--full`).
    pub no_spin: bool,
    /// Least repetitions of each headline point (default 3).
    pub reps: Option<usize>,
    /// Most repetitions of each headline point.
    pub max_reps: Option<usize>,
    /// Target half-width of the 95% intervals (default 0.05).
    pub ci_target: Option<f64>,
    /// NDR/PDR searches per path (default 3).
    pub search_reps: Option<usize>,
    /// Time budget of the curves, seconds (default by size).
    pub budget: Option<f64>,
    /// Seconds per trial (default by size).
    pub secs: Option<f64>,
    /// Sockets for fan-out (default: number of usable cores).
    pub sockets: Option<usize>,
    /// Measure one rate instead of the curve: `Some(None)` the unpaced flood (`--rate max`).
    pub rate: Option<Option<u64>>,
    /// Top of the grid (default: what the unpaced sender reached).
    pub max_rate: Option<u64>,
    /// Latency at this fraction of each path's NDR.
    pub latency_at: Option<f64>,
    /// A saved report to compare with.
    pub baseline: Option<PathBuf>,
    /// `--sysctl key=v1,v2` arguments.
    pub sysctls: Vec<String>,
    /// `--nic NAME=v1,v2` arguments: NIC settings of the receiving interface.
    pub nic: Vec<String>,
    /// `--sockopt NAME=v1,v2` arguments: socket options of the receiving sockets
    /// (`busy_poll`, `rcvbuf`).
    pub sockopts: Vec<String>,
    /// `--profile` files.
    pub profiles: Vec<PathBuf>,
    /// `--profile` without a file: sample each path with perf in one extra trial.
    pub cpu_profile: bool,
    /// Add iperf3 and sockperf rows.
    pub peers: bool,
    /// Output directory (default `bench-results/<timestamp>`).
    pub out: Option<PathBuf>,
    /// Sender cores (default: the first usable core).
    pub sender_cpus: Option<Vec<usize>>,
    /// Receiver cores (default: the other usable cores).
    pub receiver_cpus: Option<Vec<usize>>,
    /// `--sender HOST:PORT` and companions: floods from sender agents on other hosts.
    pub remote: Option<crate::lab::remote::RemoteOptions>,
}

/// A validated run, ready to execute. Creating it created only the output directory.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The topology to build.
    pub kind: Kind,
    /// RPS on the veth.
    pub rps: bool,
    /// XDP rows: keep the veth's NAPI in the sender's softirq even with RPS.
    pub xdp_on_sender: bool,
    /// The plan.
    pub plan: Plan,
    /// How the curves are measured.
    pub curve: CurveConfig,
    /// The saved run to compare with, loaded.
    pub baseline: Option<(String, Box<BenchReport>)>,
    /// Settings (profiles × sysctl values), completed.
    pub settings: Vec<Profile>,
    /// Options that shape the report.
    pub config: Config,
    /// The output directory (created, empty of our files).
    pub out_dir: PathBuf,
    /// Notes decided during validation.
    pub notes: Vec<String>,
    /// Profile each udprx path with perf after the curves.
    pub cpu_profile: bool,
    /// The sender agents, for the remote topology.
    pub remote: Option<crate::lab::remote::RemoteOptions>,
    /// `--fanout sweep`: measure the fan-out rows at 1, 2, 4, … sockets after the curves.
    pub fanout_sweep: bool,
}

/// Whether the `ip` command of iproute2 is on the PATH (the veth topology needs it).
fn iproute2_present() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("ip").is_file()))
}

/// Checks everything and decides the plan without touching the system, then creates the
/// output directory. Any error here is bad input (exit 2) and leaves nothing behind.
pub fn prepare(opts: &Options, is_root: bool) -> Result<Prepared> {
    let bad = |m: String| Err(Error::BadInput(m));
    let mut notes = Vec::new();
    let size = opts.size.unwrap_or(Size::Default);
    // `recvmmsg+sources` (or `recvfrom+sources`, `uring+sources`) asks for a method's rows that
    // read source addresses and the drop counter per datagram.
    let (mut methods, mut sources) = (Vec::new(), Vec::new());
    for name in &opts.methods {
        match name.strip_suffix("+sources") {
            Some(base) => {
                let m = crate::parse_method(base)?;
                if !matches!(
                    m,
                    crate::Method::Recvfrom
                        | crate::Method::Recvmmsg
                        | crate::Method::Uring
                        | crate::Method::Epoll
                ) {
                    return bad(format!(
                        "--methods {name}: +sources applies to recvfrom, recvmmsg, uring and epoll \
                         (uring-recv never reads a source address; the XDP paths read it from \
                         the frame)"
                    ));
                }
                sources.push(m);
            }
            None => methods.push(crate::parse_method(name)?),
        }
    }
    // `--fanout sweep`: the fan-out rows again at 1, 2, 4, … sockets (harness/sweep.rs).
    let fanout_sweep = opts.fanouts.iter().any(|f| f == "sweep");
    let fanouts = opts
        .fanouts
        .iter()
        .filter(|f| *f != "sweep")
        .map(|m| crate::Fanout::parse(m))
        .collect::<Result<Vec<_>>>()?;
    let scenarios =
        opts.scenarios.iter().map(|m| crate::Scenario::parse(m)).collect::<Result<Vec<_>>>()?;
    if let Some(f) = opts.latency_at
        && !(f > 0.0 && f <= 1.0)
    {
        return bad(format!("--latency-at {f}: expected a fraction in (0, 1], e.g. 0.5"));
    }
    if opts.reps == Some(0) {
        return bad("--reps must be at least 1".into());
    }
    if let (Some(lo), Some(hi)) = (opts.reps, opts.max_reps)
        && hi < lo
    {
        return bad(format!("--max-reps {hi} is below --reps {lo}"));
    }
    if opts.search_reps.is_some_and(|m| m == 0 || m > 20) {
        return bad("--search-reps: expected 1 to 20".into());
    }
    if opts.max_reps.is_some_and(|m| m == 0 || m > 100) {
        return bad("--max-reps: expected 1 to 100".into());
    }
    if let Some(c) = opts.ci_target
        && !(c > 0.0 && c < 1.0)
    {
        return bad(format!("--ci-target {c}: expected a fraction in (0, 1), e.g. 0.05 for ±5%"));
    }
    if let Some(b) = opts.budget
        && !(b > 0.0 && b <= 86_400.0)
    {
        return bad(format!("--budget {b}: expected 0 < seconds ≤ 86400"));
    }
    if let Some(s) = opts.secs
        && !(s > 0.0 && s <= 3600.0)
    {
        return bad(format!("--secs {s}: expected 0 < seconds ≤ 3600"));
    }
    if opts.sockets == Some(0) {
        return bad("--sockets must be at least 1".into());
    }
    // The receiver's own limit (`Receiver::builder(..).sockets`), refused before anything runs.
    if let Some(n) = opts.sockets.filter(|&n| n > 1024) {
        return bad(format!("--sockets must be at most 1024, got {n}"));
    }
    if opts.rate == Some(Some(0)) || opts.max_rate == Some(0) {
        return bad("rates must be positive".into());
    }
    let sweeps = opts.sysctls.iter().map(|s| SysctlSweep::parse(s)).collect::<Result<Vec<_>>>()?;
    let nic_sweeps =
        opts.nic.iter().map(|s| nic::NicSweep::parse(s)).collect::<Result<Vec<_>>>()?;
    let sockopt_sweeps =
        opts.sockopts.iter().map(|s| sysctl::SockoptSweep::parse(s)).collect::<Result<Vec<_>>>()?;
    let mut profiles = Vec::new();
    for p in &opts.profiles {
        profiles.extend(sysctl::load_profiles(p)?);
    }
    let baseline = match &opts.baseline {
        Some(p) => Some((p.display().to_string(), Box::new(crate::analysis::compare::load(p)?))),
        None => None,
    };

    // Topology: veth needs root.
    if let Some(r) = &opts.remote {
        crate::lab::remote::check(opts.topology, opts.peers, r)?;
    }
    let kind = match opts.topology {
        _ if opts.remote.is_some() => Kind::Remote,
        Some(k) => {
            topology::check_allowed(k, is_root)?;
            k
        }
        None if is_root && iproute2_present() => Kind::Veth,
        None if is_root => {
            notes.push(
                "iproute2 (`ip`) not found: fell back to the loopback topology \
                 (scripts/setup.sh installs it)"
                    .into(),
            );
            Kind::Loopback
        }
        None => {
            notes.push("not root: fell back to the loopback topology".into());
            Kind::Loopback
        }
    };
    let rps = match (kind, opts.rps) {
        (Kind::Loopback, Some(true)) => {
            return bad("--rps needs the veth topology (loopback has no RPS queue)".into());
        }
        (Kind::Loopback | Kind::Remote, _) => false,
        (Kind::Veth, r) => r.unwrap_or(true),
    };
    let any_sysctl = !sweeps.is_empty() || profiles.iter().any(|p| !p.sysctls.is_empty());
    if any_sysctl && !is_root {
        return bad("--sysctl and profiles with sysctls need root to write /proc/sys".into());
    }
    let any_nic = !nic_sweeps.is_empty() || profiles.iter().any(|p| !p.nic.is_empty());
    if any_nic && kind == Kind::Loopback {
        return bad(
            "--nic and nic.* settings need a receiving interface: --topology veth (root) or \
             --sender (loopback has none)"
                .into(),
        );
    }
    if any_nic && !is_root {
        return bad("--nic and nic.* settings need root to change the interface".into());
    }

    let mut peers = Vec::new();
    if opts.peers {
        // c-epoll is the twin of the opt-in epoll rows: looked for only when they run.
        let epoll = |p: &PeerKind| {
            *p != PeerKind::CEpoll
                || methods.contains(&crate::Method::Epoll)
                || sources.contains(&crate::Method::Epoll)
        };
        for p in PeerKind::ALL.into_iter().filter(epoll) {
            match crate::lab::peers::unavailable(p) {
                None => peers.push(p),
                Some(why) => notes.push(format!("--peers: {why}; its row is left out")),
            }
        }
    }
    // The XDP rows: where AF_XDP works (root, the veth topology, kernel support); otherwise
    // one line says why they were left out.
    let wants_xdp =
        (methods.is_empty() && sources.is_empty()) || methods.iter().any(|m| m.is_xdp());
    let xdp_missing = if !wants_xdp {
        None
    } else if kind != Kind::Veth {
        Some("they need the veth topology (root)".to_string())
    } else {
        udprx::xdp::probe().err()
    };
    if let Some(why) = &xdp_missing
        && !methods.is_empty()
        && sources.is_empty()
        && methods.iter().all(|m| m.is_xdp())
    {
        return bad(format!("--methods asks only for XDP paths, but {why}"));
    }
    let selection = Selection {
        xdp: wants_xdp && xdp_missing.is_none(),
        size,
        methods,
        fanouts,
        scenarios,
        gro_everywhere: opts.gro,
        spin: !opts.no_spin,
        peers,
        sources,
    };
    let all_rows = plan::rows(&selection);
    if all_rows.is_empty() {
        return bad("no path to run: the --methods/--fanout/--scenarios filters leave nothing (the GSO flood runs recvmmsg and uring on one socket unless --full)".into());
    }

    // Cores: sender on one, receivers on the others.
    let usable = env::usable_cores();
    // With --sender the flood runs on the agents' hosts (`--sender-cpus` names their CPUs):
    // no local core is kept for a sender, every usable core can receive.
    let sender_cpus = if kind == Kind::Remote {
        Vec::new()
    } else {
        opts.sender_cpus.clone().unwrap_or_else(|| vec![usable[0]])
    };
    let others: Vec<usize> = usable.iter().copied().filter(|c| !sender_cpus.contains(c)).collect();
    let receiver_pool = match &opts.receiver_cpus {
        Some(r) => r.clone(),
        None if others.is_empty() => {
            notes.push("only one usable core: sender and receiver share it".into());
            sender_cpus.clone()
        }
        None => others.clone(),
    };
    for c in sender_cpus.iter().chain(receiver_pool.iter()) {
        if !usable.contains(c) {
            return bad(format!("core {c} is not usable here (usable: {usable:?})"));
        }
    }
    let sockets = opts.sockets.unwrap_or(usable.len().max(2));
    // Fan-out: one socket per core, every core free of the sender. Where the host lacks them,
    // the second socket would share the sender's core and measure contention with the sender,
    // not fan-out: such rows are reported as not measurable rather than measured.
    let free: Vec<usize> =
        receiver_pool.iter().copied().filter(|c| !sender_cpus.contains(c)).collect();
    let needed = sockets + sender_cpus.len();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for r in all_rows {
        let fan =
            matches!(r.receiver, Receiver::Udprx { fanout, .. } if fanout != crate::Fanout::One);
        if fan && (free.len() < sockets || sockets < 2) {
            skipped.push(SkippedRow {
                label: r.label(sockets),
                reason: if sockets < 2 {
                    "fan-out needs at least 2 sockets (--sockets)".into()
                } else {
                    format!(
                        "not measurable on this host: needs {needed} cores ({sockets} receive sockets, each on its own core, plus {} for the sender), has {}",
                        sender_cpus.len(),
                        usable.len()
                    )
                },
            });
        } else {
            rows.push(r);
        }
    }
    if let Some(why) = &xdp_missing
        && (selection.scenarios.is_empty()
            || selection.scenarios.contains(&crate::Scenario::Classic))
        && (selection.fanouts.is_empty() || selection.fanouts.contains(&crate::Fanout::One))
    {
        let unfiltered = selection.methods.is_empty() && selection.sources.is_empty();
        let keep = |m: &crate::Method| unfiltered || selection.methods.contains(m);
        let labels: Vec<String> = crate::XDP_METHODS
            .iter()
            .filter(|m| keep(m))
            .map(|m| {
                crate::Row::udprx(crate::Scenario::Classic, *m, crate::Fanout::One, false).label(1)
            })
            .collect();
        skipped.push(SkippedRow { label: labels.join(", "), reason: format!("left out: {why}") });
    }
    if rows.is_empty() {
        let why: Vec<String> =
            skipped.iter().map(|s| format!("{}: {}", s.label, s.reason)).collect();
        return bad(format!("no measurable path left: {}", why.join("; ")));
    }
    let mut many: Vec<usize> = free.clone();
    many.truncate(sockets.max(1));
    let mut settings = sysctl::settings(&profiles, &sweeps);
    sysctl::complete(&mut settings);
    let settings = sysctl::cross_sockopts(settings, &sockopt_sweeps);
    let settings = nic::cross(settings, &nic_sweeps);
    busy_poll_notes(&settings, kind, is_root, &selection, &mut notes)?;
    let plan = Plan {
        rows,
        skipped,
        settings: settings.iter().map(|s| s.name.clone()).collect(),
        sockopts: settings.iter().map(|s| s.sockopts).collect(),
        sockets,
        sender_cpus,
        receiver_cpus_one: vec![receiver_pool[0]],
        receiver_cpus_many: many,
    };
    let curve = curve_config(size, opts, plan.series());
    let out_dir = opts.out.clone().unwrap_or_else(|| {
        PathBuf::from("bench-results").join(env::utc_compact(std::time::SystemTime::now()))
    });
    report::prepare_out_dir(&out_dir)?;
    Ok(Prepared {
        kind,
        rps,
        xdp_on_sender: opts.xdp_on_sender,
        plan,
        settings,
        config: Config { size, curve: curve.clone(), peers: opts.peers },
        curve,
        baseline,
        out_dir,
        notes,
        cpu_profile: opts.cpu_profile,
        remote: opts.remote.clone(),
        fanout_sweep,
    })
}

/// Per-socket busy polling (`--sockopt busy_poll=...`, `busy_poll = N` in a settings file):
/// refused without root when a value is above `net.core.busy_read` (the kernel wants
/// CAP_NET_ADMIN for that, and every trial would fail), and notes on the rows it does not reach
/// and on a topology where it has nothing to poll.
fn busy_poll_notes(
    settings: &[sysctl::Profile],
    kind: Kind,
    is_root: bool,
    selection: &Selection,
    notes: &mut Vec<String>,
) -> Result<()> {
    // SO_PREFER_BUSY_POLL 1 and any SO_BUSY_POLL_BUDGET above the socket's 0 need
    // CAP_NET_ADMIN: without root every trial would fail.
    if !is_root {
        if settings.iter().any(|s| s.sockopts.prefer_busy_poll == Some(true)) {
            return Err(Error::BadInput(
                "prefer_busy_poll=1 needs root: the kernel takes SO_PREFER_BUSY_POLL only with \
                 CAP_NET_ADMIN"
                    .into(),
            ));
        }
        if let Some(n) = settings.iter().filter_map(|s| s.sockopts.busy_poll_budget).max()
            && n > 0
        {
            return Err(Error::BadInput(format!(
                "busy_poll_budget {n} needs root: the kernel raises SO_BUSY_POLL_BUDGET only \
                 with CAP_NET_ADMIN"
            )));
        }
    }
    let Some(max) = settings.iter().filter_map(|s| s.sockopts.busy_poll).max() else {
        return Ok(());
    };
    if !is_root {
        let busy_read = crate::lab::procfs::read_value("net.core.busy_read")
            .and_then(|v| v.trim().parse::<u32>().ok());
        if busy_read.is_none_or(|b| max > b) {
            return Err(Error::BadInput(format!(
                "busy_poll {max} µs needs root: the kernel takes SO_BUSY_POLL above \
                 net.core.busy_read ({}) only with CAP_NET_ADMIN",
                busy_read.map_or("unreadable".to_string(), |b| b.to_string())
            )));
        }
    }
    let mut left_out = Vec::new();
    if selection.xdp {
        left_out.push("the XDP rows (AF_XDP sockets, not UDP sockets)");
    }
    if !selection.peers.is_empty() {
        left_out.push("the peer rows (their own programs)");
    }
    if !left_out.is_empty() {
        notes.push(format!(
            "SO_BUSY_POLL applies to udprx's UDP sockets: {} run without it under every setting",
            left_out.join(" and ")
        ));
    }
    match kind {
        Kind::Loopback => notes.push(
            "busy polling on loopback has no NAPI instance to poll (its datagrams carry no NAPI \
             id): SO_BUSY_POLL only spins in the receive call"
                .into(),
        ),
        // GRO on for every busy-polling setting: the veth has its NAPI, nothing to say.
        Kind::Veth
            if settings.iter().filter(|s| s.sockopts.busy_poll.is_some_and(|b| b > 0)).all(
                |s| {
                    s.veth_gro == Some(true)
                        || s.nic.iter().any(|(k, v)| k.as_str() == "gro" && v.as_str() == "on")
                },
            ) => {}
        Kind::Veth => notes.push(
            "busy polling on veth polls the receiving veth's NAPI, which exists only while GRO \
             or XDP is on for it (`--nic gro=on`, `veth_gro = on`); otherwise datagrams carry \
             no NAPI id and SO_BUSY_POLL only spins in the receive call"
                .into(),
        ),
        Kind::Remote => {}
    }
    Ok(())
}

/// The curve settings of a size, with the command line's overrides. The budget is hard (the
/// harness starts no trial that would end past it): for the default and quick sizes it does not
/// grow with the number of paths, so the promise of "about four / two minutes" holds; `--full`
/// scales it with the number of series beyond its usual count.
pub fn curve_config(size: Size, opts: &Options, series: usize) -> CurveConfig {
    let (fractions, secs, refine, max_reps, budget, search, resolution, usual): (
        &[f64],
        f64,
        usize,
        usize,
        f64,
        usize,
        f64,
        usize,
    ) = match size {
        Size::Quick => (&[0.25, 0.5, 0.707, 1.0], 0.5, 1, 5, 100.0, 3, 0.05, 3),
        Size::Default => {
            // Six rates (the refinement adds two inside each knee) and 230 s: with the
            // set-up, the default command ends within four minutes on 2 vCPUs.
            (&[0.125, 0.25, 0.354, 0.5, 0.707, 1.0], 1.0, 2, 8, 230.0, 5, 0.03, 5)
        }
        Size::Full => (
            &[0.125, 0.177, 0.25, 0.354, 0.5, 0.6, 0.707, 0.85, 1.0],
            1.0,
            3,
            10,
            900.0,
            10,
            0.02,
            40,
        ),
    };
    let secs = opts.secs.unwrap_or(secs);
    let min_reps = opts.reps.unwrap_or(3);
    let scale = if size == Size::Full { (series as f64 / usual as f64).max(1.0) } else { 1.0 };
    CurveConfig {
        fractions: if opts.rate.is_some() { Vec::new() } else { fractions.to_vec() },
        fixed: opts.rate,
        max_rate: opts.max_rate,
        trial_secs: secs,
        final_secs: secs * 2.0,
        refine,
        min_reps,
        max_reps: opts.max_reps.unwrap_or(max_reps).max(min_reps),
        ci_target: opts.ci_target.unwrap_or(0.05),
        budget_secs: opts.budget.unwrap_or(
            budget * scale * (secs / if size == Size::Quick { 0.5 } else { 1.0 }).max(0.25),
        ),
        search_trials: if opts.rate.is_some() { 0 } else { search },
        search_reps: opts.search_reps.unwrap_or(3),
        resolution,
        latency_at: opts.latency_at,
        noise: Thresholds::default(),
    }
}

/// One progress line.
pub fn progress_line(p: &Progress<'_>, multi_setting: bool) -> String {
    let count = if p.total > 0 {
        format!("[{:>3}/{}]", p.done, p.total)
    } else {
        format!("[{:>3}]", p.done)
    };
    let setting = if multi_setting { format!(" {} |", p.setting) } else { String::new() };
    let rate = p.rate.map(|r| format!(" @{}", crate::text::kpps(r as f64))).unwrap_or_default();
    match p.outcome {
        Ok(c) => format!(
            "{} {}{} {}{}: rx {} pps (sent {}), loss {}, drops {}, {:.0} ns/dgram app + {:.0} softirq",
            p.stage,
            count,
            setting,
            p.label,
            rate,
            crate::text::kpps(c.rx_pps),
            crate::text::kpps(c.sent_pps),
            crate::text::percent(c.loss_ratio()),
            c.kernel_drops,
            c.cpu.app_ns_per_dgram,
            c.cpu.softirq_ns_per_dgram,
        ),
        Err(e) => format!("{} {}{} {}{}: FAILED: {e}", p.stage, count, setting, p.label, rate),
    }
}

/// What [`execute`] returns.
#[derive(Debug)]
pub struct Outcome {
    /// The report (also written).
    pub report: BenchReport,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Ctrl-C ended the run early.
    pub interrupted: bool,
}

impl Outcome {
    /// Trials that produced a result (0 when every cell failed).
    pub fn measured(&self) -> usize {
        measured(&self.report.curves)
    }
}

/// Trials of `curves` that produced a result.
pub fn measured(curves: &CurveRun) -> usize {
    curves
        .series
        .iter()
        .flat_map(|s| &s.points)
        .flat_map(|p| &p.trials)
        .filter(|t| t.result.is_some())
        .count()
}

/// The note (and the error of `udprx bench`) when no trial produced a result.
pub const NOTHING_MEASURED: &str =
    "no trial produced a result: every cell failed (report.json has each trial's error)";

/// Runs a prepared benchmark. `progress` gets one line per cell.
pub fn execute(
    prep: Prepared,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    let started = Instant::now();
    let mut notes = prep.notes.clone();
    // What a killed run left behind is put back before anything is recorded as the baseline.
    for line in crate::lab::journal::recover(topology::is_root()).lines() {
        progress(&format!("udprx bench: {line}"));
        notes.push(line);
    }
    let env = Env::collect();
    let agents = prep.remote.as_ref().map(crate::lab::remote::Agents::connect).transpose()?;
    let topo = match (prep.kind, &agents) {
        (_, Some(a)) => Topology::remote(a.bind),
        (Kind::Veth, None) => Topology::veth()?,
        _ => Topology::loopback(),
    };
    let plan = &prep.plan;
    // Two hosts: RPS is whatever the receive interface has (the bench does not set it there).
    let rps_in_force = match (&agents, prep.kind) {
        (Some(a), Kind::Remote) => a.iface.as_deref().is_some_and(crate::lab::remote::rps_on),
        _ => prep.rps,
    };
    let bound = match (prep.kind, prep.rps) {
        (Kind::Remote, _) => agents.as_ref().map(crate::lab::remote::bound).unwrap_or_default(),
        (Kind::Loopback, _) => "loopback is sender-bound: the receive softirq runs on the sender's core, so \
            every receiver keeps up with a sender that is slowed by the stack's work; the figures rank wake-up \
            cost, not receive capacity. Run as root for the veth topology with RPS.".to_string(),
        (Kind::Veth, true) => format!("veth with RPS: the receive softirq runs on the receiver's cores {:?} \
            (receiver-bound for the classic flood)", plan.receiver_cpus_one),
        (Kind::Veth, false) => "veth without RPS: the receive softirq runs on the sender's core; the classic \
            flood is sender-bound, the GSO flood receiver-bound".to_string(),
    };
    // NIC settings: on the receiving interface, every value checked before anything changes.
    let nic_target = if nic::any(&prep.settings) {
        let iface = agents.as_ref().and_then(|a| a.iface.as_deref());
        Some(nic::Target::of(&topo, iface)?)
    } else {
        None
    };
    let nic_applier = nic::NicApplier::new(nic_target);
    nic_applier.check(&prep.settings)?;
    let mut bench = RealBench {
        topo: &topo,
        applier: Applier::new(&topo),
        nic: nic_applier,
        settings: &prep.settings,
        rps: prep.rps,
        xdp_on_sender: prep.xdp_on_sender,
        rps_mask: None,
        stop,
        setting_notes: vec![Vec::new(); prep.settings.len()],
        current: None,
        agents,
    };
    // Record what is in force under each setting before measuring.
    let keys: Vec<String> =
        prep.settings.iter().flat_map(|s| s.sysctls.iter().map(|(k, _)| k.clone())).collect();
    let nic_names: Vec<String> =
        prep.settings.iter().flat_map(|s| s.nic.iter().map(|(k, _)| k.clone())).collect();
    let mut in_force = Vec::new();
    for i in 0..prep.settings.len() {
        bench.enter_setting(i)?;
        let mut f = bench.applier.in_force(&keys);
        f.extend(bench.nic.in_force(&nic_names));
        in_force.push(f);
    }
    let c = &prep.curve;
    progress(&format!(
        "udprx bench: {} topology, {} path(s) × {} setting(s); {}; {:.1} s trials, ≥{} reps per headline point, ±{:.0}% target, budget {:.0} s; output {}",
        prep.kind.name(),
        plan.rows.len(),
        plan.settings.len(),
        match c.fixed {
            Some(None) => "one point: the unpaced flood".to_string(),
            Some(Some(r)) => format!("one point: {} pps paced", crate::text::kpps(r as f64)),
            None => format!(
                "offered-load curves ({} grid points + unpaced, NDR/PDR search)",
                c.fractions.len()
            ),
        },
        c.trial_secs,
        c.min_reps,
        c.ci_target * 100.0,
        c.budget_secs,
        prep.out_dir.display()
    ));
    for s in &plan.skipped {
        progress(&format!("left out: {}: {}", s.label, s.reason));
    }
    let multi = prep.settings.len() > 1;
    let mut cb = |p: &Progress<'_>| progress(&progress_line(p, multi));
    let curves = curve::run_curves(plan, c, &mut bench, stop, &mut cb)?;
    let fanout_sweep = (prep.fanout_sweep && !stop.load(std::sync::atomic::Ordering::Relaxed))
        .then(|| {
            crate::harness::sweep::run(plan, c, env.usable_cores.len(), &mut bench, stop, &mut cb)
        });
    let interrupted = curves.interrupted || stop.load(std::sync::atomic::Ordering::Relaxed);
    if interrupted {
        notes.push("interrupted (Ctrl-C): results are partial".into());
    } else if measured(&curves) == 0 {
        notes.push(NOTHING_MEASURED.into());
    }
    if curves.disturbed > 0 {
        notes.push(format!(
            "{} trial(s) were disturbed (steal time, preemption or migration of the receive threads) and repeated; the disturbed ones are kept in report.json but left out of the figures",
            curves.disturbed
        ));
    }
    if let Some(a) = &bench.agents {
        notes.extend(crate::lab::remote::summary(a, &curves));
    }
    let cpu_profile = if prep.cpu_profile && !interrupted {
        Some(profile_paths(&mut bench, &prep, &curves, stop, progress))
    } else {
        None
    };
    let setting_notes = std::mem::take(&mut bench.setting_notes);
    // Undo the settings and the topology before writing (guards would too).
    let restore_failures = bench.applier.restore();
    for f in restore_failures {
        notes.push(format!("could not restore sysctl {f}"));
    }
    if let Some(t) = bench.nic.target().cloned() {
        let failures = bench.nic.restore();
        if failures.is_empty() {
            notes.push(format!(
                "NIC settings (--nic) were applied to {} and restored: every changed value was \
                 written back and read back",
                t.describe()
            ));
        }
        for f in failures {
            notes.push(format!("could not restore NIC setting {f}"));
        }
    }
    let veth = topo.veth_info().cloned();
    let rx_addr = topo.rx_addr().to_string();
    drop(bench);
    drop(topo);

    let mut report = BenchReport {
        schema: report::SCHEMA.into(),
        env,
        topology: TopologyInfo { kind: prep.kind, rps: rps_in_force, veth, rx_addr, bound },
        config: prep.config.clone(),
        plan: prep.plan.clone(),
        settings: prep
            .settings
            .iter()
            .zip(in_force)
            .zip(setting_notes)
            .map(|((p, f), n)| SettingInfo {
                name: p.name.clone(),
                profile: p.clone(),
                in_force: f,
                notes: n,
            })
            .collect(),
        curves,
        verdicts: Vec::new(),
        answer: Vec::new(),
        comparisons: Vec::new(),
        twins: Vec::new(),
        baseline: None,
        notes,
        wall_s: started.elapsed().as_secs_f64(),
        profile: cpu_profile,
        fanout_sweep,
    };
    answer::analyze(&mut report);
    if let Some(sw) = &report.fanout_sweep {
        report.notes.extend(crate::analysis::sweep::notes(sw));
    }
    if let Some((name, base)) = &prep.baseline {
        report.baseline =
            Some(crate::analysis::compare::compare_reports(base, &report, name, "this run"));
    }
    let mut files = crate::render::write::write(&report, &prep.out_dir)?;
    if let Some(p) = &report.profile {
        files.extend(p.paths.iter().filter_map(|x| x.svg.as_ref()).map(|f| prep.out_dir.join(f)));
    }
    Ok(Outcome { report, files, interrupted })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp_out(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("udprx-bench-prep-{}-{name}", std::process::id()))
    }

    #[test]
    fn bad_inputs_are_rejected_before_anything_is_created() {
        let out = tmp_out("bad");
        let base = Options { out: Some(out.clone()), ..Options::default() };
        let cases = [
            Options { methods: vec!["select".into()], ..base.clone() },
            Options {
                methods: vec!["uring".into()],
                scenarios: vec!["gso".into()],
                fanouts: vec!["hash".into()],
                ..base.clone()
            },
            Options { sysctls: vec!["net.core.no_such_sysctl=1".into()], ..base.clone() },
            Options { topology: Some(Kind::Veth), ..base.clone() },
            Options { latency_at: Some(1.5), ..base.clone() },
            Options { reps: Some(0), ..base.clone() },
            Options { profiles: vec!["/nonexistent/profile.conf".into()], ..base.clone() },
            Options { methods: vec!["uring-recv+sources".into()], ..base.clone() },
            Options { methods: vec!["select+sources".into()], ..base.clone() },
        ];
        for (i, o) in cases.iter().enumerate() {
            let e = prepare(o, false).unwrap_err();
            assert!(e.is_bad_input(), "case {i}: {e}");
            assert!(!out.exists(), "case {i} created the output directory");
        }
        let e =
            prepare(&Options { topology: Some(Kind::Veth), ..base.clone() }, false).unwrap_err();
        assert!(e.to_string().contains("root"));
    }

    #[test]
    fn busy_poll_is_compared_as_settings_with_notes_and_refused_without_root_above_busy_read() {
        let out = tmp_out("busy");
        let o = Options {
            methods: vec!["recvmmsg".into(), "uring".into()],
            scenarios: vec!["classic".into()],
            fanouts: vec!["one".into()],
            sockopts: vec!["busy_poll=0,50".into()],
            out: Some(out.clone()),
            ..Options::default()
        };
        let busy_read = crate::lab::procfs::read_value("net.core.busy_read")
            .and_then(|v| v.trim().parse::<u32>().ok());
        if busy_read.is_some_and(|b| b >= 50) {
            // A host that lets anyone busy-poll for 50 µs: nothing to refuse.
        } else {
            let e = prepare(&o, false).unwrap_err();
            assert!(e.is_bad_input(), "{e}");
            let msg = e.to_string();
            assert!(
                msg.contains("busy_poll 50 µs needs root") && msg.lines().count() == 1,
                "{msg}"
            );
            assert!(!out.exists());
        }
        let p = prepare(&o, true).unwrap();
        assert_eq!(p.plan.settings, ["busy_poll=0", "busy_poll=50"]);
        assert_eq!(
            p.plan.sockopts.iter().map(|s| s.busy_poll).collect::<Vec<_>>(),
            [Some(0), Some(50)]
        );
        let why = match p.kind {
            Kind::Loopback => "no NAPI instance to poll",
            _ => "exists only while GRO or XDP is on for it",
        };
        assert!(p.notes.iter().any(|n| n.contains(why)), "{:?}", p.notes);
        assert!(!p.notes.iter().any(|n| n.contains("run without it")), "{:?}", p.notes);
        std::fs::remove_dir_all(&out).unwrap();
        if p.kind == Kind::Veth {
            // With GRO on the receiving veth it has a NAPI to poll: no such note.
            let gro = Options { nic: vec!["gro=on".into()], ..o.clone() };
            let p = prepare(&gro, true).unwrap();
            assert!(!p.notes.iter().any(|n| n.contains("busy polling on veth")), "{:?}", p.notes);
            std::fs::remove_dir_all(&out).unwrap();
        }
        let e =
            prepare(&Options { sockopts: vec!["busy_poll=fast".into()], ..o }, true).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("--sockopt busy_poll=fast"), "{e}");
        assert!(!out.exists());
    }

    #[test]
    fn epoll_rows_compare_prefer_busy_poll_and_budget_and_refuse_bad_values() {
        let out = tmp_out("epoll-bp");
        let o = Options {
            methods: vec!["epoll".into()],
            scenarios: vec!["classic".into()],
            fanouts: vec!["one".into()],
            sockopts: vec!["prefer_busy_poll=0,1".into(), "busy_poll_budget=8,64".into()],
            out: Some(out.clone()),
            ..Options::default()
        };
        // Both need CAP_NET_ADMIN: refused before anything exists without root.
        let e = prepare(&o, false).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("needs root"), "{e}");
        assert_eq!(e.to_string().lines().count(), 1);
        assert!(!out.exists());
        let p = prepare(&o, true).unwrap();
        assert_eq!(
            p.plan.settings,
            [
                "prefer_busy_poll=0 busy_poll_budget=8",
                "prefer_busy_poll=0 busy_poll_budget=64",
                "prefer_busy_poll=1 busy_poll_budget=8",
                "prefer_busy_poll=1 busy_poll_budget=64",
            ]
        );
        let so: Vec<_> =
            p.plan.sockopts.iter().map(|s| (s.prefer_busy_poll, s.busy_poll_budget)).collect();
        assert_eq!(
            so,
            [
                (Some(false), Some(8)),
                (Some(false), Some(64)),
                (Some(true), Some(8)),
                (Some(true), Some(64))
            ]
        );
        assert!(p.plan.rows.iter().all(|r| matches!(
            r.receiver,
            crate::Receiver::Udprx { method: crate::Method::Epoll, .. }
        )));
        std::fs::remove_dir_all(&out).unwrap();
        for bad in ["prefer_busy_poll=2", "busy_poll_budget=70000", "busy_poll_budget=-1"] {
            let e =
                prepare(&Options { sockopts: vec![bad.into()], ..o.clone() }, true).unwrap_err();
            let msg = e.to_string();
            assert!(e.is_bad_input() && msg.contains(&format!("--sockopt {bad}")), "{msg}");
            assert_eq!(msg.lines().count(), 1, "{msg}");
        }
        assert!(!out.exists());
    }

    #[test]
    fn sources_methods_parse_into_sources_rows() {
        let out = tmp_out("sources");
        let o = Options {
            methods: vec!["recvmmsg".into(), "recvmmsg+sources".into()],
            scenarios: vec!["classic".into()],
            fanouts: vec!["one".into()],
            out: Some(out.clone()),
            ..Options::default()
        };
        let p = prepare(&o, false).unwrap();
        let labels: Vec<String> = p.plan.rows.iter().map(|r| r.label(1)).collect();
        assert_eq!(labels, ["classic recvmmsg 1×", "classic recvmmsg+sources 1×"]);
        std::fs::remove_dir_all(&out).unwrap();
        // Named only as `+sources`: no XDP rows wanted, none reported as left out.
        let only = Options { methods: vec!["recvfrom+sources".into()], ..o.clone() };
        let p = prepare(&only, false).unwrap();
        let labels: Vec<String> = p.plan.rows.iter().map(|r| r.label(1)).collect();
        assert_eq!(labels, ["classic recvfrom+sources 1×"]);
        assert!(!p.plan.skipped.iter().any(|s| s.label.contains("xdp")), "{:?}", p.plan.skipped);
        std::fs::remove_dir_all(&out).unwrap();
        let e = prepare(
            &Options {
                methods: vec!["uring-recv+sources".into()],
                out: Some(out.clone()),
                ..o.clone()
            },
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("uring-recv never reads"), "{e}");
        assert!(!out.exists());
    }

    #[test]
    fn default_and_quick_budgets_do_not_grow_with_the_number_of_paths() {
        let o = Options::default();
        for (size, limit) in [(Size::Default, 240.0), (Size::Quick, 120.0)] {
            let few = curve_config(size, &o, 3).budget_secs;
            let many = curve_config(size, &o, 40).budget_secs;
            assert_eq!(few, many, "{size:?}");
            assert!(many <= limit, "{size:?}: {many}");
        }
        assert!(
            curve_config(Size::Full, &o, 80).budget_secs
                > curve_config(Size::Full, &o, 4).budget_secs
        );
    }

    #[test]
    fn defaults_fall_back_to_loopback_without_root() {
        let out = tmp_out("ok");
        let p = prepare(&Options { out: Some(out.clone()), ..Options::default() }, false).unwrap();
        assert_eq!(p.kind, Kind::Loopback);
        assert!(!p.rps);
        assert!(p.notes.iter().any(|n| n.contains("loopback")));
        // The XDP rows are left out on loopback, with one line saying why.
        assert!(!p.plan.rows.iter().any(|r| r.label(1).contains("xdp")));
        let xdp: Vec<_> = p.plan.skipped.iter().filter(|s| s.label.contains("xdp")).collect();
        assert_eq!(xdp.len(), 1, "{:?}", p.plan.skipped);
        assert!(xdp[0].reason.contains("veth"), "{}", xdp[0].reason);
        assert!(out.is_dir());
        assert!(!p.plan.sender_cpus.is_empty());
        assert!(p.curve.budget_secs <= 330.0, "{}", p.curve.budget_secs);
        std::fs::remove_dir_all(&out).unwrap();
        let out2 = tmp_out("root");
        let p = prepare(&Options { out: Some(out2.clone()), ..Options::default() }, true).unwrap();
        assert_eq!(p.kind, Kind::Veth);
        assert!(p.rps);
        // Asking only for XDP paths where they cannot run is refused with the reason.
        let only_xdp =
            Options { methods: vec!["xdp".into()], out: Some(tmp_out("x")), ..Options::default() };
        let e = prepare(&only_xdp, false).unwrap_err();
        assert!(e.to_string().contains("veth"), "{e}");
        std::fs::remove_dir_all(&out2).unwrap();
    }
}
