//! One measurement as data: what is measured (rows: scenario × receiver, fan-out, socket
//! options), the cell that runs it ([`CellSpec`]) and what it produced ([`CellResult`]: counts,
//! rates, CPU split, counter deltas, latency, noise).

use crate::model;
use crate::{Error, Method, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The XDP receive methods, run where AF_XDP is available (root, the veth topology); the
/// socket methods are [`Method::ALL`].
pub const XDP_METHODS: [Method; 2] = [Method::Xdp, Method::XdpDrop];

/// Parses a method named on the bench command line: any concrete engine [`Method`] (`auto` is
/// refused: a bench row measures one named path).
pub fn parse_method(s: &str) -> Result<Method> {
    match s.parse::<Method>() {
        Ok(m) if m != Method::Auto => Ok(m),
        _ => Err(Error::BadInput(format!(
            "unknown method {s:?} (expected one of: recvfrom, recvmmsg, uring, uring-recv, \
             epoll, xdp, xdp-drop)"
        ))),
    }
}

/// The fan-out kind of a row: one socket, or the plan's socket count steered by the kernel's
/// hash or by CPU. The count is the plan's ([`model::plan::Plan::sockets`]), so rows of runs with
/// different counts still match; [`Fanout::with_sockets`] gives the engine's
/// [`udprx::Fanout`], which owns the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fanout {
    /// One socket, one thread.
    One,
    /// N `SO_REUSEPORT` sockets, the kernel's flow hash picks one.
    Hash,
    /// N `SO_REUSEPORT` sockets, a BPF program picks the socket of the CPU that ran the softirq.
    Cpu,
}

impl Fanout {
    /// Every fan-out, in report order.
    pub const ALL: [Fanout; 3] = [Fanout::One, Fanout::Hash, Fanout::Cpu];

    /// The engine's fan-out of this kind with `sockets` sockets (one for [`Fanout::One`]).
    pub fn with_sockets(self, sockets: usize) -> udprx::Fanout {
        match self {
            Fanout::One => udprx::Fanout::ONE,
            Fanout::Hash => udprx::Fanout::new(sockets.max(1), udprx::Steer::Hash),
            Fanout::Cpu => udprx::Fanout::new(sockets.max(1), udprx::Steer::Cpu),
        }
    }

    /// The kind of an engine fan-out.
    pub fn of(f: udprx::Fanout) -> Fanout {
        match (f.is_one(), f.steer) {
            (true, _) => Fanout::One,
            (false, udprx::Steer::Hash) => Fanout::Hash,
            (false, udprx::Steer::Cpu) => Fanout::Cpu,
        }
    }

    /// The name used on the command line and in reports (the engine's).
    pub fn name(self) -> &'static str {
        self.with_sockets(2).name()
    }

    /// Parses a command-line name (`1` is accepted for `one`).
    pub fn parse(s: &str) -> Result<Fanout> {
        udprx::Fanout::from_name(s, 2).map(Fanout::of).map_err(Error::BadInput)
    }
}

/// A traffic scenario: what the sender offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// The classic flood: 18-byte payloads over many flows, `sendmmsg` batches, no GSO.
    /// Every datagram crosses the stack on its own; GRO cannot coalesce it.
    Classic,
    /// The GSO flood: few flows, the sender hands the kernel 64-segment UDP_SEGMENT super-buffers.
    Gso,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 2] = [Scenario::Classic, Scenario::Gso];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Classic => "classic",
            Scenario::Gso => "gso",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Result<Scenario> {
        match s {
            "classic" => Ok(Scenario::Classic),
            "gso" => Ok(Scenario::Gso),
            _ => Err(Error::BadInput(format!(
                "unknown scenario {s:?} (expected one of: classic, gso)"
            ))),
        }
    }

    /// The sender's settings for this scenario.
    pub fn traffic(self) -> Traffic {
        match self {
            Scenario::Classic => {
                Traffic { payload: udpprobe::HEADER_LEN, flows: 16, gso: false, batch: 64 }
            }
            Scenario::Gso => {
                Traffic { payload: udpprobe::HEADER_LEN, flows: 2, gso: true, batch: 64 }
            }
        }
    }
}

/// The sender's settings for a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// UDP payload bytes per datagram.
    pub payload: usize,
    /// Number of flows (distinct source sockets).
    pub flows: usize,
    /// UDP GSO on the sender.
    pub gso: bool,
    /// Datagrams per `sendmmsg` (or segments per GSO buffer).
    pub batch: usize,
}

/// Reference receivers run in the same topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// `iperf3 -s -1`, fed by an `iperf3 -u -l 18 -b 0` client.
    Iperf3,
    /// `sockperf server`, fed by udpflood with the cell's traffic.
    Sockperf,
    /// The bare C twin of `recvfrom` (`peers/c/udp_bare.c`): one `recvfrom` per datagram with
    /// the source address; only counts. Fed by udpflood.
    #[serde(rename = "c-recvfrom")]
    CRecvfrom,
    /// The bare C twin of `recvmmsg`: batch 64, MSG_WAITFORONE, no address, no control
    /// messages; only counts. Fed by udpflood.
    #[serde(rename = "c-recvmmsg")]
    CRecvmmsg,
    /// The bare C twin of `recvmmsg +gro`: as `c-recvmmsg` on a UDP_GRO socket, reading the
    /// UDP_GRO control message to count each coalesced buffer's datagrams.
    #[serde(rename = "c-recvmmsg-gro")]
    CRecvmmsgGro,
    /// The bare C twin of `uring-recv`: io_uring multishot `recv` over a provided buffer ring;
    /// only counts. Fed by udpflood.
    #[serde(rename = "c-uring")]
    CUring,
    /// The bare C twin of `uring`: io_uring multishot `recvmsg` over a provided buffer ring, no
    /// name area (as udprx's default receive); only counts.
    #[serde(rename = "c-uring-recvmsg")]
    CUringRecvmsg,
    /// The bare C twin of `uring +gro`: `c-uring-recvmsg` on a UDP_GRO socket with the UDP_GRO
    /// control message.
    #[serde(rename = "c-uring-gro")]
    CUringGro,
    /// The bare C twin of `epoll`: epoll_wait on a level-triggered epoll instance, then
    /// `recvmmsg` batches of 64 with MSG_DONTWAIT until a short batch or EAGAIN; no address, no
    /// control messages; only counts.
    #[serde(rename = "c-epoll")]
    CEpoll,
}

impl PeerKind {
    /// Every reference receiver, in report order.
    pub const ALL: [PeerKind; 9] = [
        PeerKind::Iperf3,
        PeerKind::Sockperf,
        PeerKind::CRecvfrom,
        PeerKind::CRecvmmsg,
        PeerKind::CRecvmmsgGro,
        PeerKind::CUring,
        PeerKind::CUringRecvmsg,
        PeerKind::CUringGro,
        PeerKind::CEpoll,
    ];

    /// The row name (the program name for iperf3 and sockperf).
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Iperf3 => "iperf3",
            PeerKind::Sockperf => "sockperf",
            PeerKind::CRecvfrom => "c-recvfrom",
            PeerKind::CRecvmmsg => "c-recvmmsg",
            PeerKind::CRecvmmsgGro => "c-recvmmsg-gro",
            PeerKind::CUring => "c-uring",
            PeerKind::CUringRecvmsg => "c-uring-recvmsg",
            PeerKind::CUringGro => "c-uring-gro",
            PeerKind::CEpoll => "c-epoll",
        }
    }

    /// True when the peer receives udpflood's traffic (every scenario); false for iperf3,
    /// which counts only its own client's session.
    pub fn fed_by_udpflood(self) -> bool {
        self != PeerKind::Iperf3
    }

    /// The `udp_bare` mode of a bare C twin; `None` for iperf3 and sockperf.
    pub fn c_mode(self) -> Option<&'static str> {
        match self {
            PeerKind::Iperf3 | PeerKind::Sockperf => None,
            PeerKind::CRecvfrom => Some("recvfrom"),
            PeerKind::CRecvmmsg => Some("recvmmsg"),
            PeerKind::CRecvmmsgGro => Some("recvmmsg-gro"),
            PeerKind::CUring => Some("uring"),
            PeerKind::CUringRecvmsg => Some("uring-recvmsg"),
            PeerKind::CUringGro => Some("uring-gro"),
            PeerKind::CEpoll => Some("epoll"),
        }
    }

    /// The bare C twin of a udprx receiver: the loop that makes the same receive calls and
    /// nothing else (one socket; `+sources` rows share their method's twin). `None` for XDP
    /// paths, fan-out rows, `+spin` and `recvfrom +gro`, which have none.
    pub fn twin_of(r: &Receiver) -> Option<PeerKind> {
        let Receiver::Udprx { method, fanout: Fanout::One, gro, spin: false, .. } = *r else {
            return None;
        };
        Some(match (method, gro) {
            (Method::Recvfrom, false) => PeerKind::CRecvfrom,
            (Method::Recvmmsg, false) => PeerKind::CRecvmmsg,
            (Method::Recvmmsg, true) => PeerKind::CRecvmmsgGro,
            (Method::UringRecv, false) => PeerKind::CUring,
            (Method::Uring, false) => PeerKind::CUringRecvmsg,
            (Method::Uring, true) => PeerKind::CUringGro,
            (Method::Epoll, false) => PeerKind::CEpoll,
            _ => return None,
        })
    }
}

/// Who receives in a row: a udprx path or a reference program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Receiver {
    /// A udprx receive path.
    Udprx {
        /// Receive method.
        method: Method,
        /// Fan-out.
        fanout: Fanout,
        /// UDP_GRO on the receiving sockets.
        gro: bool,
        /// Busy-spin instead of blocking waits.
        spin: bool,
        /// `+sources`: the source address and the drop counter (SO_RXQ_OVFL) read with every
        /// datagram. Without (the default), the receive calls are a bare loop's: flows are kept
        /// apart by the probe header's sender id, drops read per interval. Written only when
        /// true; plans from before it existed read as false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sources: bool,
    },
    /// A reference receiver.
    Peer {
        /// Which program.
        peer: PeerKind,
    },
}

/// One row of the report: a scenario and a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Row {
    /// The traffic.
    pub scenario: Scenario,
    /// The receiver.
    pub receiver: Receiver,
}

impl Row {
    /// A udprx row.
    pub fn udprx(scenario: Scenario, method: Method, fanout: Fanout, gro: bool) -> Row {
        Row {
            scenario,
            receiver: Receiver::Udprx { method, fanout, gro, spin: false, sources: false },
        }
    }

    /// A `+sources` udprx row (`recvmmsg+sources`): source address and drop counter read per
    /// datagram, never with GRO.
    pub fn udprx_sources(scenario: Scenario, method: Method, fanout: Fanout) -> Row {
        Row {
            scenario,
            receiver: Receiver::Udprx { method, fanout, gro: false, spin: false, sources: true },
        }
    }

    /// The path label without the scenario, e.g. `recvmmsg 2×hash +gro`.
    pub fn path_label(&self, sockets: usize) -> String {
        match self.receiver {
            Receiver::Udprx { method, fanout, gro, spin, sources } => {
                let mut s = method.as_str().to_string();
                if sources {
                    s.push_str("+sources");
                }
                match fanout {
                    Fanout::One => s.push_str(" 1×"),
                    f => s.push_str(&format!(" {sockets}×{}", f.name())),
                }
                if gro {
                    s.push_str(" +gro");
                }
                if spin {
                    s.push_str(" +spin");
                }
                s
            }
            Receiver::Peer { peer } => format!("{} (peer)", peer.name()),
        }
    }

    /// The full label, e.g. `classic recvmmsg 2×hash`.
    pub fn label(&self, sockets: usize) -> String {
        format!("{} {}", self.scenario.name(), self.path_label(sockets))
    }

    /// True for a udprx row.
    pub fn is_udprx(&self) -> bool {
        matches!(self.receiver, Receiver::Udprx { .. })
    }

    /// True for a ceiling: a row that counts and drops before any application sees the datagram
    /// (`xdp-drop`). It bounds what the delivering paths can reach and is not ranked among them.
    pub fn is_ceiling(&self) -> bool {
        matches!(self.receiver, Receiver::Udprx { method: Method::XdpDrop, .. })
    }

    /// True for a contender: a udprx path that delivers datagrams to the application. Ceilings
    /// (`xdp-drop`) and reference receivers (the peers) are reported apart from contenders.
    pub fn is_contender(&self) -> bool {
        self.is_udprx() && !self.is_ceiling()
    }
}

/// Receiver options a profile sets: socket options and the statistics mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockOpts {
    /// SO_RCVBUF(FORCE) bytes.
    pub rcvbuf: Option<usize>,
    /// SO_BUSY_POLL microseconds.
    pub busy_poll: Option<u32>,
    /// SO_PREFER_BUSY_POLL (and, on the `epoll` rows with a busy-poll time, the epoll
    /// instance's prefer_busy_poll); `None`: not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer_busy_poll: Option<bool>,
    /// SO_BUSY_POLL_BUDGET packets (and, on the `epoll` rows with a busy-poll time, the epoll
    /// instance's budget); `None`: not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_poll_budget: Option<u16>,
    /// What the receiver's recorders measure (default full); `minimal` is the bare-drain
    /// reference for the statistics' own cost.
    #[serde(default)]
    pub stats: Option<udprx_stats::stats::StatsMode>,
}

/// Everything one measurement needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSpec {
    /// What is measured.
    pub row: Row,
    /// Sockets for hash/cpu fan-out.
    pub sockets: usize,
    /// Offered rate in datagrams per second; `None` floods as fast as the sender can.
    pub rate: Option<u64>,
    /// Sending time in seconds.
    pub secs: f64,
    /// Cores the sender threads are pinned to.
    pub sender_cpus: Vec<usize>,
    /// Cores the receiver threads are pinned to (one per socket, cycled).
    pub receiver_cpus: Vec<usize>,
    /// Kernel receive timestamps (latency split) on.
    pub timestamps: bool,
    /// Socket options from the active setting.
    pub sockopts: SockOpts,
}

/// Latency percentiles in nanoseconds: the statistics layer's percentile set.
pub use udprx_stats::report::Percentiles as Latency;

/// How the bench report writes a latency percentile set: `{p50_ns, p90_ns, p99_ns, p999_ns,
/// max_ns}` (the fields the bench shows), for `#[serde(with = "latency_json")]` on an
/// `Option<Latency>`.
pub mod latency_json {
    use super::Latency;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Ns {
        p50_ns: u64,
        p90_ns: u64,
        p99_ns: u64,
        p999_ns: u64,
        max_ns: u64,
    }

    /// Writes the set's bench fields.
    pub fn serialize<S: Serializer>(l: &Option<Latency>, s: S) -> Result<S::Ok, S::Error> {
        l.map(|l| Ns {
            p50_ns: l.p50,
            p90_ns: l.p90,
            p99_ns: l.p99,
            p999_ns: l.p999,
            max_ns: l.max,
        })
        .serialize(s)
    }

    /// Reads them back (the fields the bench does not write read as 0).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Latency>, D::Error> {
        Ok(Option::<Ns>::deserialize(d)?.map(|n| Latency {
            p50: n.p50_ns,
            p90: n.p90_ns,
            p99: n.p99_ns,
            p999: n.p999_ns,
            max: n.max_ns,
            ..Latency::default()
        }))
    }
}

/// Deltas of the receiving namespace's `/proc/net/snmp` Udp counters over a cell.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnmpDelta {
    /// Datagrams delivered to applications.
    pub in_datagrams: u64,
    /// Datagrams dropped because a socket buffer was full.
    pub rcvbuf_errors: u64,
    /// Input errors (includes the buffer drops).
    pub in_errors: u64,
    /// Datagrams for a port nobody listened on.
    pub no_ports: u64,
}

impl SnmpDelta {
    /// The four counters of a stats-layer delta (IPv4 and IPv6 summed; a counter that went
    /// backwards reads 0).
    pub fn of(d: &udprx_stats::kernel::UdpDelta) -> SnmpDelta {
        let g = |n: &str| d.get(n).max(0) as u64;
        SnmpDelta {
            in_datagrams: g("InDatagrams"),
            rcvbuf_errors: g("RcvbufErrors"),
            in_errors: g("InErrors"),
            no_ports: g("NoPorts"),
        }
    }
}

/// Where the CPU time of a cell went, and how it divides over the received datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSplit {
    /// User time of the receiving threads (or process), ns.
    pub app_user_ns: u64,
    /// System time of the receiving threads (or process), ns.
    pub app_sys_ns: u64,
    /// Softirq time on the receiver's cores (`/proc/stat`), ns.
    pub rx_softirq_ns: u64,
    /// Softirq time on the sender's cores (`/proc/stat`), ns.
    pub tx_softirq_ns: u64,
    /// NET_RX softirq invocations on the receiver's cores (`/proc/softirqs`).
    pub rx_net_rx: u64,
    /// Application (user + sys) ns per received datagram.
    pub app_ns_per_dgram: f64,
    /// Receiver-core softirq ns per received datagram.
    pub softirq_ns_per_dgram: f64,
    /// Busy time of every receive-side core over the trial (user, nice, system, irq and
    /// softirq ticks of `/proc/stat`: the application, softirq, NAPI kthreads, ksoftirqd —
    /// whatever ran there), ns. 0 in reports written before it was sampled.
    #[serde(default)]
    pub rx_busy_ns: u64,
    /// `rx_busy_ns` per received datagram.
    #[serde(default)]
    pub rx_busy_ns_per_dgram: f64,
}

impl CpuSplit {
    /// The headline CPU cost: the whole receive side per delivered datagram — the busy time
    /// of the receive cores, never less than the application and the receive softirq measured
    /// apart (tick sampling can undercount a short trial); for reports without the busy time,
    /// application + softirq. Verdicts on CPU use this, so moving work from the application
    /// into softirq or a kernel thread does not look like saving it.
    pub fn whole_ns_per_dgram(&self) -> f64 {
        self.rx_busy_ns_per_dgram.max(self.app_ns_per_dgram + self.softirq_ns_per_dgram)
    }
}

/// The outcome of one measurement cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// Datagrams the sender sent.
    pub sent: u64,
    /// Datagrams the receiver counted (GRO segments counted one by one).
    pub received: u64,
    /// Datagrams lost (sequence gaps, or sent − received where there is no sequence).
    pub lost: u64,
    /// Kernel drops (SO_RXQ_OVFL or the namespace's RcvbufErrors).
    pub kernel_drops: u64,
    /// Drops on a full per-CPU input backlog (`/proc/net/softnet_stat`, machine-wide): where
    /// RPS or loopback/veth input overflows before the socket.
    #[serde(default)]
    pub backlog_drops: u64,
    /// Sender's achieved rate, datagrams per second.
    pub sent_pps: f64,
    /// Received datagrams per second over the receive window.
    pub rx_pps: f64,
    /// Median per-interval receive rate, when the stats layer measured intervals.
    pub rx_pps_median_interval: Option<f64>,
    /// Latency percentiles (send to application), when measured.
    #[serde(with = "latency_json")]
    pub latency: Option<Latency>,
    /// `/proc/net/snmp` Udp deltas in the receiving namespace.
    pub snmp: Option<SnmpDelta>,
    /// CPU split.
    pub cpu: CpuSplit,
    /// Seconds the receiver ran.
    pub elapsed_s: f64,
    /// Things the reader should know about this cell.
    pub notes: Vec<String>,
    /// The sender's own report (udpflood `FloodReport`), as JSON.
    pub sender_report: serde_json::Value,
    /// The receiver's own report (udprx report schema), as JSON.
    pub receiver_report: serde_json::Value,
    /// Steal time, preemptions and migrations of the receiving threads during the cell.
    #[serde(default)]
    pub noise: Option<model::noise::TrialNoise>,
}

impl CellResult {
    /// Loss as a fraction of what was sent.
    pub fn loss_ratio(&self) -> f64 {
        if self.sent == 0 { 0.0 } else { self.lost as f64 / self.sent as f64 }
    }

    /// True when nothing was lost or dropped and something arrived.
    pub fn lossless(&self) -> bool {
        self.received > 0 && self.lost == 0 && self.kernel_drops == 0
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label(2))
    }
}
