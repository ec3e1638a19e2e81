//! Floods from sender agents on other hosts (`udprx bench --sender HOST:PORT`, repeatable).
//!
//! The receive side stays on this host, bound to the address of the interface that routes to
//! the agents (or `--bind`); every trial's flood runs on the agents (`udpflood agent`) over the
//! control channel of [`udpctl`]. Several agents flood together, each a share of the offered
//! rate; their counts are merged into one [`udpflood::FloodReport`], so the cell, the curves
//! and the report see a sender like any other.
//!
//! Latency needs clocks that agree: with `--clocks-synced` (the user states that PTP or the
//! like syncs them) the agents stamp `CLOCK_REALTIME` and latencies are taken as measured;
//! otherwise each agent's offset to this host is estimated over the control channel (NTP-style,
//! [`udpctl::clock`]) and latencies are corrected by it, with its error bound in the notes.
//! When no estimate is possible the latency is left out, and the notes say why.
//!
//! Each trial also books the receiving interface's counters ([`udprx_netdev`]): the sent count
//! against received, socket, backlog and NIC drops, with the remainder named.

use crate::{CellSpec, Error, Result};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use udpctl::client::{AgentClient, ClientConfig};
use udpctl::{FloodRequest, FloodResult, OffsetEstimate};
use udpprobe::Clock;

/// Clock samples per offset estimate.
const CLOCK_SAMPLES: usize = 8;

/// What `--sender` and its companions ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteOptions {
    /// The agents' control addresses.
    pub senders: Vec<SocketAddr>,
    /// File holding the agents' token (first line).
    pub token_file: Option<PathBuf>,
    /// Receive interface (default: the one routing to the first agent).
    pub iface: Option<String>,
    /// Receive address (default: the local address routing to the first agent).
    pub bind: Option<IpAddr>,
    /// The user states the hosts' clocks are synchronised (PTP): latency taken as measured.
    pub clocks_synced: bool,
    /// CPUs on each agent's host to pin the flood threads to, one thread per CPU
    /// (`--sender-cpus` with `--sender`); `None`: one unpinned thread, as the agent chooses.
    pub agent_cpus: Option<Vec<usize>>,
}

/// How the report knows (or does not) that latencies across the hosts mean something.
#[derive(Debug, Clone, PartialEq)]
pub enum ClockAgreement {
    /// The user stated the clocks are synchronised.
    Stated,
    /// Offsets estimated over the control channel, per agent (agent minus this host).
    Estimated(Vec<OffsetEstimate>),
    /// Unknown: latency columns stay empty for this reason.
    Unknown(String),
}

impl ClockAgreement {
    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            ClockAgreement::Stated => "latency across hosts: clocks synchronised as stated by \
                the user (--clocks-synced, e.g. PTP); CLOCK_REALTIME stamps taken as measured"
                .into(),
            ClockAgreement::Estimated(e) => {
                let parts: Vec<String> = e
                    .iter()
                    .map(|o| {
                        format!(
                            "{} ns ± {} ns (round trip {} ns, {} samples)",
                            o.offset_ns, o.error_bound_ns, o.round_trip_ns, o.samples
                        )
                    })
                    .collect();
                format!(
                    "latency across hosts: agent clock offset estimated over the control \
                     channel: {}; latencies are corrected by it and uncertain by its bound",
                    parts.join("; ")
                )
            }
            ClockAgreement::Unknown(why) => format!("latency left out: {why}"),
        }
    }

    /// The clock the agents stamp.
    /// (Monotonic clocks are not shared across hosts: realtime is the clock PTP and the
    /// estimate are about.)
    fn clock(&self) -> Clock {
        Clock::Realtime
    }

    /// Correction to add to measured latencies, ns (`None`: leave latency out).
    pub fn correction_ns(&self) -> Option<i64> {
        match self {
            ClockAgreement::Stated => Some(0),
            // measured = rx − (tx + offset): the true latency is measured + offset. With
            // several agents the traffic mixes; the mean offset is used and the bound covers
            // the spread only when they agree (the notes give each).
            ClockAgreement::Estimated(e) if !e.is_empty() => {
                Some(e.iter().map(|o| o.offset_ns).sum::<i64>() / e.len() as i64)
            }
            _ => None,
        }
    }
}

/// The connected agents.
#[derive(Debug)]
pub struct Agents {
    addrs: Vec<SocketAddr>,
    clients: Vec<Option<AgentClient>>,
    token: Option<String>,
    cfg: ClientConfig,
    /// The clock policy of this run.
    pub clocks: ClockAgreement,
    /// The receive interface (`None`: not found; the NIC books are then left out).
    pub iface: Option<String>,
    /// The receive address.
    pub bind: IpAddr,
    /// The receive interface's placement map (queues → IRQs → CPUs, NUMA), or why there is
    /// none, as one line.
    pub placement: String,
    /// CPUs on the agents' hosts the flood threads are pinned to.
    agent_cpus: Option<Vec<u32>>,
}

/// Reads a token file: its first line, trimmed; an empty or unreadable file is an error.
pub fn read_token(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::BadInput(format!("--token-file {}: {e}", path.display())))?;
    let t = text.lines().next().unwrap_or("").trim().to_string();
    if t.is_empty() {
        return Err(Error::BadInput(format!("--token-file {}: empty", path.display())));
    }
    Ok(t)
}

/// The local address the kernel would send from to reach `peer` (no packet is sent).
pub fn route_source(peer: SocketAddr) -> Result<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any)
        .and_then(|s| s.connect(peer).map(|()| s))
        .map_err(|e| Error::BadInput(format!("--sender {peer}: no route: {e}")))?;
    s.local_addr()
        .map(|a| a.ip())
        .map_err(|e| Error::BadInput(format!("--sender {peer}: no route: {e}")))
}

/// The interface holding `addr`, from `ip -o addr` (`None` when not found).
pub fn iface_of(addr: IpAddr) -> Option<String> {
    let out = std::process::Command::new("ip").args(["-o", "addr", "show"]).output().ok()?;
    parse_iface_of(&String::from_utf8_lossy(&out.stdout), addr)
}

/// Parses `ip -o addr show` for the interface holding `addr`.
pub fn parse_iface_of(text: &str, addr: IpAddr) -> Option<String> {
    text.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let dev = f.get(1)?.trim_end_matches(':').split('@').next()?;
        let a = f.get(3)?.split('/').next()?.parse::<IpAddr>().ok()?;
        (a == addr).then(|| dev.to_string())
    })
}

impl Agents {
    /// Connects to every agent (authenticating with the token), finds the receive address and
    /// interface, and settles the clock policy. One line of error naming the agent on failure.
    pub fn connect(opts: &RemoteOptions) -> Result<Agents> {
        let first = *opts
            .senders
            .first()
            .ok_or_else(|| Error::BadInput("--sender: at least one agent needed".into()))?;
        let token = opts.token_file.as_deref().map(read_token).transpose()?;
        let cfg = ClientConfig::default();
        let mut clients = Vec::new();
        for &a in &opts.senders {
            let c = AgentClient::connect(a, token.as_deref(), &cfg)
                .map_err(|e| Error::Topology(format!("sender agent {a}: {e}")))?;
            clients.push(Some(c));
        }
        let bind = match opts.bind {
            Some(b) => b,
            None => route_source(first)?,
        };
        let iface = opts.iface.clone().or_else(|| iface_of(bind));
        let clocks = if opts.clocks_synced {
            ClockAgreement::Stated
        } else {
            let mut est = Vec::new();
            let mut failed = None;
            for (c, a) in clients.iter_mut().zip(&opts.senders) {
                match c.as_mut().map(|c| c.estimate_offset(Clock::Realtime, CLOCK_SAMPLES)) {
                    Some(Ok(e)) => est.push(e),
                    Some(Err(e)) => failed = Some(format!("agent {a}: offset not estimated: {e}")),
                    None => {}
                }
            }
            match failed {
                Some(why) => ClockAgreement::Unknown(format!(
                    "the hosts' clocks are not known to agree ({why}); give --clocks-synced if \
                     PTP syncs them"
                )),
                None => ClockAgreement::Estimated(est),
            }
        };
        let placement = placement_line(iface.as_deref());
        Ok(Agents {
            addrs: opts.senders.clone(),
            clients,
            token,
            cfg,
            clocks,
            iface,
            bind,
            placement,
            agent_cpus: opts
                .agent_cpus
                .as_ref()
                .map(|c| c.iter().map(|&x| x.min(u32::MAX as usize) as u32).collect()),
        })
    }

    /// The agents' addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Runs one trial's flood on every agent at once, `spec.rate` split evenly (unpaced: each
    /// agent at its own announced maximum), and merges their counts. Bounded by the trial's
    /// time plus the control channel's grace; `stop` is checked before the flood starts.
    pub fn flood(
        &mut self,
        dest: SocketAddr,
        spec: &CellSpec,
        traffic: &crate::Traffic,
        stop: &AtomicBool,
    ) -> Result<udpflood::FloodReport> {
        if stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let n = self.addrs.len().max(1) as u64;
        // Reconnect agents whose connection a refusal closed.
        for (slot, &a) in self.clients.iter_mut().zip(&self.addrs) {
            if slot.is_none() {
                *slot = Some(
                    AgentClient::connect(a, self.token.as_deref(), &self.cfg)
                        .map_err(|e| Error::Cell(format!("sender agent {a}: {e}")))?,
                );
            }
        }
        let clock = self.clocks.clock();
        let duration_ms = (spec.secs.max(0.1) * 1000.0).round() as u64;
        // The agents' own CPUs when given (one flood thread each), else one thread per local
        // sender core of the spec (none with --sender: one thread).
        let agent_cpus = self.agent_cpus.clone();
        let threads =
            agent_cpus.as_ref().map_or(spec.sender_cpus.len().max(1), |c| c.len().max(1)) as u32;
        let results: Vec<std::result::Result<FloodResult, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .clients
                .iter_mut()
                .zip(&self.addrs)
                .map(|(slot, &a)| {
                    let cpus = agent_cpus.clone();
                    s.spawn(move || {
                        let c = slot.as_mut().ok_or_else(|| format!("agent {a}: not connected"))?;
                        let lim = c.hello().limits;
                        let rate = match spec.rate {
                            Some(r) => (r / n).max(1),
                            None => lim.max_rate_pps,
                        }
                        .min(lim.max_rate_pps);
                        let req = FloodRequest {
                            target_port: dest.port(),
                            target_ip: Some(dest.ip()),
                            rate_pps: rate,
                            duration_ms: duration_ms.min(lim.max_duration_ms),
                            flows: traffic.flows as u32,
                            payload_size: traffic.payload as u32,
                            gso: traffic.gso,
                            threads: threads.min(lim.max_threads),
                            cpus,
                            clock,
                        };
                        let r = c.flood(&req).map_err(|e| format!("agent {a}: {e}"));
                        if r.is_err() {
                            *slot = None;
                        }
                        r
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("agent thread panicked".into())))
                .collect()
        });
        let mut ok = Vec::new();
        for r in results {
            ok.push(r.map_err(|e| Error::Cell(format!("sender {e}")))?);
        }
        Ok(merge(dest, traffic, spec.rate, clock, &ok))
    }
}

/// Refuses what does not go with `--sender` (before anything is created): another
/// topology, peer rows (their senders are local), a sender list that is empty or repeats.
pub fn check(
    topology: Option<crate::model::topology::Kind>,
    peers: bool,
    opts: &RemoteOptions,
) -> Result<()> {
    let bad = |m: &str| Err(Error::BadInput(m.to_string()));
    if opts.senders.is_empty() {
        return bad("--sender: at least one agent HOST:PORT needed");
    }
    if topology.is_some() {
        return bad("--sender and --topology exclude each other (the agents are the sender side)");
    }
    if peers {
        return bad("--peers needs a local sender; it does not go with --sender");
    }
    let mut seen = opts.senders.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != opts.senders.len() {
        return bad("--sender: an agent is given twice");
    }
    Ok(())
}

/// What a two-host run measures, for the report's topology line.
pub fn bound(agents: &Agents) -> String {
    let list: Vec<String> = agents.addrs.iter().map(|a| a.to_string()).collect();
    format!(
        "two hosts: the receiver on this host at {} (interface {}), floods from the sender \
         agent(s) {}; {}",
        agents.bind,
        agents.iface.as_deref().unwrap_or("not found: NIC books left out"),
        list.join(", "),
        agents.clocks.describe()
    )
}

/// Runs one trial of the plan with the agents' flood: udprx rows only (peer rows are refused
/// by [`check`] before the run).
pub fn run_cell(
    topo: &crate::lab::topology::Topology,
    spec: &CellSpec,
    agents: &mut Agents,
    stop: &AtomicBool,
) -> Result<crate::CellResult> {
    match spec.row.receiver {
        crate::Receiver::Udprx { method, fanout, gro, spin, sources } => {
            crate::lab::cell::run_udprx_remote(
                topo,
                spec,
                crate::lab::cell::UdprxPath {
                    method,
                    fanout,
                    gro,
                    spin,
                    sources,
                    threaded_napi: false,
                },
                stop,
                agents,
            )
        }
        crate::Receiver::Peer { peer } => {
            Err(Error::Cell(format!("{}: peer rows need a local sender", peer.name())))
        }
    }
}

/// The run-level notes of a two-host run: each series' NIC books summed over its trials
/// (with the counters named and the trials that did not balance counted), and what the agents
/// reached (their CPU per datagram, trials where they sent below the offered rate), so "what
/// limited the run" can be read as "the agents" when it says the sender.
pub fn summary(agents: &Agents, curves: &crate::model::curve::CurveRun) -> Vec<String> {
    let mut notes = vec![agents.placement.clone()];
    let mut sources = None;
    let (mut below, mut paced, mut cpu_sum, mut cpu_n, mut top) =
        (0usize, 0usize, 0.0, 0usize, 0.0f64);
    for s in &curves.series {
        let trials = s.points.iter().flat_map(|p| &p.trials).chain(&s.search_trials);
        let mut sum = [0i128; 6];
        let (mut n, mut unbalanced, mut worst) = (0usize, 0usize, 0i64);
        for t in trials {
            let Some(r) = &t.result else { continue };
            let rep = &r.sender_report;
            if let Some(c) = rep["cpu_ns_per_packet"].as_f64() {
                cpu_sum += c;
                cpu_n += 1;
            }
            top = top.max(r.sent_pps);
            if let Some(rate) = t.rate {
                paced += 1;
                if r.sent_pps < 0.95 * rate as f64 {
                    below += 1;
                }
            }
            let Ok(b) = serde_json::from_value::<udprx_netdev::Books>(
                r.receiver_report["nic_books"].clone(),
            ) else {
                continue;
            };
            n += 1;
            for (i, v) in [
                b.sent.value,
                b.received.value,
                b.socket_drops.value,
                b.backlog_drops.value,
                b.nic_drops.value,
            ]
            .into_iter()
            .enumerate()
            {
                sum[i] += i128::from(v);
            }
            sum[5] += i128::from(b.unaccounted);
            if b.unaccounted != 0 {
                unbalanced += 1;
                if b.unaccounted.abs() > worst.abs() {
                    worst = b.unaccounted;
                }
            }
            sources.get_or_insert_with(|| {
                format!(
                    "sent: {}; received: {}; socket drops: {}; backlog drops: {}; NIC drops: {}",
                    b.sent.source,
                    b.received.source,
                    b.socket_drops.source,
                    b.backlog_drops.source,
                    b.nic_drops.source
                )
            });
        }
        if n == 0 {
            notes.push(format!(
                "NIC books, {}: no trial has them (interface counters not read)",
                s.label
            ));
            continue;
        }
        notes.push(format!(
            "NIC books, {} ({n} trials summed): sent {} = received {} + socket drops {} + backlog \
             drops {} + NIC drops {} + unaccounted {}; {}",
            s.label,
            sum[0],
            sum[1],
            sum[2],
            sum[3],
            sum[4],
            sum[5],
            if unbalanced == 0 {
                "every trial balanced".to_string()
            } else {
                format!(
                    "{unbalanced} trial(s) left a remainder (largest {worst}: positive = counted \
                     nowhere, lost between the hosts or where the kernel keeps no counter; \
                     negative = counted twice or other traffic in a host-wide counter){}",
                    if s.row.scenario == crate::Scenario::Gso {
                        "; in this GSO flood every drop counter counts coalesced packets, not \
                         the datagrams they hold, so the drops of whole super-buffers show up \
                         here"
                    } else {
                        ""
                    }
                )
            }
        ));
    }
    if let Some(src) = sources {
        notes.push(format!("NIC books, where each term comes from: {src}"));
    }
    let list: Vec<String> = agents.addrs.iter().map(|a| a.to_string()).collect();
    notes.push(format!(
        "the sender is {} agent(s) ({}): highest rate reached {:.0} pps, their sender threads' \
         CPU {} per datagram on average; {below} of {paced} paced trial(s) sent below 95% of the \
         offered rate{}",
        list.len(),
        list.join(", "),
        top,
        if cpu_n == 0 {
            "unknown".to_string()
        } else {
            format!("{:.0} ns", cpu_sum / cpu_n as f64)
        },
        if below > 0 {
            " — where the run is sender-limited, the limit is these agents: add agents \
             (--sender, repeatable) or flood threads (--sender-cpus count)"
        } else {
            ""
        }
    ));
    notes
}

/// Merges the agents' results into one flood report (counts summed, the longest flood's time,
/// CPU per datagram weighted by datagrams).
pub fn merge(
    dest: SocketAddr,
    traffic: &crate::Traffic,
    rate: Option<u64>,
    clock: Clock,
    results: &[FloodResult],
) -> udpflood::FloodReport {
    let packets: u64 = results.iter().map(|r| r.sent).sum();
    let bytes: u64 = results.iter().map(|r| r.bytes).sum();
    let duration_s =
        results.iter().map(|r| r.elapsed_ns as f64 / 1e9).fold(0.0_f64, f64::max).max(1e-9);
    let cpu = if packets == 0 {
        0.0
    } else {
        results.iter().map(|r| r.thread_cpu_ns_per_datagram * r.sent as f64).sum::<f64>()
            / packets as f64
    };
    let wire = udpflood::report::wire_bytes_per_datagram(traffic.payload, dest.is_ipv6()) * packets;
    let errors = udpflood::SendErrors {
        other: results.iter().map(|r| r.send_errors).sum(),
        ..Default::default()
    };
    udpflood::FloodReport {
        dest,
        payload_size: traffic.payload,
        threads: results.len(),
        packets,
        bytes,
        wire_bytes: wire,
        duration_s,
        pps: results.iter().map(|r| r.sent as f64 / (r.elapsed_ns.max(1) as f64 / 1e9)).sum(),
        wire_gbps: wire as f64 * 8.0 / duration_s / 1e9,
        errors,
        cpu_ns_per_packet: cpu,
        flows: Vec::new(),
        gso_requested: traffic.gso,
        gso_active: traffic.gso && results.iter().all(|r| r.gso_active),
        gso_fallback_reason: (traffic.gso && !results.iter().all(|r| r.gso_active))
            .then(|| "an agent fell back to sendmmsg".to_string()),
        clock,
        // The agents' floods each stamp their own id; a merged report names none.
        sender: 0,
        rate_requested: rate,
        interrupted: results.iter().any(|r| r.stopped_early),
    }
}

/// The NIC books of one trial on `iface`: sent against received, socket drops, backlog and
/// NIC drops, as text for the trial's notes and as JSON for its record.
pub fn books(
    before: &udprx_netdev::NicSnapshot,
    after: &udprx_netdev::NicSnapshot,
    sent: u64,
    received: u64,
    socket_drops: u64,
    agents: usize,
) -> udprx_netdev::Books {
    use udprx_netdev::{Term, balance, counters};
    let d = after.delta(before);
    balance(
        Term::new(sent, format!("the {agents} agent(s)' sent counts, summed")),
        Term::new(received, "the receiver's own count"),
        Term::new(socket_drops, "the sockets' drop counters (SO_RXQ_OVFL / RcvbufErrors)"),
        counters::backlog_drops(&d),
        counters::nic_drops(&d),
    )
}

/// The books in one line for a trial's notes: every term with its source.
pub fn books_line(b: &udprx_netdev::Books) -> String {
    format!(
        "books: sent {} = received {} + socket drops {} + backlog drops {} + NIC drops {} + \
         unaccounted {} [sent: {}; received: {}; socket: {}; backlog: {}; NIC: {}; unaccounted: {}]",
        b.sent.value,
        b.received.value,
        b.socket_drops.value,
        b.backlog_drops.value,
        b.nic_drops.value,
        b.unaccounted,
        b.sent.source,
        b.received.source,
        b.socket_drops.source,
        b.backlog_drops.source,
        b.nic_drops.source,
        b.explanation
    )
}

/// True when any receive queue of `iface` steers packets by RPS (a non-zero
/// `/sys/class/net/IFACE/queues/rx-N/rps_cpus` mask); false when none does or they cannot be read.
pub fn rps_on(iface: &str) -> bool {
    if !udprx_netdev::settings::valid_dev(iface) {
        return false;
    }
    let Ok(dir) = std::fs::read_dir(format!("/sys/class/net/{iface}/queues")) else {
        return false;
    };
    dir.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .filter_map(|e| std::fs::read_to_string(e.path().join("rps_cpus")).ok())
        .any(|m| rps_mask_set(&m))
}

/// True when an `rps_cpus` mask (hex words separated by commas) names any CPU.
fn rps_mask_set(mask: &str) -> bool {
    mask.trim().split(',').any(|w| u64::from_str_radix(w.trim(), 16).is_ok_and(|v| v != 0))
}

/// The placement map of `iface` from the hardware ([`udprx_netdev::discover()`] and
/// [`udprx_netdev::propose`] over this process's usable cores) as one line, or why not.
pub fn placement_line(iface: Option<&str>) -> String {
    let Some(dev) = iface else {
        return "placement map: the receive interface was not found (give --iface)".into();
    };
    let sys = udprx_netdev::Sys::live();
    match udprx_netdev::discover(&sys, dev) {
        Ok(info) => {
            let nodes = udprx_netdev::placement::cpu_nodes(&sys);
            let p = udprx_netdev::propose(&info, &nodes, &crate::lab::env::usable_cores());
            let map: Vec<String> = p
                .to_map()
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            format!("placement map (queues → IRQs → CPUs, NUMA): {}", map.join(" | "))
        }
        Err(e) => format!("placement map of {dev}: not discovered ({e})"),
    }
}

/// Reads a snapshot of `iface` (`None` when it cannot be read).
pub fn snapshot(iface: Option<&str>) -> Option<udprx_netdev::NicSnapshot> {
    let sys = udprx_netdev::Sys::live();
    udprx_netdev::NicSnapshot::read(&sys, iface?, None).ok()
}

/// Shifts measured latency percentiles by `ns` (the clock correction), saturating at 0.
pub fn correct_latency(l: &mut crate::Latency, ns: i64) {
    let f = |v: u64| (v as i64).saturating_add(ns).max(0) as u64;
    l.min = f(l.min);
    l.max = f(l.max);
    l.p50 = f(l.p50);
    l.p90 = f(l.p90);
    l.p99 = f(l.p99);
    l.p999 = f(l.p999);
    l.p9999 = f(l.p9999);
    l.mean = (l.mean + ns as f64).max(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rps_masks() {
        assert!(!rps_mask_set("00000000\n"));
        assert!(!rps_mask_set("00000000,00000000"));
        assert!(rps_mask_set("2\n"));
        assert!(rps_mask_set("00000000,00000001"));
        assert!(!rps_mask_set("zz"));
        assert!(!rps_on("no/such"));
    }

    #[test]
    fn finds_the_interface_of_an_address() {
        let text = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                    5: ubr1n0@if4    inet 198.18.0.2/30 scope global ubr1n0\n";
        assert_eq!(parse_iface_of(text, "198.18.0.2".parse().unwrap()).as_deref(), Some("ubr1n0"));
        assert_eq!(parse_iface_of(text, "127.0.0.1".parse().unwrap()).as_deref(), Some("lo"));
        assert_eq!(parse_iface_of(text, "198.18.0.1".parse().unwrap()), None);
    }

    #[test]
    fn clock_policy_corrections() {
        assert_eq!(ClockAgreement::Stated.correction_ns(), Some(0));
        assert_eq!(ClockAgreement::Unknown("x".into()).correction_ns(), None);
        let e =
            |o| OffsetEstimate { offset_ns: o, error_bound_ns: 5, round_trip_ns: 10, samples: 8 };
        assert_eq!(ClockAgreement::Estimated(vec![e(100), e(300)]).correction_ns(), Some(200));
        assert!(ClockAgreement::Unknown("no sample".into()).describe().contains("no sample"));
        let mut l =
            crate::Latency { min: 10, max: 1000, mean: 50.0, p50: 40, ..Default::default() };
        correct_latency(&mut l, -20);
        assert_eq!((l.min, l.p50, l.max), (0, 20, 980));
    }

    #[test]
    fn merged_counts_add_up() {
        let r = |sent, ns| FloodResult {
            target: "198.18.0.2:9".parse().unwrap(),
            sent,
            bytes: sent * 18,
            send_errors: 1,
            elapsed_ns: ns,
            flows: 1,
            process_cpu_ns_per_datagram: 0.0,
            thread_cpu_ns_per_datagram: 100.0,
            stopped_early: false,
            gso_active: false,
            clock: Clock::Realtime,
            detail: serde_json::Value::Null,
        };
        let t = crate::Scenario::Classic.traffic();
        let m = merge(
            "198.18.0.2:9".parse().unwrap(),
            &t,
            Some(2000),
            Clock::Realtime,
            &[r(1000, 1_000_000_000), r(500, 500_000_000)],
        );
        assert_eq!(m.packets, 1500);
        assert_eq!(m.errors.other, 2);
        assert!((m.pps - 2000.0).abs() < 1e-6);
        assert!((m.duration_s - 1.0).abs() < 1e-9);
    }
}
