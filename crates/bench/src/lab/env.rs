//! The environment a run was measured in: kernel, CPU, cores, frequency policy, mitigations,
//! git revision. A figure without these cannot be compared with anything.

pub use crate::model::env::Env;
use std::process::Command;

impl Env {
    /// Collects everything (cheap: a few file reads and one `git` call).
    pub fn collect() -> Env {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let virtualized =
            cpuinfo.lines().any(|l| l.starts_with("flags") && l.contains(" hypervisor"));
        let usable_cores = usable_cores();
        let mitigations = std::fs::read_dir("/sys/devices/system/cpu/vulnerabilities")
            .map(|d| {
                let mut v: Vec<String> = d
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let text = std::fs::read_to_string(e.path()).ok()?;
                        Some(format!("{}: {}", e.file_name().to_string_lossy(), text.trim()))
                    })
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default();
        Env {
            kernel: read_trim("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
            cpu_model,
            cores: online_cores(),
            usable_cores,
            governor: read_trim("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            virtualized,
            mitigations,
            git_revision: git_revision(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            hostname: read_trim("/proc/sys/kernel/hostname"),
            started_utc: utc_rfc3339(std::time::SystemTime::now()),
            command: std::env::args().collect(),
        }
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Number of online cores.
pub fn online_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(usable_cores().len())
}

/// The cores this process may be scheduled on (its affinity mask), in order.
pub fn usable_cores() -> Vec<usize> {
    let mut v: Vec<usize> =
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    v.sort_unstable();
    if v.is_empty() {
        v = (0..std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).collect();
    }
    v
}

/// `git rev-parse --short HEAD` of the source tree (at run time; `-dirty` when changed).
pub fn git_revision() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out =
        Command::new("git").args(["-C", dir, "rev-parse", "--short=12", "HEAD"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut rev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args(["-C", dir, "status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        rev.push_str("-dirty");
    }
    Some(rev)
}

/// Days since 1970-01-01 to a civil (year, month, day) — Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn utc_parts(t: std::time::SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, mo, d, s / 3600, (s / 60) % 60, s % 60)
}

/// `2026-11-26T04:34:15Z`.
pub fn utc_rfc3339(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20261126-043415`, for directory names.
pub fn utc_compact(t: std::time::SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates() {
        assert_eq!(utc_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        // 2000-03-01 (a leap-year boundary) 12:34:56.
        let t = UNIX_EPOCH + Duration::from_secs(951_914_096);
        assert_eq!(utc_rfc3339(t), "2000-03-01T12:34:56Z");
        assert_eq!(utc_compact(t), "20000301-123456");
    }

    #[test]
    fn collects_something() {
        let e = Env::collect();
        assert!(e.cores >= 1);
        assert!(!e.usable_cores.is_empty());
        assert!(!e.kernel.is_empty());
    }
}
