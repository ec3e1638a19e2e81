//! Device, queue and softnet counters: snapshots and their deltas over a trial.
//!
//! - Device counters: every file of `/sys/class/net/DEV/statistics/` (`rx_packets`,
//!   `rx_dropped`, `rx_missed_errors`, `rx_fifo_errors`, `rx_over_errors`, ...): the kernel
//!   fills them from the same `rtnl_link_stats64` that rtnetlink's `IFLA_STATS64` carries.
//! - Driver statistics: `ethtool -S DEV` text ([`parse_ethtool_stats`]), per queue where the
//!   driver keeps them (`rx_queue_0_drops`, `rx-1.packets`, ...; [`queue_of`] finds the queue).
//! - Softnet: `/proc/net/softnet_stat` per CPU, with the `udprx-stats` parser (host-wide).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use udprx_stats::kernel::softnet::{SoftnetDelta, SoftnetSample, parse_softnet};

use crate::NetdevError;
use crate::books::Term;
use crate::sys::Sys;

/// One device's counters (`/sys/class/net/DEV/statistics/*`), by file name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevCounters(pub BTreeMap<String, u64>);

impl DevCounters {
    /// Reads every counter file of `dev`.
    pub fn read(sys: &Sys, dev: &str) -> Result<DevCounters, NetdevError> {
        let dir = sys.dev_dir(dev).join("statistics");
        let entries = std::fs::read_dir(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => NetdevError::NoDevice(dev.to_string()),
            _ => NetdevError::Io { path: dir.display().to_string(), source: e },
        })?;
        let mut map = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = sys.read(&entry.path())?;
            let value = text.trim().parse::<u64>().map_err(|_| NetdevError::Malformed {
                path: entry.path().display().to_string(),
                reason: format!("'{}' is not a counter", text.trim()),
            })?;
            map.insert(name, value);
        }
        Ok(DevCounters(map))
    }

    /// A counter, 0 when the device does not have it.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// `self − before` per counter (a counter that went backwards, e.g. a driver reset, gives 0).
    pub fn delta(&self, before: &DevCounters) -> DevCounters {
        DevCounters(
            self.0.iter().map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k)))).collect(),
        )
    }
}

/// Parses `ethtool -S DEV` output: `NIC statistics:` then `     name: value` lines.
/// Names keep their spelling (drivers differ: `rx_queue_0_packets`, `rx0_packets`,
/// `rx-0.packets`); lines that are not `name: integer` are errors.
pub fn parse_ethtool_stats(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.ends_with("statistics:") {
            continue;
        }
        let (name, value) =
            t.rsplit_once(':').ok_or_else(|| format!("not 'name: value': '{t}'"))?;
        let value = value
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("'{}' of {} is not a counter", value.trim(), name.trim()))?;
        out.insert(name.trim().to_string(), value);
    }
    Ok(out)
}

/// The queue a driver statistic belongs to, from its name (`rx_queue_3_drops`, `rx3_packets`,
/// `rx-3.packets`, `queue_3_rx_drops`), with the rest of the name; `None` for device-wide ones.
pub fn queue_of(name: &str) -> Option<(usize, String)> {
    let patterns = ["rx_queue_", "tx_queue_", "queue_", "rx-", "tx-", "rx", "tx"];
    for p in patterns {
        if let Some(rest) = name.strip_prefix(p) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                continue;
            }
            let tail = rest[digits.len()..].trim_start_matches(['_', '.', '-']);
            if tail.is_empty() {
                continue;
            }
            let dir = if p.starts_with("tx") {
                "tx_"
            } else if p.starts_with("rx") {
                "rx_"
            } else {
                ""
            };
            return Some((digits.parse().ok()?, format!("{dir}{tail}")));
        }
    }
    None
}

/// Everything counted about one device at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NicSnapshot {
    /// Interface name.
    pub dev: String,
    /// Device counters.
    pub dev_counters: DevCounters,
    /// Driver statistics (`ethtool -S`), empty when not taken or the driver has none.
    pub driver: BTreeMap<String, u64>,
    /// Softnet per CPU (host-wide).
    pub softnet: SoftnetSample,
}

impl NicSnapshot {
    /// Reads the device counters and softnet of `dev`, and its driver statistics: from
    /// `driver` (`ethtool -S` text) if given, else through the ethtool ioctl when
    /// [`Sys::ethtool`] (a driver without statistics gives none).
    pub fn read(sys: &Sys, dev: &str, driver: Option<&str>) -> Result<NicSnapshot, NetdevError> {
        let dev_counters = DevCounters::read(sys, dev)?;
        let path = sys.proc.join("net/softnet_stat");
        let softnet = parse_softnet(&sys.read(&path)?).map_err(|e| NetdevError::Malformed {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let driver = match driver {
            Some(text) => parse_ethtool_stats(text)
                .map_err(|reason| NetdevError::Malformed { path: "ethtool -S".into(), reason })?,
            None if sys.ethtool => crate::ethtool::driver_stats(dev).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        Ok(NicSnapshot { dev: dev.to_string(), dev_counters, driver, softnet })
    }

    /// What changed since `before`.
    pub fn delta(&self, before: &NicSnapshot) -> NicDelta {
        let driver: BTreeMap<String, u64> = self
            .driver
            .iter()
            .map(|(k, v)| (k.clone(), v.saturating_sub(before.driver.get(k).copied().unwrap_or(0))))
            .collect();
        let mut per_queue: BTreeMap<usize, BTreeMap<String, u64>> = BTreeMap::new();
        for (name, v) in &driver {
            if let Some((q, what)) = queue_of(name) {
                per_queue.entry(q).or_default().insert(what, *v);
            }
        }
        NicDelta {
            dev: self.dev.clone(),
            dev_counters: self.dev_counters.delta(&before.dev_counters),
            driver,
            per_queue,
            softnet: self.softnet.delta(&before.softnet),
        }
    }
}

/// Counter changes over a trial.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicDelta {
    /// Interface name.
    pub dev: String,
    /// Device counters.
    pub dev_counters: DevCounters,
    /// Driver statistics.
    pub driver: BTreeMap<String, u64>,
    /// Driver statistics by queue (`rx_packets`, `rx_drops`, ... per queue index).
    pub per_queue: BTreeMap<usize, BTreeMap<String, u64>>,
    /// Softnet per CPU and summed (host-wide: other traffic shows here too).
    pub softnet: SoftnetDelta,
}

/// Device receive-drop counters summed into the NIC term of the books: packets the device or
/// its driver dropped before the stack (ring full, no buffer, FIFO overrun).
pub const NIC_DROP_COUNTERS: [&str; 3] = ["rx_dropped", "rx_missed_errors", "rx_fifo_errors"];

/// Driver statistics that count frames an XDP program dropped on the device, before the stack
/// (`XDP_DROP`): device-wide names (mlx5 `rx_xdp_drop`) and, per queue after [`queue_of`],
/// veth's `rx_queue_N_xdp_drops` (→ `rx_xdp_drops`). veth counts these drops nowhere else —
/// not in `rx_dropped`, not in softnet, not in the SNMP counters — so without them the books
/// would call them unaccounted.
pub const XDP_DROP_STATS: [&str; 2] = ["rx_xdp_drop", "rx_xdp_drops"];

/// XDP drops in a delta's driver statistics, with where they were read: the device-wide
/// counters when the driver has one (its per-queue ones count the same drops again), else the
/// per-queue ones summed. `None` when the driver has neither.
pub fn xdp_drops(delta: &NicDelta) -> Option<(u64, String)> {
    let wide: Vec<(&String, u64)> = delta
        .driver
        .iter()
        .filter(|(k, _)| XDP_DROP_STATS.contains(&k.as_str()))
        .map(|(k, v)| (k, *v))
        .collect();
    if !wide.is_empty() {
        let parts: Vec<String> = wide.iter().map(|(k, v)| format!("{k} {v}")).collect();
        return Some((
            wide.iter().map(|(_, v)| v).sum(),
            format!("driver statistics (ethtool -S) {}", parts.join(" + ")),
        ));
    }
    let mut total = 0u64;
    let mut parts = Vec::new();
    for (q, stats) in &delta.per_queue {
        for name in XDP_DROP_STATS {
            if let Some(v) = stats.get(name) {
                total += v;
                parts.push(format!("queue {q} {v}"));
            }
        }
    }
    (!parts.is_empty()).then(|| {
        (
            total,
            format!("driver statistics (ethtool -S) per-queue xdp_drops: {}", parts.join(" + ")),
        )
    })
}

/// The NIC term of the books from a delta: [`NIC_DROP_COUNTERS`] of the device (each named
/// with its value in the source), plus the frames an XDP program dropped on the device
/// ([`xdp_drops`]) where the driver counts them. `rx_over_errors` is left out: drivers count
/// the same ring overrun there and in `rx_missed_errors`/`rx_fifo_errors`.
pub fn nic_drops(delta: &NicDelta) -> Term {
    let parts: Vec<String> =
        NIC_DROP_COUNTERS.iter().map(|c| format!("{c} {}", delta.dev_counters.get(c))).collect();
    let mut value: u64 = NIC_DROP_COUNTERS.iter().map(|c| delta.dev_counters.get(c)).sum();
    let mut source = format!("/sys/class/net/{}/statistics: {}", delta.dev, parts.join(" + "));
    // A packet the stack drops at a full per-CPU backlog (enqueue_to_backlog: RPS, netif_rx,
    // veth) is counted in softnet `dropped` *and* in its device's rx_dropped (the device's
    // core stats): the backlog term has it, so the NIC term leaves that share out. (With other
    // devices' backlog drops in the host-wide softnet count this can take out too much; the
    // books then show a positive remainder, never a double count.)
    let shared = delta.dev_counters.get("rx_dropped").min(delta.softnet.total.dropped);
    if shared > 0 {
        value -= shared;
        source.push_str(&format!(
            " − {shared} of rx_dropped that are backlog drops (counted in softnet dropped too; \
             booked once, as backlog drops)"
        ));
    }
    match xdp_drops(delta) {
        Some((n, from)) => {
            value += n;
            source.push_str(&format!("; XDP drops {n}: {from}"));
        }
        None if !delta.driver.is_empty() => {
            source.push_str("; XDP drops: the driver reports no XDP drop counter");
        }
        None => {}
    }
    Term { value, source }
}

/// The backlog term of the books: softnet `dropped`, summed over CPUs (host-wide).
pub fn backlog_drops(delta: &NicDelta) -> Term {
    Term {
        value: delta.softnet.total.dropped,
        source: "/proc/net/softnet_stat dropped, all CPUs (host-wide)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ethtool_stats_and_queues() {
        let text = include_str!("../tests/fixtures/ethtool-S-veth.txt");
        let s = parse_ethtool_stats(text).unwrap();
        assert_eq!(s["peer_ifindex"], 7);
        assert_eq!(s["rx_queue_1_xdp_packets"], 1200);
        assert_eq!(queue_of("rx_queue_1_xdp_drops"), Some((1, "rx_xdp_drops".into())));
        assert_eq!(queue_of("rx-3.packets"), Some((3, "rx_packets".into())));
        assert_eq!(queue_of("tx0_bytes"), Some((0, "tx_bytes".into())));
        assert_eq!(queue_of("rx_dropped"), None);
        assert_eq!(queue_of("peer_ifindex"), None);
        assert!(parse_ethtool_stats("NIC statistics:\n  x: y\n").is_err());
        let mlx =
            parse_ethtool_stats(include_str!("../tests/fixtures/ethtool-S-mlx5.txt")).unwrap();
        assert_eq!(mlx["rx_out_of_buffer"], 412);
        assert_eq!(queue_of("rx0_packets"), Some((0, "rx_packets".into())));
    }

    #[test]
    fn deltas_and_terms() {
        let mut a = NicSnapshot { dev: "eth9".into(), ..NicSnapshot::default() };
        a.dev_counters.0.insert("rx_dropped".into(), 5);
        a.dev_counters.0.insert("rx_missed_errors".into(), 100);
        a.driver.insert("rx_queue_0_drops".into(), 1);
        let mut b = a.clone();
        b.dev_counters.0.insert("rx_dropped".into(), 7);
        b.dev_counters.0.insert("rx_missed_errors".into(), 130);
        b.dev_counters.0.insert("rx_fifo_errors".into(), 1);
        b.driver.insert("rx_queue_0_drops".into(), 4);
        let d = b.delta(&a);
        let t = nic_drops(&d);
        assert_eq!(t.value, 2 + 30 + 1);
        assert!(t.source.contains("rx_missed_errors 30"), "{}", t.source);
        assert_eq!(d.per_queue[&0]["rx_drops"], 3);
        // A counter that went backwards (driver reset) is 0, not a wrap.
        assert_eq!(a.delta(&b).dev_counters.get("rx_dropped"), 0);
    }

    #[test]
    fn backlog_drops_in_rx_dropped_are_booked_once() {
        // Measured on veth + RPS (Linux 6.18): every backlog drop also raised the receiving
        // veth's rx_dropped, so the books came out 2,907 short (−2,907 unaccounted).
        let mut a = NicSnapshot { dev: "veth-rx".into(), ..NicSnapshot::default() };
        a.softnet.cpus = vec![udprx_stats::kernel::softnet::SoftnetCpu::default(); 2];
        let mut b = a.clone();
        b.dev_counters.0.insert("rx_dropped".into(), 2907);
        b.softnet.cpus[1].dropped = 2907;
        let d = b.delta(&a);
        assert_eq!(backlog_drops(&d).value, 2907);
        let t = nic_drops(&d);
        assert_eq!(t.value, 0, "{}", t.source);
        assert!(t.source.contains("2907 of rx_dropped that are backlog drops"), "{}", t.source);
        let books = crate::balance(
            Term::new(10_000, "sent"),
            Term::new(7_093, "received"),
            Term::new(0, "socket"),
            backlog_drops(&d),
            t,
        );
        assert_eq!(books.unaccounted, 0);
        // Real NIC drops beyond the backlog's stay in the NIC term.
        b.dev_counters.0.insert("rx_dropped".into(), 3000);
        assert_eq!(nic_drops(&b.delta(&a)).value, 93);
    }

    #[test]
    fn xdp_drops_join_the_nic_term_once() {
        // veth: per-queue xdp_drops only (recorded `ethtool -S`: 40 + 60).
        let veth =
            parse_ethtool_stats(include_str!("../tests/fixtures/ethtool-S-veth.txt")).unwrap();
        let before = NicSnapshot { dev: "veth0".into(), ..NicSnapshot::default() };
        let after = NicSnapshot { driver: veth, ..before.clone() };
        let d = after.delta(&before);
        assert_eq!(xdp_drops(&d).unwrap().0, 100);
        let t = nic_drops(&d);
        assert_eq!(t.value, 100);
        assert!(
            t.source.contains("XDP drops 100") && t.source.contains("queue 1 60"),
            "{}",
            t.source
        );
        // mlx5: the device-wide counter, not the per-queue copies of the same drops.
        let mut mlx = BTreeMap::new();
        mlx.insert("rx_xdp_drop".to_string(), 7u64);
        mlx.insert("rx0_xdp_drop".to_string(), 4u64);
        mlx.insert("rx1_xdp_drop".to_string(), 3u64);
        let after = NicSnapshot { driver: mlx, ..before.clone() };
        assert_eq!(nic_drops(&after.delta(&before)).value, 7);
        // A driver without XDP counters says so; no driver statistics at all say nothing.
        let mut other = BTreeMap::new();
        other.insert("rx_packets".to_string(), 5u64);
        let after = NicSnapshot { driver: other, ..before.clone() };
        let t = nic_drops(&after.delta(&before));
        assert_eq!(t.value, 0);
        assert!(t.source.contains("no XDP drop counter"), "{}", t.source);
        assert!(!nic_drops(&before.delta(&before)).source.contains("XDP"));
    }
}
