//! The books of a trial: where every sent datagram went.
//!
//! `sent = received + socket drops + backlog drops + NIC drops + unaccounted`, each term with
//! the counter it comes from, and the remainder explained: positive (datagrams counted
//! nowhere: lost on the wire or between hosts, or dropped where the kernel keeps no counter —
//! on Linux 6.18 some drops in the per-NUMA UDP receive queues skip the SNMP counters), or
//! negative (more accounted than sent: a drop counted by two counters, or other traffic in a
//! host-wide counter such as softnet). Drops by a generic (SKB-mode) XDP program are counted
//! nowhere (measured on veth, Linux 6.18): they are unaccounted, and the explanation says so;
//! native XDP drops are in the driver's statistics ([`crate::counters::xdp_drops`]).

use serde::{Deserialize, Serialize};

/// One term of the books: a count and the counter(s) it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    /// The count.
    pub value: u64,
    /// Where it comes from (counter names, files), for the report.
    pub source: String,
}

impl Term {
    /// A term.
    pub fn new(value: u64, source: impl Into<String>) -> Term {
        Term { value, source: source.into() }
    }
}

/// A balanced account of one trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Books {
    /// Datagrams the senders handed to the kernel.
    pub sent: Term,
    /// Datagrams the receiver counted.
    pub received: Term,
    /// Drops at the receive sockets (buffer full).
    pub socket_drops: Term,
    /// Drops in the per-CPU input backlogs.
    pub backlog_drops: Term,
    /// Drops in the NIC or its driver.
    pub nic_drops: Term,
    /// `sent − received − drops`: what no counter explains (negative: counted twice).
    pub unaccounted: i64,
    /// What `unaccounted` means here, in one sentence.
    pub explanation: String,
}

/// Balances the books of a trial.
pub fn balance(sent: Term, received: Term, socket: Term, backlog: Term, nic: Term) -> Books {
    let accounted = i128::from(received.value)
        + i128::from(socket.value)
        + i128::from(backlog.value)
        + i128::from(nic.value);
    let unaccounted = (i128::from(sent.value) - accounted)
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let explanation = match unaccounted {
        0 => "balanced: every datagram sent was received or dropped at a counted place".to_string(),
        n if n > 0 => format!(
            "{n} datagram(s) sent but counted nowhere: lost on the wire or between the hosts \
             (switch, sender NIC), or dropped where the kernel keeps no counter (on Linux 6.18 \
             some drops in the per-NUMA UDP receive queues skip the SNMP RcvbufErrors counter; \
             a generic (SKB-mode) XDP program's XDP_DROP is counted by no device, driver or \
             softnet counter — native XDP drops are, in the driver's xdp_drops; with GSO or \
             GRO every drop counter counts packets, and one dropped coalesced packet held many \
             datagrams)"
        ),
        n => format!(
            "{} more datagram(s) accounted than sent: one drop seen by two counters (e.g. a \
             socket drop in both SO_RXQ_OVFL and RcvbufErrors), or other traffic in a host-wide \
             counter (softnet counts every packet of every device)",
            n.unsigned_abs()
        ),
    };
    Books {
        sent,
        received,
        socket_drops: socket,
        backlog_drops: backlog,
        nic_drops: nic,
        unaccounted,
        explanation,
    }
}

impl Books {
    /// The books as text lines, one per term.
    pub fn to_text(&self) -> String {
        let row = |name: &str, t: &Term| format!("  {name:<14} {:>14}  ({})\n", t.value, t.source);
        let mut s = String::new();
        s.push_str(&row("sent", &self.sent));
        s.push_str(&row("received", &self.received));
        s.push_str(&row("socket drops", &self.socket_drops));
        s.push_str(&row("backlog drops", &self.backlog_drops));
        s.push_str(&row("NIC drops", &self.nic_drops));
        s.push_str(&format!(
            "  {:<14} {:>14}  ({})\n",
            "unaccounted", self.unaccounted, self.explanation
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: u64) -> Term {
        Term::new(v, "test")
    }

    #[test]
    fn balances_and_explains() {
        let b = balance(t(1000), t(900), t(60), t(30), t(10));
        assert_eq!(b.unaccounted, 0);
        assert!(b.explanation.starts_with("balanced"));
        let lost = balance(t(1000), t(900), t(60), t(0), t(10));
        assert_eq!(lost.unaccounted, 30);
        assert!(lost.explanation.contains("6.18"), "{}", lost.explanation);
        let twice = balance(t(1000), t(900), t(120), t(0), t(0));
        assert_eq!(twice.unaccounted, -20);
        assert!(twice.explanation.contains("two counters"));
        let text = b.to_text();
        assert_eq!(text.lines().count(), 6, "{text}");
        // Extremes do not overflow.
        assert_eq!(balance(t(u64::MAX), t(0), t(0), t(0), t(0)).unaccounted, i64::MAX);
        assert_eq!(balance(t(0), t(u64::MAX), t(u64::MAX), t(0), t(0)).unaccounted, i64::MIN);
    }
}
