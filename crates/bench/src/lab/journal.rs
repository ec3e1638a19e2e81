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
//!
//! NIC settings (`--nic`, [`crate::lab::nic`]) are journaled the same way in
//! `nic-<pid>-<n>.json` files ([`NicEntry`]): the original value of each setting before it
//! changes. Recovery writes back only the kinds `--nic` writes, on the device the record names,
//! with values of the setting's shape ([`allowed::check_nic`], never normalised); a setting of
//! a device inside the dead run's own namespace went with the namespace and is not written.

use crate::Error;
use crate::lab::{allowed, procfs, topology};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use udprx_stats::bounded::JOURNAL_MAX_BYTES;

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
    #[serde(default)]
    sysctls: BTreeMap<String, String>,
    /// NIC settings changed (`nic-*.json` files), with their original values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nic: Vec<NicEntry>,
}

/// One NIC setting in a journal: what to write back, and the namespace of the device when it
/// lives in one of the bench's own namespaces (then deleting the namespace undoes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicEntry {
    /// The bench namespace the device lives in (`udpb-<pid>-<n>-rx`), `None`: this one.
    pub netns: Option<String>,
    /// The setting, its original value and the value set.
    pub record: udprx_netdev::RestoreRecord,
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

    /// A journal of NIC settings in `dir` (`nic-<pid>-<n>.json`: a run of an older udprx,
    /// which reads `sysctl-*` files only, leaves it alone rather than half-reading it).
    pub fn nic_in(dir: &Path) -> Journal {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Journal { path: dir.join(format!("nic-{}-{n}.json", std::process::id())) }
    }

    /// Records the NIC settings changed, with their originals, durably before the change; an
    /// empty list removes the file.
    pub fn record_nic(&self, entries: &[NicEntry]) -> io::Result<()> {
        if entries.is_empty() {
            return self.record(&BTreeMap::new());
        }
        let pid = std::process::id();
        let rec = Record {
            schema: SCHEMA.into(),
            pid,
            start_ticks: start_ticks(pid),
            sysctls: BTreeMap::new(),
            nic: entries.to_vec(),
        };
        write_record(&self.path, &rec)
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
            nic: Vec::new(),
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
    /// NIC settings put back (or undone with their namespace), one line each.
    pub nic: Vec<String>,
}

impl Recovery {
    /// True when there was nothing to do.
    pub fn is_empty(&self) -> bool {
        self.restored.is_empty()
            && self.failures.is_empty()
            && self.namespaces.is_empty()
            && self.nic.is_empty()
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
        out.extend(self.nic.iter().cloned());
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
        let Some(rest) = name.strip_prefix("sysctl-").or_else(|| name.strip_prefix("nic-")) else {
            continue;
        };
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
        let rec: Record = match udprx_stats::bounded::read_to_string(&path, JOURNAL_MAX_BYTES)
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
            // Checked as written, never normalised: `/proc/sys` joined with an absolute path is
            // that path. Only the settings the bench itself changes are put back.
            if let Err(e) = allowed::check_sysctl(key)
                .map_err(Error::BadInput)
                .and_then(|()| procfs::validate_key(key))
            {
                out.failures.push(format!("sysctl journal {}: refused: {e}", path.display()));
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
        let mut nic_left = Vec::new();
        for entry in &rec.nic {
            if let Some(line) = recover_nic(entry, rec.pid, &path, &mut out) {
                out.nic.push(line);
            } else {
                nic_left.push(entry.clone());
            }
        }
        let kept = if left.is_empty() && nic_left.is_empty() {
            std::fs::remove_file(&path)
        } else {
            write_record(&path, &Record { sysctls: left, nic: nic_left, ..rec })
        };
        if let Err(e) = kept {
            out.failures.push(format!("sysctl journal {}: {e}", path.display()));
        }
    }
    out
}

/// Restores one journaled NIC setting of the dead run `pid`: the line saying what was done, or
/// `None` (with the reason in `out.failures`) when it is refused or fails and stays journaled.
/// Only the settings `--nic` writes, on the device the record names, are accepted — checked as
/// written ([`allowed::check_nic`]), never normalised.
fn recover_nic(entry: &NicEntry, pid: u32, path: &Path, out: &mut Recovery) -> Option<String> {
    let r = &entry.record;
    if let Err(e) = allowed::check_nic(entry.netns.as_deref(), pid, r) {
        out.failures.push(format!("NIC journal {}: refused: {e}", path.display()));
        return None;
    }
    if let Some(ns) = &entry.netns {
        // The device lived in the dead run's own namespace: deleting the namespace (below, or
        // already done) deletes the device with its settings. Nothing is written.
        return Some(format!(
            "NIC setting {} = {} of a killed run (pid {pid}) lived in its namespace {ns}: undone \
             with the namespace",
            r.setting.describe(),
            r.after
        ));
    }
    let s = udprx_netdev::Settings {
        sys: udprx_netdev::Sys::live(),
        ethtool: &udprx_netdev::settings::EthtoolBinary,
    };
    let now = s.read(&r.setting).ok();
    match s.restore_noting(r) {
        Ok(notes) => Some(format!(
            "restored NIC setting {} = {} left changed by a killed run (pid {pid}); it was {}{}",
            r.setting.describe(),
            r.before,
            now.as_deref().unwrap_or("unreadable"),
            // Per-NAPI ids the device no longer lists: said, not written.
            notes.iter().map(|n| format!("; {n}")).collect::<String>()
        )),
        Err(e) => {
            out.failures.push(format!(
                "could not restore NIC setting {} = {} left changed by a killed run (pid {pid}): \
                 {e}; run `udprx bench --restore` as root",
                r.setting.describe(),
                r.before
            ));
            None
        }
    }
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

    /// Writes a journal of a dead run (pid 4194305 cannot exist) naming `sysctls`.
    fn forged(d: &Path, sysctls: &[(&str, &str)]) -> PathBuf {
        std::fs::create_dir_all(d).unwrap();
        let rec = Record {
            schema: SCHEMA.into(),
            pid: 4_194_305,
            start_ticks: None,
            sysctls: sysctls.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            nic: Vec::new(),
        };
        let path = d.join("sysctl-4194305-0.json");
        std::fs::write(&path, serde_json::to_string(&rec).unwrap()).unwrap();
        path
    }

    #[test]
    fn a_journal_key_never_escapes_proc_sys() {
        let d = tmp("escape");
        std::fs::create_dir_all(&d).unwrap();
        let scratch = d.join("victim");
        std::fs::write(&scratch, "original\n").unwrap();
        let abs = scratch.to_str().unwrap().to_string();
        let rel = format!("../../..{abs}");
        let spelled = [abs.as_str(), rel.as_str(), "net/../../../etc/x", "net.core..x", ""];
        for key in spelled {
            let path = forged(&d, &[(key, "PWNED")]);
            let r = recover_in(&d, |_, _| true);
            assert!(r.restored.is_empty(), "{key:?}: {r:?}");
            assert_eq!(r.failures.len(), 1, "{key:?}: {r:?}");
            assert!(r.failures[0].contains("refused"), "{key:?}: {r:?}");
            assert_eq!(std::fs::read_to_string(&scratch).unwrap(), "original\n", "{key:?}");
            // The journal is kept for a person to look at.
            assert!(path.exists());
            std::fs::remove_file(&path).unwrap();
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_journal_restores_only_sysctls_the_bench_changes() {
        let d = tmp("allow");
        // Journaled with the values they have now: harmless even if written.
        let panic = procfs::read_value("kernel.panic").unwrap();
        let burst = procfs::read_value("kernel.printk_ratelimit_burst").unwrap();
        forged(&d, &[("kernel.panic", &panic), ("kernel.printk_ratelimit_burst", &burst)]);
        let r = recover_in(&d, |_, _| true);
        assert!(r.restored.is_empty(), "{r:?}");
        assert_eq!(r.failures.len(), 2, "{r:?}");
        for f in &r.failures {
            assert!(f.contains("refused") && f.contains("not a sysctl the bench changes"), "{f}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Writes a NIC journal of a dead run (pid 4194305 cannot exist) from raw JSON entries.
    fn forged_nic(d: &Path, n: usize, entries: &str) -> PathBuf {
        std::fs::create_dir_all(d).unwrap();
        let path = d.join(format!("nic-4194305-{n}.json"));
        let text = format!(
            r#"{{"schema":"{SCHEMA}","pid":4194305,"start_ticks":null,"nic":[{entries}]}}"#
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_nic_journal_restores_only_what_nic_writes_on_the_device_it_names() {
        let d = tmp("nic");
        let forged = [
            // Kinds the bench never writes: global files, outside any device.
            r#"{"netns":null,"record":{"setting":{"kind":"irq_affinity","irq":0},"before":"0","after":"1"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"busy_read"},"before":"0","after":"50"}}"#,
            // A device name that would leave /sys/class/net/DEV.
            r#"{"netns":null,"record":{"setting":{"kind":"threaded_napi","dev":"../../../etc"},"before":"0","after":"1"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"rps","dev":"..","queue":0},"before":"0","after":"1"}}"#,
            // Another run's namespace, and a path posing as a namespace.
            r#"{"netns":"udpb-1-0-rx","record":{"setting":{"kind":"feature","dev":"ubr1n0","feature":"gro"},"before":"off","after":"on"}}"#,
            r#"{"netns":"../../proc/1/ns/net","record":{"setting":{"kind":"feature","dev":"eth0","feature":"gro"},"before":"off","after":"on"}}"#,
            // A value that is not the setting's shape.
            r#"{"netns":null,"record":{"setting":{"kind":"channels","dev":"eth0","which":"rx"},"before":"1; reboot","after":"2"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"queue_irq_affinity","dev":"eth0","queue":0},"before":"0-1 > /x","after":"0"}}"#,
            // RSS: a flow type or a value that would smuggle other ethtool arguments.
            r#"{"netns":null,"record":{"setting":{"kind":"rss_hash_fields","dev":"eth0","flow":"tcp4"},"before":"sd","after":"sdfn"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"rss_hash_fields","dev":"eth0","flow":"udp4"},"before":"sd context 1","after":"sdfn"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"rss_indir","dev":"eth0"},"before":"equal:2 hkey 00","after":"default"}}"#,
            // Per-NAPI: a parameter napi-set is not asked for, values that are not ID:V pairs.
            r#"{"netns":null,"record":{"setting":{"kind":"napi","dev":"eth0","param":"threaded"},"before":"0","after":"1"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"napi","dev":"eth0","param":"irq-suspend-timeout"},"before":"8193:0,8194:0","after":"2000000"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"napi","dev":"eth0","param":"defer-hard-irqs"},"before":"8193:4294967295","after":"2"}}"#,
            r#"{"netns":null,"record":{"setting":{"kind":"napi","dev":"../x","param":"irq-suspend-timeout"},"before":"0","after":"2"}}"#,
        ];
        for (i, e) in forged.iter().enumerate() {
            let path = forged_nic(&d, i, e);
            let r = recover_in(&d, |_, _| true);
            assert!(r.nic.is_empty() && r.restored.is_empty(), "{e}: {r:?}");
            assert_eq!(r.failures.len(), 1, "{e}: {r:?}");
            assert!(r.failures[0].contains("refused"), "{e}: {r:?}");
            assert!(path.exists(), "a refused journal is kept for a person to look at");
            std::fs::remove_file(&path).unwrap();
        }
        // An unknown kind or field does not even parse: the journal is reported unreadable.
        let path = forged_nic(
            &d,
            9,
            r#"{"netns":null,"record":{"setting":{"kind":"shell","cmd":"x"},"before":"1","after":"1"}}"#,
        );
        let r = recover_in(&d, |_, _| true);
        assert!(r.failures.len() == 1 && r.failures[0].contains("unreadable"), "{r:?}");
        std::fs::remove_file(&path).unwrap();
        // The dead run's own namespace: undone with the namespace, nothing written, file gone.
        let path = forged_nic(
            &d,
            10,
            r#"{"netns":"udpb-4194305-0-rx","record":{"setting":{"kind":"feature","dev":"ubr4194305n0","feature":"gro"},"before":"off","after":"on"}}"#,
        );
        let r = recover_in(&d, |_, _| true);
        assert!(r.failures.is_empty(), "{r:?}");
        assert_eq!(r.nic.len(), 1, "{r:?}");
        assert!(r.nic[0].contains("undone with the namespace"), "{r:?}");
        assert!(!path.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn an_oversized_journal_is_refused_unread() {
        let d = tmp("huge");
        std::fs::create_dir_all(&d).unwrap();
        let f = std::fs::File::create(d.join("sysctl-1-0.json")).unwrap();
        f.set_len(JOURNAL_MAX_BYTES + 1).unwrap();
        let r = recover_in(&d, |_, _| true);
        assert_eq!(r.failures.len(), 1, "{r:?}");
        assert!(r.failures[0].contains("larger than 1 MiB"), "{r:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    proptest::proptest! {
        // Fuzzing (proptest; cargo-fuzz needs nightly). Recovery itself is not fuzzed: it would
        // write allowed sysctls with arbitrary values on this machine.
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Any journal text parses or is refused, never a panic; a record round-trips.
        #[test]
        fn journals_parse_or_are_refused(
            text in ".{0,120}",
            pid: u32,
            ticks: Option<u64>,
            sysctls in proptest::collection::btree_map(".{0,20}", ".{0,20}", 0..5),
        ) {
            let _ = serde_json::from_str::<Record>(&text);
            let rec = Record { schema: SCHEMA.into(), pid, start_ticks: ticks, sysctls, nic: Vec::new() };
            let json = serde_json::to_string_pretty(&rec).unwrap();
            proptest::prop_assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), rec);
            for cut in [0, json.len() / 3, json.len() / 2] {
                let mut end = cut;
                while !json.is_char_boundary(end) {
                    end -= 1;
                }
                let _ = serde_json::from_str::<Record>(&json[..end]);
            }
        }
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
