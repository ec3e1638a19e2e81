//! The crash journal: what a killed `udprx bench` leaves changed is put back by the next run
//! (or `udprx bench --restore`), which says so.
//!
//! Before the harness changes a global sysctl it writes the original value to a journal file,
//! `/run/udprx-bench/sysctl-<pid>-<n>.json` (`UDPRX_BENCH_JOURNAL_DIR` overrides the directory,
//! for tests), and it removes the file once every value is back. A SIGKILL, an abort or a power
//! cut of the harness leaves the file behind; the next run finds journals whose process is gone
//! (the pid no longer exists, or now belongs to a process that started later), writes the
//! original values back, and reports each one in a note and a line on stderr. The directory is
//! under `/run`, a tmpfs: a reboot resets the sysctls and empties the journal alike, so an old
//! journal never overrides the values of a new boot.
//!
//! Per-namespace sysctls, RPS masks and veth GRO live inside the benchmark's namespaces; the
//! namespaces of dead runs are found by name ([`topology::stale_namespaces`]) and deleted by the
//! same recovery.

use crate::lab::procfs;
use crate::lab::topology;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where journals live unless `UDPRX_BENCH_JOURNAL_DIR` says otherwise.
pub const DIR: &str = "/run/udprx-bench";

/// The `schema` field of a journal file.
pub const SCHEMA: &str = "udprx-bench-journal/1";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The journal directory: `UDPRX_BENCH_JOURNAL_DIR`, or [`DIR`].
pub fn dir() -> PathBuf {
    std::env::var_os("UDPRX_BENCH_JOURNAL_DIR").map(PathBuf::from).unwrap_or_else(|| DIR.into())
}

/// One journal file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    schema: String,
    /// The process that changed the values.
    pid: u32,
    /// Its start time (clock ticks after boot), to tell a reused pid from the writer.
    start_ticks: Option<u64>,
    /// Global sysctls changed, with their original values.
    sysctls: BTreeMap<String, String>,
}

/// The journal of one applier: a file that exists exactly while global values are changed.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// A journal in `dir`, unique to this process and call; nothing is written yet.
    pub fn new_in(dir: &Path) -> Journal {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Journal { path: dir.join(format!("sysctl-{}-{n}.json", std::process::id())) }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `originals` (key → original value) durably before any of them is changed; an
    /// empty map removes the file.
    pub fn record(&self, originals: &BTreeMap<String, String>) -> io::Result<()> {
        if originals.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let pid = std::process::id();
        let rec = Record {
            schema: SCHEMA.into(),
            pid,
            start_ticks: start_ticks(pid),
            sysctls: originals.clone(),
        };
        write_record(&self.path, &rec)
    }
}

/// Refuses a journal directory that another user owns or may write: its files say which
/// sysctls to write.
fn check_trusted(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if (m.uid() != euid && m.uid() != 0) || m.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "sysctl journal directory {} is not trusted: owned by uid {} with mode {:o} \
             (expected owned by root or uid {euid}, writable by no one else)",
            dir.display(),
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Writes a record through a temporary file and a rename: the journal is whole or absent.
fn write_record(path: &Path, rec: &Record) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
        check_trusted(parent)?;
    }
    let text = serde_json::to_string_pretty(rec).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The start time of process `pid` in clock ticks after boot (field 22 of /proc/PID/stat).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True when the process that wrote a journal is gone: no such pid, or the pid now names a
/// process that started at another time.
pub fn writer_is_gone(pid: u32, ticks: Option<u64>) -> bool {
    match (start_ticks(pid), ticks) {
        (None, _) => true,
        (Some(now), Some(then)) => now != then,
        (Some(_), None) => false,
    }
}

/// One value put back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The sysctl.
    pub key: String,
    /// What the dead run left (`None` when unreadable).
    pub left: Option<String>,
    /// The original value, written back.
    pub original: String,
    /// The dead run's pid.
    pub pid: u32,
}

/// What a recovery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Values put back.
    pub restored: Vec<Restored>,
    /// What could not be put back or read, one line each; their journals are kept.
    pub failures: Vec<String>,
    /// Namespaces of dead runs deleted.
    pub namespaces: Vec<String>,
}

impl Recovery {
    /// True when there was nothing to do.
    pub fn is_empty(&self) -> bool {
        self.restored.is_empty() && self.failures.is_empty() && self.namespaces.is_empty()
    }

    /// One line per action, for the report's notes and stderr.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .restored
            .iter()
            .map(|r| {
                let left = match &r.left {
                    Some(v) if *v == r.original => "it was already back".to_string(),
                    Some(v) => format!("it was {v}"),
                    None => "it was unreadable".to_string(),
                };
                format!(
                    "restored sysctl {} = {} left changed by a killed run (pid {}); {left}",
                    r.key, r.original, r.pid
                )
            })
            .collect();
        if !self.namespaces.is_empty() {
            out.push(format!(
                "removed namespaces left by killed runs: {}",
                self.namespaces.join(", ")
            ));
        }
        out.extend(self.failures.iter().cloned());
        out
    }
}

/// Restores the journals of dead runs in [`dir()`] and, when `namespaces` is set (root), deletes
/// the namespaces of dead runs.
pub fn recover(namespaces: bool) -> Recovery {
    let mut r = recover_in(&dir(), writer_is_gone);
    if namespaces {
        r.namespaces = topology::remove_stale_namespaces();
    }
    r
}

/// Restores every journal in `dir` whose writer `is_gone(pid, start_ticks)`: writes the original
/// values back, removes the journal when all are back and keeps what failed in it otherwise.
pub fn recover_in(dir: &Path, is_gone: impl Fn(u32, Option<u64>) -> bool) -> Recovery {
    let mut out = Recovery::default();
    if !dir.exists() {
        return out;
    }
    if let Err(e) = check_trusted(dir) {
        out.failures.push(e.to_string());
        return out;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(rest) = name.strip_prefix("sysctl-") else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if name.ends_with(".json.tmp") {
            // Written before any value changed and never renamed: nothing to restore.
            if pid.is_some_and(|p| is_gone(p, None)) {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if !name.ends_with(".json") {
            continue;
        }
        let rec: Record = match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                out.failures.push(format!("unreadable sysctl journal {}: {e}", path.display()));
                continue;
            }
        };
        if !is_gone(rec.pid, rec.start_ticks) {
            continue; // a live run's journal
        }
        let mut left = BTreeMap::new();
        for (key, original) in &rec.sysctls {
            if let Err(e) = procfs::validate_key(key) {
                out.failures.push(format!("sysctl journal {}: {e}", path.display()));
                left.insert(key.clone(), original.clone());
                continue;
            }
            let now = procfs::read_value(key);
            match procfs::write_value(key, original) {
                Ok(()) => out.restored.push(Restored {
                    key: key.clone(),
                    left: now,
                    original: original.clone(),
                    pid: rec.pid,
                }),
                Err(e) => {
                    out.failures.push(format!(
                        "could not restore sysctl {key} = {original} left changed by a killed run \
                         (pid {}): {e}; run `udprx bench --restore` as root",
                        rec.pid
                    ));
                    left.insert(key.clone(), original.clone());
                }
            }
        }
        let kept = if left.is_empty() {
            std::fs::remove_file(&path)
        } else {
            write_record(&path, &Record { sysctls: left, ..rec })
        };
        if let Err(e) = kept {
            out.failures.push(format!("sysctl journal {}: {e}", path.display()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("udprx-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn journal_exists_while_values_are_changed() {
        let d = tmp("life");
        let j = Journal::new_in(&d);
        let mut m = BTreeMap::new();
        m.insert("net.core.somaxconn".to_string(), "4096".to_string());
        j.record(&m).unwrap();
        let rec: Record =
            serde_json::from_str(&std::fs::read_to_string(j.path()).unwrap()).unwrap();
        assert_eq!(rec.schema, SCHEMA);
        assert_eq!(rec.pid, std::process::id());
        assert_eq!(rec.start_ticks, start_ticks(std::process::id()));
        assert_eq!(rec.sysctls, m);
        // A live writer's journal is left alone.
        assert!(!writer_is_gone(rec.pid, rec.start_ticks));
        assert!(recover_in(&d, writer_is_gone).is_empty());
        assert!(j.path().exists());
        j.record(&BTreeMap::new()).unwrap();
        assert!(!j.path().exists());
        j.record(&BTreeMap::new()).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dead_writers_are_recognised() {
        let me = std::process::id();
        let ticks = start_ticks(me);
        assert!(ticks.is_some());
        assert!(!writer_is_gone(me, ticks));
        // The same pid with another start time is a reused pid.
        assert!(writer_is_gone(me, ticks.map(|t| t + 1)));
        // pid_max is at most 4194304.
        assert!(writer_is_gone(4_194_305, None));
    }

    #[test]
    fn unreadable_journals_are_reported_and_temporaries_of_dead_runs_removed() {
        let d = tmp("junk");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("sysctl-1-0.json"), "{not json").unwrap();
        std::fs::write(d.join("sysctl-4194305-0.json.tmp"), "{}").unwrap();
        std::fs::write(d.join("unrelated.txt"), "x").unwrap();
        let r = recover_in(&d, |_, _| true);
        assert_eq!(r.failures.len(), 1, "{r:?}");
        assert!(r.failures[0].contains("unreadable"), "{r:?}");
        assert!(!d.join("sysctl-4194305-0.json.tmp").exists());
        assert!(d.join("unrelated.txt").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
