//! Human-readable output: the final table (the live line is
//! [`IntervalLine`](crate::stats::IntervalLine)'s `Display`).

use std::fmt::Write as _;

use super::{HistData, Report};

pub use crate::units::{fmt_count, fmt_ns};

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// Latency table heading.
pub const LATENCY_COLUMNS: [&str; 8] =
    ["count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"];

fn latency_row(out: &mut String, name: &str, h: &HistData) {
    let _ = writeln!(
        out,
        "  {:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        name,
        fmt_count(h.count),
        fmt_ns(h.p50),
        fmt_ns(h.p90),
        fmt_ns(h.p99),
        fmt_ns(h.p999),
        fmt_ns(h.p9999),
        fmt_ns(h.max),
        fmt_ns(h.mean as u64)
    );
}

/// The final report as a table for the terminal.
pub fn table(r: &Report) -> String {
    let mut o = String::new();
    let t = &r.totals;
    let _ = writeln!(
        o,
        "udprx report ({}): {} run(s), {:.2} s, stats {}",
        r.schema,
        r.runs,
        r.elapsed_s,
        match r.mode {
            crate::stats::StatsMode::Full => "full",
            crate::stats::StatsMode::Minimal => "minimal",
        }
    );
    let _ = writeln!(
        o,
        "  datagrams {}  bytes {}  foreign {}  truncated {}  mean {:.0} pps  {:.2} Mbit/s",
        fmt_count(t.datagrams),
        fmt_count(t.bytes),
        fmt_count(t.foreign),
        fmt_count(t.truncated),
        t.pps_mean,
        t.mbit_s_mean
    );
    if let Some(h) = &r.rate.pps {
        let _ = writeln!(
            o,
            "  rate per {:.2} s interval ({} intervals): mean {}  min {}  median {}  p99 {}  max {} pps",
            r.rate.interval_s,
            h.count,
            fmt_count(h.mean.round() as u64),
            fmt_count(h.min),
            fmt_count(h.p50),
            fmt_count(h.p99),
            fmt_count(h.max)
        );
    }
    if r.mode == crate::stats::StatsMode::Full {
        let expected = t.received + t.lost;
        let _ = writeln!(
            o,
            "  flows {}  received {}  lost {} ({:.3}%)  reordered {} (late {})  duplicates {}  untracked {}",
            t.flows,
            fmt_count(t.received),
            fmt_count(t.lost),
            pct(t.lost, expected),
            fmt_count(t.reordered),
            fmt_count(t.late),
            fmt_count(t.duplicates),
            fmt_count(t.untracked)
        );
        let _ = writeln!(
            o,
            "  implausible (forged or broken): sequence jumps {} discarded  restarts {}  clock anomalies {} (not latency)  untracked over flow budget {} (budget {} flows)",
            fmt_count(t.seq_anomalies),
            fmt_count(t.seq_restarts),
            fmt_count(t.clock_anomalies),
            fmt_count(t.untracked),
            fmt_count(t.flow_budget)
        );
    }
    // How the socket's drop counter was read (`drops_source` of the engine's setup), up to its
    // first comma: "SO_RXQ_OVFL", "SO_MEMINFO per interval", "/proc/net/udp at end (...)".
    let how = r
        .setup
        .get("drops_source")
        .and_then(|v| v.as_str())
        .and_then(|s| s.split(',').next())
        .unwrap_or("socket drop counter");
    let _ = write!(o, "  kernel drops ({how}) {}", fmt_count(t.kernel_drops));
    if let Some(k) = &r.kernel {
        let _ = write!(o, "  | Udp:");
        for name in crate::kernel::snmp::UDP_FIELDS {
            if k.udp.contains_key(name) || k.udp6.as_ref().is_some_and(|m| m.contains_key(name)) {
                let _ = write!(o, " {name} {:+}", k.get(name));
            }
        }
    }
    let _ = writeln!(o);
    if let Some(sn) = &r.softnet {
        let _ = writeln!(
            o,
            "  backlog (softnet_stat, host-wide): dropped {}  time_squeeze {}  processed {}",
            fmt_count(sn.total.dropped),
            fmt_count(sn.total.time_squeeze),
            fmt_count(sn.total.processed)
        );
    }
    let _ = writeln!(o, "  accounting: {}", r.accounting());
    if let Some(c) = t.cpu_ns_per_datagram {
        let _ = writeln!(
            o,
            "  cpu: user {:.3} s  sys {:.3} s  {:.0} ns/datagram",
            t.cpu_user_ns as f64 / 1e9,
            t.cpu_sys_ns as f64 / 1e9,
            c
        );
    }
    let l = &r.latency;
    if l.one_way.is_some() || l.tx_to_kernel.is_some() {
        let _ = writeln!(o, "latency ({} clock)", l.clock.as_deref().unwrap_or("unknown"));
        let _ = write!(o, "  {:<16}", "");
        for (i, c) in LATENCY_COLUMNS.iter().enumerate() {
            let _ = write!(o, " {:>w$}", c, w = if i == 0 { 10 } else { 9 });
        }
        let _ = writeln!(o);
        for (name, h) in [
            ("one-way", &l.one_way),
            ("tx -> kernel", &l.tx_to_kernel),
            ("kernel -> app", &l.kernel_to_app),
        ] {
            if let Some(h) = h {
                latency_row(&mut o, name, h);
            }
        }
    }
    if !r.threads.is_empty() {
        let _ = writeln!(o, "per socket");
        let _ = writeln!(
            o,
            "  {:>6} {:>6} {:>4} {:>14} {:>7} {:>12} {:>12} {:>10} {:>12} {:>10}",
            "report",
            "socket",
            "cpu",
            "datagrams",
            "share",
            "pps median",
            "pps min",
            "drops",
            "cpu ns/dgram",
            "dgram/call"
        );
        for th in &r.threads {
            let _ = writeln!(
                o,
                "  {:>6} {:>6} {:>4} {:>14} {:>6.1}% {:>12} {:>12} {:>10} {:>12} {:>10}",
                th.report,
                th.socket,
                th.cpu.map_or("-".into(), |c| c.to_string()),
                fmt_count(th.datagrams),
                th.share * 100.0,
                th.pps.as_ref().map_or("-".into(), |h| fmt_count(h.p50)),
                th.pps.as_ref().map_or("-".into(), |h| fmt_count(h.min)),
                fmt_count(th.kernel_drops),
                th.cpu_ns_per_datagram.map_or("-".into(), |c| format!("{c:.0}")),
                th.datagrams_per_batch.map_or("-".into(), |c| format!("{c:.1}"))
            );
        }
        for th in r.threads.iter().filter(|t| t.epoll_wakeups.is_some()) {
            let w = th.epoll_wakeups.unwrap_or(0);
            let _ = writeln!(
                o,
                "  socket {}: {} epoll_wait wake-ups, {:.1} datagrams per wake-up",
                th.socket,
                fmt_count(w),
                th.datagrams as f64 / w.max(1) as f64
            );
        }
    }
    if !r.flows.is_empty() {
        const SHOWN: usize = 16;
        let _ = writeln!(
            o,
            "per flow{}",
            if r.flows.len() > SHOWN {
                format!(" (first {SHOWN} of {})", r.flows.len())
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            o,
            "  {:<28} {:>6} {:>4} {:>14} {:>10} {:>10} {:>10}",
            "source", "sender", "flow", "received", "lost", "reordered", "duplicates"
        );
        for f in r.flows.iter().take(SHOWN) {
            let _ = writeln!(
                o,
                "  {:<28} {:>6} {:>4} {:>14} {:>10} {:>10} {:>10}",
                f.source,
                f.sender,
                f.flow,
                fmt_count(f.counts.received),
                fmt_count(f.counts.lost),
                fmt_count(f.counts.reordered),
                fmt_count(f.counts.duplicates)
            );
        }
    }
    for w in &r.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(fmt_ns(850), "850ns");
        assert_eq!(fmt_ns(25_000), "25.0µs");
        assert_eq!(fmt_ns(1_234_000), "1.23ms");
        assert_eq!(fmt_ns(2_500_000_000), "2.50s");
        assert_eq!(fmt_ns(123_400_000), "123ms");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_count(123_456), "123,456");
    }
}
