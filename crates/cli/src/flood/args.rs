//! The flood's command-line arguments (clap), in the library so that other front ends (a bench
//! harness, a client mode) can flatten them into their own command lines.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::args::CpuList;
use crate::args::parse_pinned_cpu_list;

use udpflood::units::{parse_addr, parse_clock, parse_count, parse_duration, parse_rate};
use udpflood::{Clock, Flood, FloodBuilder};

fn rate(s: &str) -> Result<u64, String> {
    parse_rate(s).map(|r| r.unwrap_or(0)).map_err(reason)
}
fn count(s: &str) -> Result<u64, String> {
    parse_count(s).map_err(reason)
}
fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(reason)
}
fn clock(s: &str) -> Result<Clock, String> {
    parse_clock(s).map_err(reason)
}
fn addr(s: &str) -> Result<SocketAddr, String> {
    parse_addr(s).map_err(reason)
}
fn reason(e: udpflood::Error) -> String {
    match e {
        udpflood::Error::Parse { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// What to send, how fast and from where (iperf3/sockperf-style flags).
#[derive(Debug, Clone, Args)]
pub struct FloodArgs {
    /// Destination address and port (IPv4, or IPv6 in brackets).
    #[arg(value_name = "DEST:PORT", value_parser = addr, help = "Destination, e.g. 127.0.0.1:9000 or [::1]:9000")]
    pub dest: SocketAddr,
    /// UDP payload bytes per datagram (18 = the probe header = a 64-byte Ethernet frame).
    #[arg(short = 'l', long = "size", value_name = "BYTES", default_value_t = udpprobe::HEADER_LEN)]
    pub size: usize,
    /// Total rate in packets per second, with k/M/G suffixes (0 = as fast as possible).
    #[arg(short = 'b', long, value_name = "PPS", value_parser = rate, default_value = "0")]
    pub rate: u64,
    /// How long to send: 10, 10s, 500ms, 2m [default: 10s, or until --count is sent].
    #[arg(short = 't', long, value_name = "TIME", value_parser = duration)]
    pub duration: Option<Duration>,
    /// Total datagrams over all flows (k/M/G suffixes).
    #[arg(short = 'n', long, value_name = "N", value_parser = count)]
    pub count: Option<u64>,
    /// Sender threads.
    #[arg(short = 'P', long, value_name = "N", default_value_t = 1)]
    pub threads: usize,
    /// Flows (distinct source ports), at least one per thread, at most 256 [default: threads].
    #[arg(long, value_name = "N")]
    pub flows: Option<usize>,
    /// CPUs to pin the threads to: 0,1 or 0-3 [default: spread over the usable CPUs, last first].
    #[arg(long, value_name = "LIST", value_parser = parse_pinned_cpu_list)]
    pub cpus: Option<CpuList>,
    /// Datagrams per sendmmsg call.
    #[arg(long, value_name = "N", default_value_t = udpflood::config::DEFAULT_BATCH)]
    pub batch: usize,
    /// Use UDP GSO (UDP_SEGMENT); falls back to sendmmsg with a warning if refused.
    #[arg(long)]
    pub gso: bool,
    /// Send bursts of N datagrams back to back at the same mean rate.
    #[arg(long, value_name = "N")]
    pub burst: Option<usize>,
    /// Local address to bind (with a port P, flow f binds P + f).
    #[arg(long, value_name = "ADDR:PORT", value_parser = addr)]
    pub bind: Option<SocketAddr>,
    /// Clock stamped in each datagram: monotonic (one host) or realtime (synced hosts).
    #[arg(long, value_name = "CLOCK", value_parser = clock, default_value = "monotonic")]
    pub clock: Clock,
    /// Sender id stamped in every probe header (1-65535; default: random per run). Receivers
    /// keep flows of different sender ids apart without reading source addresses.
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u16).range(1..))]
    pub sender_id: Option<u16>,
    /// Live report interval (0 = off).
    #[arg(short = 'i', long, value_name = "TIME", value_parser = duration, default_value = "1s")]
    pub interval: Duration,
    /// Allow a multicast, broadcast or unspecified destination (refused by default).
    #[arg(long)]
    pub allow_non_unicast: bool,
}

impl FloodArgs {
    /// The builder these arguments describe; [`FloodBuilder::build`] validates it.
    pub fn builder(&self) -> FloodBuilder {
        let mut b = Flood::builder(self.dest)
            .payload_size(self.size)
            .rate(Some(self.rate))
            .duration(self.duration)
            .count(self.count)
            .threads(self.threads)
            .cpus(self.cpus.as_ref().map(|c| c.0.clone()))
            .batch(self.batch)
            .gso(self.gso)
            .burst(self.burst)
            .bind(self.bind)
            .clock(self.clock)
            .sender_id(self.sender_id)
            .interval(Some(self.interval))
            .allow_non_unicast(self.allow_non_unicast);
        if let Some(f) = self.flows {
            b = b.flows(f);
        }
        b
    }
}
