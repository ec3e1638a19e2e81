//! What a flood reports: per interval (live lines) and at the end.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use udpprobe::Clock;

/// Bytes one datagram of `payload` bytes occupies on an Ethernet wire: the frame (14-byte
/// header, IP header of 20 (IPv4) or 40 (IPv6) bytes, 8-byte UDP header, payload, 4-byte FCS,
/// padded to the 64-byte minimum) plus 8 bytes of preamble/SFD and a 12-byte inter-frame gap.
/// 18-byte payloads over IPv4 take 84 bytes: 14.88 Mpps fill 10 Gbit/s.
pub fn wire_bytes_per_datagram(payload: usize, ipv6: bool) -> u64 {
    let ip = if ipv6 { 40 } else { 20 };
    let frame = (14 + ip + 8 + payload + 4).max(64);
    (frame + 8 + 12) as u64
}

/// Send errors by kind. Each is counted per failed `sendmmsg` call, not per datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendErrors {
    /// ENOBUFS: a device or qdisc queue was full (backed off and retried).
    pub enobufs: u64,
    /// EAGAIN: the socket buffer stayed full for the send timeout (backed off and retried).
    pub eagain: u64,
    /// ECONNREFUSED: ICMP port unreachable on the connected socket (no listener yet); the
    /// flood goes on.
    pub econnrefused: u64,
    /// Any other error (retried after 1 ms; a flow gives up after 1000 in a row).
    pub other: u64,
}

impl SendErrors {
    /// Sum of all kinds (saturating).
    pub fn total(&self) -> u64 {
        self.enobufs
            .saturating_add(self.eagain)
            .saturating_add(self.econnrefused)
            .saturating_add(self.other)
    }

    /// Kind-wise `self - earlier` (for interval deltas), never below zero.
    pub fn since(&self, earlier: &SendErrors) -> SendErrors {
        SendErrors {
            enobufs: self.enobufs.saturating_sub(earlier.enobufs),
            eagain: self.eagain.saturating_sub(earlier.eagain),
            econnrefused: self.econnrefused.saturating_sub(earlier.econnrefused),
            other: self.other.saturating_sub(earlier.other),
        }
    }

    /// Kind-wise `self += o`, saturating instead of wrapping.
    pub(crate) fn add(&mut self, o: &SendErrors) {
        self.enobufs = self.enobufs.saturating_add(o.enobufs);
        self.eagain = self.eagain.saturating_add(o.eagain);
        self.econnrefused = self.econnrefused.saturating_add(o.econnrefused);
        self.other = self.other.saturating_add(o.other);
    }
}

impl fmt::Display for SendErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (enobufs {}, eagain {}, econnrefused {}, other {})",
            self.total(),
            self.enobufs,
            self.eagain,
            self.econnrefused,
            self.other
        )
    }
}

/// Datagrams one flow sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowSent {
    /// The flow id stamped in the header.
    pub flow: u8,
    /// The flow's local (source) address.
    pub source: SocketAddr,
    /// Datagrams sent; the flow's sequence numbers were `0 .. packets`.
    pub packets: u64,
}

/// One live line: what was sent during one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalReport {
    /// Interval start, seconds since the flood started.
    pub start_s: f64,
    /// Interval end, seconds since the flood started.
    pub end_s: f64,
    /// Datagrams sent in the interval.
    pub packets: u64,
    /// Datagrams per second in the interval.
    pub pps: f64,
    /// Gbit/s on the wire in the interval (see [`wire_bytes_per_datagram`]).
    pub wire_gbps: f64,
    /// Send errors in the interval.
    pub errors: SendErrors,
    /// Datagrams sent since the start.
    pub total_packets: u64,
}

impl fmt::Display for IntervalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:7.2}-{:7.2} s] sent {:>12} pps {:>9.3} Gbit/s wire  errors {}",
            self.start_s,
            self.end_s,
            fmt_count(self.pps),
            self.wire_gbps,
            self.errors.total()
        )?;
        if self.errors.total() > 0 {
            write!(
                f,
                " (enobufs {} eagain {} refused {} other {})",
                self.errors.enobufs,
                self.errors.eagain,
                self.errors.econnrefused,
                self.errors.other
            )?;
        }
        Ok(())
    }
}

/// The result of a flood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodReport {
    /// Destination.
    pub dest: SocketAddr,
    /// UDP payload bytes per datagram.
    pub payload_size: usize,
    /// Sender threads.
    pub threads: usize,
    /// Datagrams sent (taken by the kernel).
    pub packets: u64,
    /// UDP payload bytes sent.
    pub bytes: u64,
    /// Bytes on an Ethernet wire, including L2 header, FCS, minimum-frame padding, preamble and
    /// inter-frame gap (see [`wire_bytes_per_datagram`]).
    pub wire_bytes: u64,
    /// From the first thread's start to the last thread's end, seconds.
    pub duration_s: f64,
    /// Mean datagrams per second.
    pub pps: f64,
    /// Mean Gbit/s on the wire.
    pub wire_gbps: f64,
    /// Send errors by kind.
    pub errors: SendErrors,
    /// Sender threads' CPU time (user + system) per datagram sent, ns.
    pub cpu_ns_per_packet: f64,
    /// Datagrams per flow.
    pub flows: Vec<FlowSent>,
    /// GSO was asked for.
    pub gso_requested: bool,
    /// GSO was in use on every thread at the end of the run.
    pub gso_active: bool,
    /// Why GSO was not (or no longer) used, when it was asked for.
    pub gso_fallback_reason: Option<String>,
    /// Clock stamped in `tx_ns`.
    #[serde(with = "clock_name")]
    pub clock: Clock,
    /// Sender id stamped in every probe header (absent in reports from before it existed).
    #[serde(default)]
    pub sender: u16,
    /// Requested total rate, pps (`None` = as fast as possible).
    pub rate_requested: Option<u64>,
    /// The run was stopped early (signal or [`crate::StopHandle::stop`]).
    pub interrupted: bool,
}

impl FloodReport {
    /// The multi-line human summary (same as `Display`).
    pub fn to_human(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for FloodReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = match self.rate_requested {
            Some(r) => format!("{} pps requested", fmt_count(r as f64)),
            None => "unpaced".to_string(),
        };
        let gso = match (self.gso_requested, self.gso_active) {
            (false, _) => "off".to_string(),
            (true, true) => "on".to_string(),
            (true, false) => format!(
                "fell back to sendmmsg ({})",
                self.gso_fallback_reason.as_deref().unwrap_or("unknown reason")
            ),
        };
        writeln!(
            f,
            "udpflood -> {}: {} B payload, {} thread(s), {} flow(s), sender id {}, {rate}, GSO {gso}{}",
            self.dest,
            self.payload_size,
            self.threads,
            self.flows.len(),
            self.sender,
            if self.interrupted { ", interrupted" } else { "" }
        )?;
        writeln!(
            f,
            "  sent      {} datagrams, {} payload bytes in {:.3} s",
            self.packets, self.bytes, self.duration_s
        )?;
        writeln!(
            f,
            "  rate      {} pps, {:.3} Gbit/s on the wire (Ethernet incl. preamble, FCS, IFG)",
            fmt_count(self.pps),
            self.wire_gbps
        )?;
        writeln!(f, "  errors    {}", self.errors)?;
        write!(f, "  cpu       {:.1} ns per datagram (sender threads)", self.cpu_ns_per_packet)
    }
}

/// 1234567.0 -> "1.235M", 1234.0 -> "1.234k".
fn fmt_count(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.3}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.3}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.3}k", x / 1e3)
    } else {
        format!("{x:.1}")
    }
}

mod clock_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use udpprobe::Clock;

    pub(super) fn serialize<S: Serializer>(c: &Clock, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Clock, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_size_of_minimum_frames() {
        assert_eq!(wire_bytes_per_datagram(18, false), 84);
        assert_eq!(wire_bytes_per_datagram(1, false), 84); // padded to 64
        assert_eq!(wire_bytes_per_datagram(18, true), 104);
        assert_eq!(wire_bytes_per_datagram(1472, false), 1538);
    }

    #[test]
    fn json_round_trip() {
        let r = FloodReport {
            dest: "127.0.0.1:9000".parse().unwrap(),
            payload_size: 18,
            threads: 1,
            packets: 10,
            bytes: 180,
            wire_bytes: 840,
            duration_s: 1.0,
            pps: 10.0,
            wire_gbps: 6.72e-6,
            errors: SendErrors { enobufs: 1, ..Default::default() },
            cpu_ns_per_packet: 500.0,
            flows: vec![FlowSent {
                flow: 0,
                source: "127.0.0.1:5000".parse().unwrap(),
                packets: 10,
            }],
            gso_requested: true,
            gso_active: false,
            gso_fallback_reason: Some("EIO".into()),
            clock: Clock::Realtime,
            sender: 7,
            rate_requested: Some(10),
            interrupted: false,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"clock\":\"realtime\""));
        assert_eq!(serde_json::from_str::<FloodReport>(&json).unwrap(), r);
        assert!(r.to_human().contains("fell back to sendmmsg (EIO)"));
    }
}
