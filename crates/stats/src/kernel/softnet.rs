//! Per-CPU packet backlog counters from `/proc/net/softnet_stat`: `dropped` counts packets lost
//! because a CPU's input backlog (`net.core.netdev_max_backlog`) was full — the drops that RPS
//! and veth set-ups hit before any socket sees the packet. The file is host-wide (not per
//! namespace) and written in hex, one line per CPU.

use std::path::Path;

use super::SnmpError;

/// One CPU's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SoftnetCpu {
    /// Packets processed by the CPU's backlog.
    pub processed: u64,
    /// Packets dropped because the backlog was full.
    pub dropped: u64,
    /// Times the softirq ran out of budget with work left.
    pub time_squeeze: u64,
    /// Packets steered to this CPU by RPS (0 on kernels without the column).
    pub received_rps: u64,
}

impl SoftnetCpu {
    /// Adds another CPU's counters, saturating.
    fn add(&mut self, o: &SoftnetCpu) {
        self.processed = self.processed.saturating_add(o.processed);
        self.dropped = self.dropped.saturating_add(o.dropped);
        self.time_squeeze = self.time_squeeze.saturating_add(o.time_squeeze);
        self.received_rps = self.received_rps.saturating_add(o.received_rps);
    }
}

/// A reading of every CPU's counters, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SoftnetSample {
    /// Per CPU.
    pub cpus: Vec<SoftnetCpu>,
}

/// Change of the counters over a run (what the report carries as `softnet`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SoftnetDelta {
    /// Summed over CPUs.
    pub total: SoftnetCpu,
    /// Per CPU, in file order.
    pub cpus: Vec<SoftnetCpu>,
}

/// Parses the text of `/proc/net/softnet_stat`.
pub fn parse_softnet(text: &str) -> Result<SoftnetSample, SnmpError> {
    let bad = |reason: String| SnmpError::Malformed { section: "softnet_stat".into(), reason };
    let mut cpus = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols = line
            .split_whitespace()
            .map(|c| u64::from_str_radix(c, 16).map_err(|_| bad(format!("'{c}' is not hex"))))
            .collect::<Result<Vec<u64>, _>>()?;
        if cols.len() < 3 {
            return Err(bad(format!("{} columns, expected at least 3", cols.len())));
        }
        cpus.push(SoftnetCpu {
            processed: cols[0],
            dropped: cols[1],
            time_squeeze: cols[2],
            received_rps: cols.get(9).copied().unwrap_or(0),
        });
    }
    if cpus.is_empty() {
        return Err(SnmpError::Missing("softnet_stat".into()));
    }
    Ok(SoftnetSample { cpus })
}

impl SoftnetSample {
    /// Reads `/proc/net/softnet_stat`.
    pub fn read() -> Result<SoftnetSample, SnmpError> {
        let path = Path::new("/proc/net/softnet_stat");
        let text = std::fs::read_to_string(path)
            .map_err(|source| SnmpError::Io { path: path.display().to_string(), source })?;
        parse_softnet(&text)
    }

    /// Changes from `before` to `self` (32-bit counters in the file; wraps handled per CPU).
    pub fn delta(&self, before: &SoftnetSample) -> SoftnetDelta {
        let d = |a: u64, b: u64| (a as u32).wrapping_sub(b as u32) as u64;
        let cpus: Vec<SoftnetCpu> = self
            .cpus
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let b = before.cpus.get(i).copied().unwrap_or_default();
                SoftnetCpu {
                    processed: d(a.processed, b.processed),
                    dropped: d(a.dropped, b.dropped),
                    time_squeeze: d(a.time_squeeze, b.time_squeeze),
                    received_rps: d(a.received_rps, b.received_rps),
                }
            })
            .collect();
        let mut total = SoftnetCpu::default();
        for c in &cpus {
            total.processed += c.processed;
            total.dropped += c.dropped;
            total.time_squeeze += c.time_squeeze;
            total.received_rps += c.received_rps;
        }
        SoftnetDelta { total, cpus }
    }
}

impl SoftnetDelta {
    /// Adds another delta (merging reports; CPUs matched by position).
    pub fn add(&mut self, o: &SoftnetDelta) {
        if self.cpus.len() < o.cpus.len() {
            self.cpus.resize(o.cpus.len(), SoftnetCpu::default());
        }
        for (a, b) in self.cpus.iter_mut().zip(&o.cpus) {
            a.add(b);
        }
        self.total.add(&o.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "\
004fd509 00000000 00000004 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000
003cd052 00001258 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00091d45 00000000 00000000 00000001 00000000 00000000
";
    const AFTER: &str = "\
004fd609 00000000 00000005 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000000
00000010 00001260 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00091d55 00000000 00000000 00000001 00000000 00000000
";

    #[test]
    fn parses_hex_columns_and_deltas() {
        let b = parse_softnet(BEFORE).unwrap();
        assert_eq!(b.cpus.len(), 2);
        assert_eq!(b.cpus[1].dropped, 0x1258);
        assert_eq!(b.cpus[1].received_rps, 0x91d45);
        let a = parse_softnet(AFTER).unwrap();
        let d = a.delta(&b);
        assert_eq!(d.cpus[0].processed, 0x100);
        assert_eq!(d.cpus[0].time_squeeze, 1);
        // CPU 1's processed counter wrapped at 32 bits.
        assert_eq!(d.cpus[1].processed, 0x10 + (1u64 << 32) - 0x3cd052);
        assert_eq!(d.total.dropped, 8);
        assert_eq!(d.total.received_rps, 0x10);
        let mut sum = d.clone();
        sum.add(&d);
        assert_eq!(sum.total.dropped, 16);
        assert_eq!(sum.cpus[1].dropped, 16);
    }

    #[test]
    fn old_kernels_and_bad_text() {
        let s = parse_softnet("0000000a 00000001 00000002\n").unwrap();
        assert_eq!((s.cpus[0].processed, s.cpus[0].received_rps), (10, 0));
        assert!(parse_softnet("").is_err());
        assert!(parse_softnet("zz 00 00\n").is_err());
        assert!(parse_softnet("00 00\n").is_err());
    }

    #[test]
    fn reads_this_host() {
        let s = SoftnetSample::read().expect("/proc/net/softnet_stat is readable on Linux");
        assert!(!s.cpus.is_empty());
    }
}
