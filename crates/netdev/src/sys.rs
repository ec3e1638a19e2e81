//! Where the kernel's files are: `/sys` and `/proc`, or a recorded copy of them.

use std::path::{Path, PathBuf};

use crate::NetdevError;

/// The roots of sysfs and procfs to read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sys {
    /// sysfs root (`/sys`).
    pub sys: PathBuf,
    /// procfs root (`/proc`).
    pub proc: PathBuf,
    /// Whether the devices under `sys` are the calling thread's, so the ethtool ioctl and
    /// netdev generic netlink (per-NAPI settings) may be asked about them too (the live system,
    /// or a sysfs mounted in the thread's namespace); `false` for recorded trees.
    pub ethtool: bool,
}

impl Default for Sys {
    fn default() -> Self {
        Sys { sys: PathBuf::from("/sys"), proc: PathBuf::from("/proc"), ethtool: true }
    }
}

impl Sys {
    /// The live system.
    pub fn live() -> Sys {
        Sys::default()
    }

    /// A recorded tree with `sys/` and `proc/` under `root`.
    pub fn at(root: &Path) -> Sys {
        Sys { sys: root.join("sys"), proc: root.join("proc"), ethtool: false }
    }

    /// `/sys/class/net/DEV`.
    pub fn dev_dir(&self, dev: &str) -> PathBuf {
        self.sys.join("class/net").join(dev)
    }

    /// Reads a file as text.
    pub fn read(&self, path: &Path) -> Result<String, NetdevError> {
        std::fs::read_to_string(path)
            .map_err(|source| NetdevError::Io { path: path.display().to_string(), source })
    }

    /// Reads a file, `None` if it is missing or unreadable.
    pub fn read_opt(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// Parses a kernel CPU list (`0-3,8,10-11`; empty: none).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |t: &str| t.parse::<usize>().map_err(|_| format!("bad CPU list '{s}'"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a || b - a > 65_536 {
                    return Err(format!("bad CPU range '{part}'"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Formats CPUs as a kernel CPU list (`0-3,8`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        parts.push(if i == j { v[i].to_string() } else { format!("{}-{}", v[i], v[j]) });
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_round_trip() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n").unwrap(), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert_eq!(format_cpu_list(&[11, 0, 1, 2, 3, 8, 10]), "0-3,8,10-11");
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
    }
}
