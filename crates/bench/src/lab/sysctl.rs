//! Kernel settings: `--sysctl key=v1,v2` and `--settings FILE`, validated before anything runs,
//! applied inside the benchmark's namespaces where the sysctl is per network namespace and
//! globally otherwise, with a snapshot that a guard restores on every exit path.
//!
//! Profile files are plain text: `[name]` starts a profile; `key = value` lines follow. A key
//! with a dot is a sysctl (`net.core.rmem_max = 8388608`); the others are options of the
//! harness: `rcvbuf` (SO_RCVBUF bytes on the receiving sockets), `busy_poll` (SO_BUSY_POLL µs),
//! `prefer_busy_poll` (0/1, SO_PREFER_BUSY_POLL), `busy_poll_budget` (SO_BUSY_POLL_BUDGET packets),
//! `stats` (`full` or `minimal`: what the receiver's recorders measure), `veth_gro` (`on`/`off`, GRO on the receiver's veth via ethtool) and `rps` (`on`/`off`).
//! `nic.NAME = VALUE` is a NIC setting of the receiving interface, `NAME` as in `--nic`
//! (`nic.gro = off`, `nic.channels.combined = 2`; see [`crate::lab::nic`]).
//! `#` starts a comment.
//!
//! Only the sysctls of [`allowed::SYSCTLS`] may be set: a crash journal restores those and
//! nothing else.

use crate::lab::allowed;
use crate::lab::journal;
pub use crate::lab::procfs::{key_path, validate_key};
use crate::lab::procfs::{read_value, write_value};
use crate::lab::topology;
pub use crate::model::settings::{InForce, Profile, Scope};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Sysctls recorded in every report, whether or not a setting changes them.
pub const RECORDED: &[&str] = &[
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.core.wmem_default",
    "net.core.wmem_max",
    "net.core.netdev_max_backlog",
    "net.core.netdev_budget",
    "net.core.busy_read",
    "net.core.busy_poll",
    "net.core.rps_sock_flow_entries",
    "net.ipv4.udp_rmem_min",
    "net.ipv4.udp_mem",
];

/// `--sysctl key=v1,v2`: one key, the values to compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysctlSweep {
    /// Dotted name, e.g. `net.core.rmem_max`.
    pub key: String,
    /// Values, each a setting of its own.
    pub values: Vec<String>,
}

impl SysctlSweep {
    /// Parses `key=v1,v2` and checks that the sysctl exists.
    pub fn parse(s: &str) -> Result<SysctlSweep> {
        let (key, values) = split_sweep("--sysctl", s, "expected key=value[,value...]")?;
        let key = normalize_key(&key);
        validate_key(&key)?;
        allowed::check_sysctl(&key).map_err(|e| Error::BadInput(format!("--sysctl: {e}")))?;
        Ok(SysctlSweep { key, values })
    }
}

/// Parses a profile file (see the module docs); every sysctl name is validated.
pub fn parse_profiles(text: &str, origin: &str) -> Result<Vec<Profile>> {
    let mut out: Vec<Profile> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let at = || format!("{origin}:{}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| Error::BadInput(format!("{}: unclosed [", at())))?
                .trim();
            if name.is_empty() {
                return Err(Error::BadInput(format!("{}: empty profile name", at())));
            }
            out.push(Profile { name: name.to_string(), ..Profile::default() });
            continue;
        }
        let Some(p) = out.last_mut() else {
            return Err(Error::BadInput(format!("{}: setting before any [profile] line", at())));
        };
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| Error::BadInput(format!("{}: expected key = value", at())))?;
        let (k, v) = (k.trim(), v.trim().to_string());
        let bad = |what: &str| Error::BadInput(format!("{}: {k} = {v:?}: {what}", at()));
        let onoff = |v: &str| match v {
            "on" | "true" | "1" => Ok(true),
            "off" | "false" | "0" => Ok(false),
            _ => Err(bad("expected on or off")),
        };
        match k {
            "rcvbuf" | "busy_poll" | "prefer_busy_poll" | "busy_poll_budget" => {
                set_sockopt(p, k, &v).map_err(|e| bad(&e))?
            }
            "stats" => p.sockopts.stats = Some(v.parse().map_err(|e: String| bad(&e))?),
            "veth_gro" => p.veth_gro = Some(onoff(&v)?),
            "rps" => p.rps = Some(onoff(&v)?),
            k if k.starts_with("nic.") => {
                let name = &k["nic.".len()..];
                crate::lab::nic::check_spec(name, &v)
                    .map_err(|e| Error::BadInput(format!("{}: {e}", at())))?;
                p.nic.retain(|(n, _)| n != name);
                p.nic.push((name.to_string(), v));
            }
            k if k.contains('.') || k.contains('/') => {
                let key = normalize_key(k);
                validate_key(&key)
                    .and_then(|()| allowed::check_sysctl(&key).map_err(Error::BadInput))
                    .map_err(|e| Error::BadInput(format!("{}: {e}", at())))?;
                p.sysctls.push((key, v));
            }
            _ => {
                return Err(bad("unknown option (a sysctl has dots; options: rcvbuf, busy_poll, \
                     prefer_busy_poll, busy_poll_budget, stats, veth_gro, rps, nic.NAME)"));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::BadInput(format!("{origin}: no [profile] in the file")));
    }
    Ok(out)
}

/// The socket options `--sockopt` compares, spelled as in settings files.
pub const SOCKOPTS: &str = "busy_poll (SO_BUSY_POLL µs), prefer_busy_poll (SO_PREFER_BUSY_POLL \
     0 or 1), busy_poll_budget (SO_BUSY_POLL_BUDGET packets), rcvbuf (SO_RCVBUF bytes)";

/// Sets socket option `name` (`busy_poll` µs, `prefer_busy_poll` 0/1, `busy_poll_budget`
/// packets, `rcvbuf` bytes) of a setting from its text.
fn set_sockopt(p: &mut Profile, name: &str, value: &str) -> std::result::Result<(), String> {
    match name {
        "busy_poll" => {
            let us = value
                .parse::<u32>()
                .ok()
                .filter(|&v| v <= i32::MAX as u32)
                .ok_or("expected µs, 0 to 2147483647 (SO_BUSY_POLL takes an int)")?;
            p.sockopts.busy_poll = Some(us);
        }
        "prefer_busy_poll" => {
            p.sockopts.prefer_busy_poll = Some(match value {
                "0" => false,
                "1" => true,
                _ => return Err("expected 0 or 1 (SO_PREFER_BUSY_POLL is a flag)".into()),
            });
        }
        "busy_poll_budget" => {
            let n = value.parse::<u16>().map_err(|_| {
                "expected packets, 0 to 65535 (SO_BUSY_POLL_BUDGET and the epoll budget are u16)"
            })?;
            p.sockopts.busy_poll_budget = Some(n);
        }
        "rcvbuf" => {
            let bytes = value
                .parse::<usize>()
                .ok()
                .filter(|&v| v <= 1 << 30)
                .ok_or("expected bytes, at most 1073741824 (the kernel's limit)")?;
            p.sockopts.rcvbuf = Some(bytes);
        }
        _ => return Err(format!("not a socket option the bench sets (options: {SOCKOPTS})")),
    }
    Ok(())
}

/// `--sockopt NAME=v1,v2`: a socket option of the receiving sockets to compare, each value a
/// setting of its own — `busy_poll` (SO_BUSY_POLL µs, which on the io_uring paths also
/// registers io_uring NAPI busy polling and on the `epoll` rows sets the epoll instance's busy
/// polling), `prefer_busy_poll` (0/1: SO_PREFER_BUSY_POLL, and the epoll instance's
/// prefer_busy_poll), `busy_poll_budget` (SO_BUSY_POLL_BUDGET packets, and the epoll
/// instance's budget) or `rcvbuf` (SO_RCVBUF bytes), as `busy_poll = 50` and `rcvbuf = ...`
/// lines of a settings file set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockoptSweep {
    /// `busy_poll`, `prefer_busy_poll`, `busy_poll_budget` or `rcvbuf`.
    pub name: String,
    /// Values, each a setting of its own.
    pub values: Vec<String>,
}

impl SockoptSweep {
    /// Parses `NAME=v1,v2` and checks the name and every value.
    pub fn parse(s: &str) -> Result<SockoptSweep> {
        let expected = format!("expected NAME=value[,value...] ({SOCKOPTS})");
        let (name, values) = split_sweep("--sockopt", s, &expected)?;
        for v in &values {
            set_sockopt(&mut Profile::default(), &name, v)
                .map_err(|e| Error::BadInput(format!("--sockopt {name}={v}: {e}")))?;
        }
        Ok(SockoptSweep { name, values })
    }
}

/// The settings crossed with every `--sockopt` sweep's values (after the sysctl sweeps).
pub fn cross_sockopts(settings: Vec<Profile>, sweeps: &[SockoptSweep]) -> Vec<Profile> {
    sweeps.iter().fold(settings, |out, sweep| {
        let current = |p: &Profile| p.name == "current";
        cross_values(out, &sweep.name, &sweep.values, current, |q, v| {
            // Checked by `SockoptSweep::parse`.
            let _ = set_sockopt(q, &sweep.name, v);
        })
    })
}

/// Splits the `NAME=v1,v2` of command-line option `flag` into the trimmed name and its
/// non-empty values; a string without `=` is told `expected`.
pub(crate) fn split_sweep(flag: &str, s: &str, expected: &str) -> Result<(String, Vec<String>)> {
    let (name, values) =
        s.split_once('=').ok_or_else(|| Error::BadInput(format!("{flag} {s:?}: {expected}")))?;
    let values: Vec<String> =
        values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
    if values.is_empty() {
        return Err(Error::BadInput(format!("{flag} {s:?}: no values")));
    }
    Ok((name.trim().to_string(), values))
}

/// One sweep over `settings`: every setting once per value, the value set by `apply` and the
/// setting named `LABEL=v` after its own name — alone where `bare` says the setting stands for
/// the kernel's current values.
pub(crate) fn cross_values(
    settings: Vec<Profile>,
    label: &str,
    values: &[String],
    bare: impl Fn(&Profile) -> bool,
    apply: impl Fn(&mut Profile, &str),
) -> Vec<Profile> {
    let mut next = Vec::with_capacity(settings.len() * values.len());
    for p in &settings {
        for v in values {
            let mut q = p.clone();
            apply(&mut q, v);
            q.name =
                if bare(p) { format!("{label}={v}") } else { format!("{} {label}={v}", p.name) };
            next.push(q);
        }
    }
    next
}

/// Reads and parses a profile file.
pub fn load_profiles(path: &Path) -> Result<Vec<Profile>> {
    let text = udprx_stats::bounded::read_to_string(path, udprx_stats::bounded::SETTINGS_MAX_BYTES)
        .map_err(|e| Error::BadInput(format!("--settings {}: {e}", path.display())))?;
    parse_profiles(&text, &path.display().to_string())
}

/// The settings to compare: every profile (or the kernel's current values) crossed with every
/// combination of `--sysctl` values.
pub fn settings(profiles: &[Profile], sweeps: &[SysctlSweep]) -> Vec<Profile> {
    let base = if profiles.is_empty() {
        vec![Profile { name: "current".into(), ..Profile::default() }]
    } else {
        profiles.to_vec()
    };
    sweeps.iter().fold(base, |out, sweep| {
        let current = |p: &Profile| p.name == "current" && profiles.is_empty();
        cross_values(out, &sweep.key, &sweep.values, current, |q, v| {
            q.sysctls.retain(|(k, _)| k != &sweep.key);
            q.sysctls.push((sweep.key.clone(), v.to_string()));
        })
    })
}

/// `net/core/rmem_max` and `net.core.rmem_max` both name the same sysctl.
pub fn normalize_key(key: &str) -> String {
    key.trim_start_matches("/proc/sys/").trim_matches('/').replace('/', ".")
}

/// Applies settings and restores every global value it changed when dropped. The original
/// values are journaled before any is changed (see [`journal`]), so that the next run restores
/// them if this process is killed.
#[derive(Debug)]
pub struct Applier {
    /// Namespaces where per-namespace sysctls go (sender, receiver); empty for loopback, where
    /// everything is global.
    netns: Vec<PathBuf>,
    /// Original values of the global sysctls changed so far.
    snapshot: BTreeMap<String, String>,
    /// The on-disk copy of `snapshot`.
    journal: journal::Journal,
}

impl Applier {
    /// An applier for a topology, journaling in [`journal::dir`].
    pub fn new(topo: &topology::Topology) -> Applier {
        Applier::with_journal_dir(topo, &journal::dir())
    }

    /// An applier for a topology, journaling in `dir`.
    fn with_journal_dir(topo: &topology::Topology, dir: &Path) -> Applier {
        let netns = [topo.tx_netns(), topo.rx_netns()].into_iter().flatten().collect();
        Applier { netns, snapshot: BTreeMap::new(), journal: journal::Journal::new_in(dir) }
    }

    /// Where `key` takes effect in this topology: per namespace when the benchmark has
    /// namespaces, the key is under `net.`, and the namespace shows it writable (the kernel hides
    /// most global net sysctls inside other namespaces and shows some, like
    /// `net.core.rmem_max`, read-only with the host's value).
    pub fn scope(&self, key: &str) -> Scope {
        let Some(rx) = self.netns.last() else { return Scope::Global };
        if !key.starts_with("net.") {
            return Scope::Global;
        }
        let path = key_path(key);
        let writable = move || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(&path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o200 != 0)
        };
        match topology::in_netns(Some(rx), writable) {
            Ok(true) => Scope::Namespace,
            _ => Scope::Global,
        }
    }

    /// Applies a profile's sysctls: per namespace in both namespaces, or globally after taking
    /// a snapshot of the original value.
    pub fn apply(&mut self, profile: &Profile) -> Result<()> {
        for (key, value) in &profile.sysctls {
            match self.scope(key) {
                Scope::Namespace => {
                    for ns in &self.netns {
                        let (k, v) = (key.clone(), value.clone());
                        topology::in_netns(Some(ns), move || write_value(&k, &v))?.map_err(
                            |e| Error::Sysctl(format!("{key} = {value} in {}: {e}", ns.display())),
                        )?;
                    }
                }
                Scope::Global | Scope::Device => {
                    if !self.snapshot.contains_key(key) {
                        let orig = read_value(key)
                            .ok_or_else(|| Error::Sysctl(format!("cannot read {key}")))?;
                        self.snapshot.insert(key.clone(), orig);
                        // On disk before the value changes: a killed run is restored next time.
                        if let Err(e) = self.journal.record(&self.snapshot) {
                            self.snapshot.remove(key);
                            return Err(Error::Sysctl(format!(
                                "{key} left unchanged: cannot journal its original value in {}: {e}",
                                self.journal.path().display()
                            )));
                        }
                    }
                    write_value(key, value)
                        .map_err(|e| Error::Sysctl(format!("{key} = {value}: {e}")))?;
                }
            }
        }
        Ok(())
    }

    /// Puts every changed global value back (per-namespace ones vanish with the namespaces) and
    /// removes the journal; values that could not be put back stay journaled for the next run.
    pub fn restore(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        let mut left = BTreeMap::new();
        for (key, value) in std::mem::take(&mut self.snapshot) {
            if let Err(e) = write_value(&key, &value) {
                failures.push(format!("{key} = {value}: {e}"));
                left.insert(key, value);
            }
        }
        if let Err(e) = self.journal.record(&left) {
            failures.push(format!("journal {}: {e}", self.journal.path().display()));
        }
        failures
    }

    /// Restores the global values, then applies a profile: each setting starts from the
    /// machine's own values.
    pub fn switch_to(&mut self, profile: &Profile) -> Result<()> {
        let failures = self.restore();
        if !failures.is_empty() {
            return Err(Error::Sysctl(format!("restoring: {}", failures.join("; "))));
        }
        // Per-namespace values of the previous setting stay unless set again: reset them to
        // what the host namespace had at namespace creation is not possible, so every
        // per-namespace key any setting touches is written by every setting (see `keys`).
        self.apply(profile)
    }

    /// The values in force of `keys` (and the [`RECORDED`] ones), read where they apply.
    pub fn in_force(&self, keys: &[String]) -> BTreeMap<String, InForce> {
        let mut out = BTreeMap::new();
        let all = RECORDED.iter().map(|s| s.to_string()).chain(keys.iter().cloned());
        for key in all {
            if out.contains_key(&key) {
                continue;
            }
            let scope = self.scope(&key);
            let value = match (scope, self.netns.last()) {
                (Scope::Namespace, Some(rx)) => {
                    let k = key.clone();
                    topology::in_netns(Some(rx), move || read_value(&k)).ok().flatten()
                }
                _ => read_value(&key),
            };
            if let Some(value) = value {
                out.insert(key, InForce { value, scope });
            }
        }
        out
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        for failure in self.restore() {
            eprintln!("udprx bench: could not restore sysctl {failure}");
        }
    }
}

/// Makes every setting name every key that any setting names, filling in the value the
/// kernel has now, so that switching settings never leaves a previous setting's value behind.
pub fn complete(settings: &mut [Profile]) {
    let mut keys: Vec<String> = Vec::new();
    for s in settings.iter() {
        for (k, _) in &s.sysctls {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    for s in settings.iter_mut() {
        for k in &keys {
            if !s.sysctls.iter().any(|(x, _)| x == k)
                && let Some(v) = read_value(k)
            {
                s.sysctls.push((k.clone(), v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockopt_sweeps_parse_and_cross_into_named_settings() {
        let bp = SockoptSweep::parse("busy_poll=0, 50").unwrap();
        assert_eq!(
            (bp.name.as_str(), bp.values.clone()),
            ("busy_poll", vec!["0".into(), "50".into()])
        );
        let rb = SockoptSweep::parse("rcvbuf=4194304").unwrap();
        for bad in [
            "busy_poll",
            "busy_poll=",
            "busy_poll=-1",
            "busy_poll=50us",
            "busy_poll=2147483648",
            "rcvbuf=1073741825",
            "stats=minimal",
            "busy_read=50",
        ] {
            let e = SockoptSweep::parse(bad).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().lines().count() == 1, "{bad}: {e}");
            assert!(e.to_string().contains("--sockopt"), "{bad}: {e}");
        }
        let base = settings(&[], &[SysctlSweep::parse("net.core.busy_read=0,50").unwrap()]);
        let out = cross_sockopts(base, &[bp, rb]);
        let names: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "net.core.busy_read=0 busy_poll=0 rcvbuf=4194304",
                "net.core.busy_read=0 busy_poll=50 rcvbuf=4194304",
                "net.core.busy_read=50 busy_poll=0 rcvbuf=4194304",
                "net.core.busy_read=50 busy_poll=50 rcvbuf=4194304",
            ]
        );
        assert_eq!(out[1].sockopts.busy_poll, Some(50));
        assert_eq!(out[0].sockopts.busy_poll, Some(0), "0 is set, not left to the sysctl");
        assert_eq!(out[3].sockopts.rcvbuf, Some(4194304));
        assert_eq!(out[3].sysctls, vec![("net.core.busy_read".to_string(), "50".to_string())]);
        let plain = cross_sockopts(
            vec![Profile { name: "current".into(), ..Profile::default() }],
            &[SockoptSweep::parse("busy_poll=25").unwrap()],
        );
        assert_eq!(plain[0].name, "busy_poll=25");
        // The settings file takes the same values and refuses the same ones.
        assert!(parse_profiles("[a]\nbusy_poll = 2147483648\n", "t").is_err());
        assert!(parse_profiles("[a]\nrcvbuf = 1073741825\n", "t").is_err());
    }

    #[test]
    fn sweep_parse_and_validate() {
        let s = SysctlSweep::parse("net.core.rmem_max=212992,4194304").unwrap();
        assert_eq!(s.key, "net.core.rmem_max");
        assert_eq!(s.values, vec!["212992", "4194304"]);
        let s = SysctlSweep::parse("net/core/rmem_max=1").unwrap();
        assert_eq!(s.key, "net.core.rmem_max");
        assert!(SysctlSweep::parse("net.core.no_such_thing=1").unwrap_err().is_bad_input());
        assert!(SysctlSweep::parse("net.core.rmem_max").unwrap_err().is_bad_input());
        assert!(SysctlSweep::parse("net.core.rmem_max=").unwrap_err().is_bad_input());
        assert!(SysctlSweep::parse("net..core=1").unwrap_err().is_bad_input());
        assert!(SysctlSweep::parse("net.core.../x=1").unwrap_err().is_bad_input());
        // Only the sysctls the bench may change (and so may restore after a crash).
        let e = SysctlSweep::parse("kernel.panic=0").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("not a sysctl the bench changes"));
    }

    #[test]
    fn profiles_parse() {
        let text = "# test\n[big]\nnet.core.rmem_max = 8388608\nrcvbuf = 4194304 # comment\n\
                    [busy]\nbusy_poll = 50\nveth_gro = on\nrps = off\nstats = minimal\n";
        let p = parse_profiles(text, "t").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].sysctls, vec![("net.core.rmem_max".to_string(), "8388608".to_string())]);
        assert_eq!(p[0].sockopts.rcvbuf, Some(4194304));
        assert_eq!(p[1].sockopts.busy_poll, Some(50));
        assert_eq!(p[1].veth_gro, Some(true));
        assert_eq!(p[1].rps, Some(false));
        assert_eq!(p[1].sockopts.stats, Some(udprx_stats::stats::StatsMode::Minimal));
        assert_eq!(p[0].sockopts.stats, None);
        assert!(parse_profiles("[x]\nstats = some\n", "t").unwrap_err().is_bad_input());
        assert!(parse_profiles("[x]\nnet.core.bogus_name = 1\n", "t").unwrap_err().is_bad_input());
        let e = parse_profiles("[x]\nkernel.printk_ratelimit_burst = 1\n", "t").unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("not a sysctl the bench changes"));
        assert!(parse_profiles("rcvbuf = 1\n", "t").is_err());
        assert!(parse_profiles("[x]\nfrobnicate = 1\n", "t").is_err());
        assert!(parse_profiles("", "t").is_err());
        // NIC settings: `nic.NAME = VALUE`, checked like `--nic`.
        let p = parse_profiles("[n]\nnic.gro = off\nnic.channels.combined = 2\n", "t").unwrap();
        assert_eq!(
            p[0].nic,
            vec![("gro".to_string(), "off".to_string()), ("channels.combined".into(), "2".into())]
        );
        for bad in ["nic.gro = maybe", "nic.tso = off", "nic.irq.61 = 0", "nic. = 1"] {
            let e = parse_profiles(&format!("[n]\n{bad}\n"), "t").unwrap_err();
            assert!(e.is_bad_input() && e.to_string().starts_with("t:2: --nic"), "{bad}: {e}");
        }
    }

    #[test]
    fn settings_cross_product() {
        let a =
            SysctlSweep { key: "net.core.rmem_max".into(), values: vec!["1".into(), "2".into()] };
        let b =
            SysctlSweep { key: "net.core.busy_read".into(), values: vec!["0".into(), "50".into()] };
        let s = settings(&[], &[a.clone(), b]);
        assert_eq!(s.len(), 4);
        assert_eq!(s[3].sysctls.len(), 2);
        assert_eq!(settings(&[], &[]).len(), 1);
        let profiles = vec![Profile { name: "p".into(), ..Profile::default() }; 2];
        assert_eq!(settings(&profiles, &[a]).len(), 4);
    }

    #[test]
    fn shipped_profiles_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "conf") {
                load_profiles(&p).unwrap();
                n += 1;
            }
        }
        assert!(n > 0, "no profiles in {}", dir.display());
    }

    #[test]
    fn loopback_scope_is_global() {
        let topo = topology::Topology::loopback();
        let a = Applier::new(&topo);
        assert_eq!(a.scope("net.core.rmem_max"), Scope::Global);
        let f = a.in_force(&[]);
        assert!(f.contains_key("net.core.rmem_max"));
    }

    #[test]
    fn global_values_are_restored_even_after_a_panic() {
        if !crate::test_skip::root_or_skip("writing sysctls") {
            return;
        }
        // A harmless global knob: the burst of the kernel's network message rate limiter.
        let key = "net.core.message_burst";
        let orig = read_value(key).unwrap();
        let changed = (orig.parse::<u64>().unwrap() + 1).to_string();
        let r = std::panic::catch_unwind(|| {
            let topo = topology::Topology::loopback();
            let mut a = Applier::new(&topo);
            let p = Profile {
                name: "t".into(),
                sysctls: vec![(key.into(), changed.clone())],
                ..Profile::default()
            };
            a.apply(&p).unwrap();
            assert_eq!(read_value(key).unwrap(), changed);
            assert_eq!(a.in_force(&[key.into()])[key].scope, Scope::Global);
            panic!("a failure mid-run");
        });
        assert!(r.is_err());
        assert_eq!(read_value(key).unwrap(), orig, "not restored after a panic");
    }

    #[test]
    fn a_killed_run_is_restored_by_the_next_run_which_says_so() {
        if !crate::test_skip::root_or_skip("writing sysctls") {
            return;
        }
        let key = "net.core.netdev_max_backlog";
        let orig = read_value(key).unwrap();
        // Puts the host's value back whatever happens below.
        struct Back(&'static str, String);
        impl Drop for Back {
            fn drop(&mut self) {
                let _ = write_value(self.0, &self.1);
            }
        }
        let _back = Back(key, orig.clone());
        let changed = (orig.parse::<u64>().unwrap() + 7).to_string();
        let dir = std::env::temp_dir().join(format!("udprx-sysctl-crash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let topo = topology::Topology::loopback();
        let mut a = Applier::with_journal_dir(&topo, &dir);
        let p = Profile {
            name: "t".into(),
            sysctls: vec![(key.into(), changed.clone())],
            ..Profile::default()
        };
        a.apply(&p).unwrap();
        assert_eq!(read_value(key).unwrap(), changed);
        let path = a.journal.path().to_path_buf();
        assert!(path.exists(), "the original value is journaled");
        // A SIGKILL: no guard runs, the global value stays changed.
        std::mem::forget(a);
        assert_eq!(read_value(key).unwrap(), changed);
        // While its writer lives, a journal is left alone...
        assert!(journal::recover_in(&dir, journal::writer_is_gone).is_empty());
        assert_eq!(read_value(key).unwrap(), changed);
        // ...and once the writer is gone, the next run puts the value back and says so.
        let me = std::process::id();
        let r = journal::recover_in(&dir, |pid, _| pid == me);
        assert_eq!(read_value(key).unwrap(), orig, "not restored: {r:?}");
        assert_eq!(
            r.restored,
            vec![journal::Restored {
                key: key.into(),
                left: Some(changed.clone()),
                original: orig.clone(),
                pid: me,
            }]
        );
        assert!(r.failures.is_empty(), "{r:?}");
        let lines = r.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains(&format!("restored sysctl {key} = {orig}")), "{lines:?}");
        assert!(lines[0].contains(&format!("it was {changed}")), "{lines:?}");
        assert!(!path.exists(), "the journal is removed once every value is back");
        assert!(journal::recover_in(&dir, |_, _| true).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn namespace_scope_and_restore() {
        if !crate::test_skip::root_or_skip("writing sysctls in namespaces") {
            return;
        }
        let topo = topology::Topology::veth().unwrap();
        let mut a = Applier::new(&topo);
        // Per namespace on this kernel; global ones are hidden in other namespaces.
        assert_eq!(a.scope("net.core.netdev_max_backlog"), Scope::Global);
        assert_eq!(a.scope("kernel.ostype"), Scope::Global);
        // Shown read-only inside other namespaces on recent kernels: global.
        assert_eq!(a.scope("net.core.rmem_max"), Scope::Global);
        let host_before = read_value("net.core.somaxconn").unwrap();
        let p = Profile {
            name: "t".into(),
            sysctls: vec![("net.core.somaxconn".into(), "1234".into())],
            ..Profile::default()
        };
        assert_eq!(a.scope("net.core.somaxconn"), Scope::Namespace);
        a.apply(&p).unwrap();
        let f = a.in_force(&["net.core.somaxconn".into()]);
        assert_eq!(f["net.core.somaxconn"].value, "1234");
        assert_eq!(f["net.core.somaxconn"].scope, Scope::Namespace);
        // The host's value is untouched.
        assert_eq!(read_value("net.core.somaxconn").unwrap(), host_before);
        assert!(a.restore().is_empty());
    }
}
