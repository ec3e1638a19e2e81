//! UDP counters of the receiving network namespace, from `/proc/thread-self/net/snmp` (and
//! `snmp6` for IPv6), sampled before and after a run and reported as deltas.
//!
//! `/proc/net/snmp` is per network namespace; a thread that entered another namespace with
//! `setns()` sees that namespace's counters only through `/proc/thread-self/...`, which is why
//! this module reads that path. Fields are looked up by their header names, never by position,
//! so kernels that add columns (IgnoredMulti, MemErrors) parse the same.

use std::collections::BTreeMap;
use std::path::Path;

/// Counters this crate names in reports, in report order (others present are kept too).
pub const UDP_FIELDS: [&str; 8] = [
    "InDatagrams",
    "NoPorts",
    "InErrors",
    "RcvbufErrors",
    "SndbufErrors",
    "InCsumErrors",
    "IgnoredMulti",
    "MemErrors",
];

/// Why a counter file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// Reading the file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The text has no such protocol section.
    #[error("no '{0}' section in the snmp counters")]
    Missing(String),
    /// Header and value lines do not match.
    #[error("malformed '{section}' section: {reason}")]
    Malformed {
        /// The protocol section.
        section: String,
        /// What is wrong.
        reason: String,
    },
}

/// Parses one protocol section (e.g. `"Udp"`) of `/proc/net/snmp` text: a header line
/// `Udp: Name1 Name2 ...` followed by a value line `Udp: 1 2 ...`.
pub fn parse_snmp(text: &str, section: &str) -> Result<BTreeMap<String, u64>, SnmpError> {
    let prefix = format!("{section}:");
    let mut lines = text.lines().filter(|l| l.split_whitespace().next() == Some(prefix.as_str()));
    let header = lines.next().ok_or_else(|| SnmpError::Missing(section.to_string()))?;
    let values = lines.next().ok_or_else(|| SnmpError::Malformed {
        section: section.to_string(),
        reason: "header without a value line".into(),
    })?;
    let names: Vec<&str> = header.split_whitespace().skip(1).collect();
    let vals: Vec<&str> = values.split_whitespace().skip(1).collect();
    if names.len() != vals.len() {
        return Err(SnmpError::Malformed {
            section: section.to_string(),
            reason: format!("{} names but {} values", names.len(), vals.len()),
        });
    }
    let mut out = BTreeMap::new();
    for (n, v) in names.into_iter().zip(vals) {
        // Some kernels print signed values (e.g. Tcp MaxConn -1); keep the bits.
        let parsed = v.parse::<u64>().or_else(|_| v.parse::<i64>().map(|x| x as u64));
        let v = parsed.map_err(|_| SnmpError::Malformed {
            section: section.to_string(),
            reason: format!("value '{v}' of {n} is not a number"),
        })?;
        out.insert(n.to_string(), v);
    }
    Ok(out)
}

/// Parses the `Udp6*` lines of `/proc/net/snmp6` (`Udp6InDatagrams  123`), names without the
/// `Udp6` prefix so they match the IPv4 names.
pub fn parse_snmp6(text: &str, prefix: &str) -> Result<BTreeMap<String, u64>, SnmpError> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(name), Some(value)) = (it.next(), it.next()) else { continue };
        let Some(short) = name.strip_prefix(prefix) else { continue };
        // "Udp6" must not match "UdpLite6...".
        if short.is_empty() || !short.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let v = value.parse::<u64>().map_err(|_| SnmpError::Malformed {
            section: prefix.to_string(),
            reason: format!("value '{value}' of {name} is not a number"),
        })?;
        out.insert(short.to_string(), v);
    }
    if out.is_empty() {
        return Err(SnmpError::Missing(prefix.to_string()));
    }
    Ok(out)
}

/// One reading of the namespace's UDP counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpSample {
    /// IPv4 `Udp:` counters.
    pub udp: BTreeMap<String, u64>,
    /// IPv6 `Udp6` counters, when IPv6 is present.
    pub udp6: Option<BTreeMap<String, u64>>,
}

fn read(path: &Path) -> Result<String, SnmpError> {
    std::fs::read_to_string(path)
        .map_err(|source| SnmpError::Io { path: path.display().to_string(), source })
}

impl UdpSample {
    /// Reads the calling thread's namespace counters (`/proc/thread-self/net/snmp{,6}`).
    pub fn read() -> Result<UdpSample, SnmpError> {
        UdpSample::read_from(Path::new("/proc/thread-self/net"))
    }

    /// Reads `snmp` and (if present) `snmp6` in directory `dir`.
    pub fn read_from(dir: &Path) -> Result<UdpSample, SnmpError> {
        let udp = parse_snmp(&read(&dir.join("snmp"))?, "Udp")?;
        let udp6 = read(&dir.join("snmp6")).ok().and_then(|t| parse_snmp6(&t, "Udp6").ok());
        Ok(UdpSample { udp, udp6 })
    }

    /// Counter changes from `before` to `self`.
    pub fn delta(&self, before: &UdpSample) -> UdpDelta {
        UdpDelta {
            udp: diff(&self.udp, &before.udp),
            udp6: match (&self.udp6, &before.udp6) {
                (Some(a), Some(b)) => Some(diff(a, b)),
                _ => None,
            },
        }
    }
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, i64> {
    after
        .iter()
        .map(|(k, &a)| (k.clone(), a.wrapping_sub(before.get(k).copied().unwrap_or(0)) as i64))
        .collect()
}

/// Changes of the UDP counters over a run (what the report carries as `kernel`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UdpDelta {
    /// IPv4 `Udp:` counter deltas by name.
    pub udp: BTreeMap<String, i64>,
    /// IPv6 `Udp6` counter deltas by name (without the prefix).
    #[serde(default)]
    pub udp6: Option<BTreeMap<String, i64>>,
}

impl UdpDelta {
    /// A counter's change summed over IPv4 and IPv6 (0 when absent).
    pub fn get(&self, name: &str) -> i64 {
        self.udp
            .get(name)
            .copied()
            .unwrap_or(0)
            .saturating_add(self.udp6.as_ref().and_then(|m| m.get(name).copied()).unwrap_or(0))
    }

    /// Adds another delta, counter by counter (merging reports).
    pub fn add(&mut self, o: &UdpDelta) {
        for (k, v) in &o.udp {
            let e = self.udp.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
        if let Some(o6) = &o.udp6 {
            let m = self.udp6.get_or_insert_with(BTreeMap::new);
            for (k, v) in o6 {
                let e = m.entry(k.clone()).or_default();
                *e = e.saturating_add(*v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 1234
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 1000 3 20 500 17 0 1 9 2
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 7 7 7 7 7 7 7 7 7
";
    const SNMP_OLD: &str = "\
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 10 0 5 4 5 0
";
    const SNMP6: &str = "\
Ip6InReceives                   	42
Udp6InDatagrams                 	300
Udp6NoPorts                     	1
Udp6InErrors                    	4
Udp6RcvbufErrors                	4
UdpLite6InDatagrams             	99
";

    #[test]
    fn parses_by_name() {
        let m = parse_snmp(SNMP, "Udp").unwrap();
        assert_eq!(m["InDatagrams"], 1000);
        assert_eq!(m["RcvbufErrors"], 17);
        assert_eq!(m["MemErrors"], 2);
        assert_eq!(m["IgnoredMulti"], 9);
        assert_eq!(m.len(), 9);
        let lite = parse_snmp(SNMP, "UdpLite").unwrap();
        assert_eq!(lite["InDatagrams"], 7);
        let old = parse_snmp(SNMP_OLD, "Udp").unwrap();
        assert_eq!((old["InErrors"], old.get("MemErrors")), (5, None));
    }

    #[test]
    fn parses_snmp6() {
        let m = parse_snmp6(SNMP6, "Udp6").unwrap();
        assert_eq!(m["InDatagrams"], 300);
        assert_eq!(m["RcvbufErrors"], 4);
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn refuses_bad_text() {
        assert!(matches!(parse_snmp("Ip: A\nIp: 1\n", "Udp"), Err(SnmpError::Missing(_))));
        assert!(matches!(
            parse_snmp("Udp: A B\nUdp: 1\n", "Udp"),
            Err(SnmpError::Malformed { .. })
        ));
        assert!(matches!(parse_snmp("Udp: A\nUdp: x\n", "Udp"), Err(SnmpError::Malformed { .. })));
        assert!(matches!(parse_snmp("Udp: A\n", "Udp"), Err(SnmpError::Malformed { .. })));
        assert!(parse_snmp6("Ip6InReceives 4\n", "Udp6").is_err());
    }

    #[test]
    fn deltas() {
        let before = UdpSample { udp: parse_snmp(SNMP_OLD, "Udp").unwrap(), udp6: None };
        let after_text = SNMP_OLD.replace("Udp: 10 0 5 4 5 0", "Udp: 110 2 9 4 9 0");
        let after = UdpSample {
            udp: parse_snmp(&after_text, "Udp").unwrap(),
            udp6: Some(parse_snmp6(SNMP6, "Udp6").unwrap()),
        };
        let d = after.delta(&before);
        assert_eq!(d.get("InDatagrams"), 100);
        assert_eq!(d.get("RcvbufErrors"), 4);
        assert_eq!(d.get("NoPorts"), 2);
        assert!(d.udp6.is_none());
        let mut sum = d.clone();
        sum.add(&d);
        assert_eq!(sum.get("InDatagrams"), 200);
    }

    #[test]
    fn reads_this_namespace() {
        let s = UdpSample::read().expect("/proc/thread-self/net/snmp is readable on Linux");
        assert!(s.udp.contains_key("InDatagrams"));
        assert!(s.udp.contains_key("RcvbufErrors"));
    }
}
