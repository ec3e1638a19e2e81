//! The one home of reading and writing the kernel's text files: `/proc/stat` and
//! `/proc/softirqs` columns, and sysctl values under `/proc/sys`. Pure parsers take the text, so
//! they are tested on fixed strings; the readers are one-liners around them.

use crate::{Error, Result};
use std::path::PathBuf;

/// Value number `column` (0 = user, 6 = softirq, 7 = steal) of each `cpuN` line of
/// `/proc/stat`, indexed by N. CPUs without a line (offline) read 0, as do short lines and
/// unparsable values; the aggregate `cpu` line is ignored.
pub fn parse_stat_column(text: &str, column: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some(name) = it.next() else { continue };
        let Some(n) = name.strip_prefix("cpu").and_then(|n| n.parse::<usize>().ok()) else {
            continue;
        };
        let v = it.nth(column).and_then(|v| v.parse().ok()).unwrap_or(0);
        if out.len() <= n {
            out.resize(n + 1, 0);
        }
        out[n] = v;
    }
    out
}

/// Busy ticks of each `cpuN` line of `/proc/stat`, indexed by N: user + nice + system + irq +
/// softirq (idle, iowait and steal are not work done here; guest time is already in user).
pub fn parse_stat_busy(text: &str) -> Vec<u64> {
    let cols: Vec<Vec<u64>> = [0, 1, 2, 5, 6].iter().map(|&c| parse_stat_column(text, c)).collect();
    let n = cols.iter().map(|c| c.len()).max().unwrap_or(0);
    (0..n).map(|i| cols.iter().map(|c| c.get(i).copied().unwrap_or(0)).sum()).collect()
}

/// The softirq column (7th value) of each `cpuN` line of `/proc/stat`, indexed by N.
pub fn parse_stat_softirq(text: &str) -> Vec<u64> {
    parse_stat_column(text, 6)
}

/// The NET_RX row of `/proc/softirqs`, per CPU.
pub fn parse_net_rx(text: &str) -> Vec<u64> {
    text.lines()
        .find(|l| l.trim_start().starts_with("NET_RX:"))
        .map(|l| l.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default()
}

/// The file of a sysctl.
pub fn key_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Checks that a sysctl is spelled as one ([`check_sysctl_name`](crate::lab::allowed::check_sysctl_name), on `key` as given,
/// never normalised) and exists (its file under /proc/sys is there).
pub fn validate_key(key: &str) -> Result<()> {
    crate::lab::allowed::check_sysctl_name(key).map_err(Error::BadInput)?;
    if !key_path(key).is_file() {
        return Err(Error::BadInput(format!(
            "unknown sysctl {key:?}: {} does not exist",
            key_path(key).display()
        )));
    }
    Ok(())
}

/// The value of a sysctl, whitespace-normalised; `None` when unreadable.
pub(crate) fn read_value(key: &str) -> Option<String> {
    std::fs::read_to_string(key_path(key))
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Writes a sysctl.
pub(crate) fn write_value(key: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(key_path(key), format!("{value}\n"))
}
