//! NIC and interrupt settings compared like sysctls: `--nic NAME=V1,V2` and `nic.NAME = V`
//! lines in a settings file, applied to the receiving interface — the veth peer inside the
//! receiver's namespace (`--topology veth`), or the NIC of `--iface` / the route to the agent
//! (`--sender`).
//!
//! | `--nic` name | what | values |
//! |---|---|---|
//! | `gro`, `lro`, `rx-udp-gro-forwarding`, `rxhash` | ethtool feature (`ethtool -K`) | `on`, `off` |
//! | `channels.combined`, `channels.rx`, `channels.tx` | channel count (`ethtool -L`) | integer |
//! | `coalesce.adaptive-rx` | adaptive RX coalescing (`ethtool -C`) | `on`, `off` |
//! | `coalesce.rx-usecs`, `coalesce.rx-frames` | interrupt coalescing (`ethtool -C`) | integer |
//! | `ring.rx`, `ring.tx` | ring size (`ethtool -G`) | integer |
//! | `threaded` | threaded NAPI (`/sys/class/net/DEV/threaded`) | `0`, `1` |
//! | `napi_defer_hard_irqs`, `gro_flush_timeout` | `/sys/class/net/DEV/…` | integer |
//! | `rps.rx-N`, `rps_flow_cnt.rx-N`, `xps.tx-N` | queue N's RPS mask, RFS flow count, XPS mask | hex mask / integer |
//! | `irq.rx-N` | CPUs of the interrupt serving receive queue N (`/proc/irq/IRQ/smp_affinity_list`; the IRQ found by discovery each time) | CPU list (`0-1,3`) within the online CPUs |
//! | `rss-hash.udp4`, `rss-hash.udp6` | the fields the RSS hash of UDP over IPv4/IPv6 covers (`ethtool -N DEV rx-flow-hash udp4 sdfn`, read with `ethtool -n`) | ethtool's letters: `sd` (addresses), `sdfn` (addresses and ports); `m v t s d f n r`, none twice |
//! | `rss-indir` | the RSS indirection table (`ethtool -X`, read with `ethtool -x`) | `default`, `equal:N` (N ≤ the RX rings), `weight:W0:W1:...` |
//! | `napi.irq-suspend-timeout`, `napi.defer-hard-irqs`, `napi.gro-flush-timeout` | that parameter of every NAPI instance of the device, through netdev generic netlink (`napi-set`, Linux 6.13+; [`udprx_netdev::genl`]) | integer (ns; `defer-hard-irqs` a count) |
//!
//! Every setting of every value is checked on the device before anything changes (the value's
//! shape, the device reports the setting, it is not fixed, the count is within the maximum, the
//! file is writable); a refusal is one line naming the device and the setting (exit 2). Each
//! change's original value is journaled (see [`journal`]) before the change and restored when
//! the setting ends, at the end of the run, on an error, on Ctrl-C/SIGTERM (the run stops and
//! unwinds) and by the next run after a SIGKILL. The RSS settings are named after what they
//! change, the receive-side-scaling hash, rather than ethtool's option (`rx-flow-hash` is also
//! the keyword of ntuple rules): `rss-hash.FLOW` and `rss-indir` sort together. An indirection
//! table is read as the value that writes it back entry for entry — `default` when it is the
//! kernel's spread over the RX rings (restored with `ethtool -X DEV default`, which also leaves
//! the table unconfigured again, so the driver re-spreads it when channels change), else
//! `equal:N`, else `weight:...` (the blocks it holds); a table none of these writes is refused
//! before any change. Global knobs — busy polling
//! (`net.core.busy_read`, `net.core.busy_poll`) and the RFS table
//! (`net.core.rps_sock_flow_entries`) — are sysctls: `--sysctl`. Per-socket busy polling
//! (SO_BUSY_POLL, which also drives io_uring NAPI busy polling) belongs to the receiving
//! sockets, not the interface: `--sockopt busy_poll=…` ([`crate::lab::sysctl::SockoptSweep`]).
//! IRQ suspension (`napi.irq-suspend-timeout`) is per NAPI, through netdev generic netlink
//! only: it is refused, before anything changes, on a kernel whose `napi-get` replies carry no
//! `irq-suspend-timeout` (before Linux 6.13), on a device that lists no NAPI instance (a veth
//! without GRO or XDP — the bench's own veth is created without GRO, and `--nic gro=on` is only
//! applied after the check, so compare it through `--sender` or on a device whose GRO is already
//! on), and when not root. Its record holds each NAPI id with its value (`ID:V ID:V ...`); a
//! restore writes back the ids the device still lists and names the others. It acts only for
//! epoll waits with prefer-busy-poll (docs/bench.md).

use crate::lab::sysctl::cross_values;
use crate::lab::{allowed, journal, sys, topology};
use crate::model::settings::{InForce, Profile, Scope};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use udprx_netdev::settings::{EthtoolBinary, EthtoolRunner};
use udprx_netdev::{RestoreRecord, Setting, Settings, Sys};

/// The `--nic` names, for messages.
pub const NAMES: &str = "gro, lro, rx-udp-gro-forwarding, rxhash, channels.{combined,rx,tx}, \
    coalesce.{adaptive-rx,rx-usecs,rx-frames}, ring.{rx,tx}, threaded, napi_defer_hard_irqs, \
    gro_flush_timeout, rps.rx-N, rps_flow_cnt.rx-N, xps.tx-N, irq.rx-N, rss-hash.{udp4,udp6}, \
    rss-indir, napi.{irq-suspend-timeout,defer-hard-irqs,gro-flush-timeout}";

/// The setting a `--nic` name stands for on device `dev`.
pub fn setting(name: &str, dev: &str) -> std::result::Result<Setting, String> {
    let d = || dev.to_string();
    let queue = |q: &str, dir: &str| -> std::result::Result<usize, String> {
        q.strip_prefix(dir)
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < 4096)
            .ok_or_else(|| format!("--nic {name}: expected {dir}N with a queue number N"))
    };
    let s = match name.split_once('.') {
        None => match name {
            "gro" | "lro" | "rx-udp-gro-forwarding" | "rxhash" => {
                Setting::Feature { dev: d(), feature: name.into() }
            }
            "threaded" => Setting::ThreadedNapi { dev: d() },
            "napi_defer_hard_irqs" => Setting::NapiDeferHardIrqs { dev: d() },
            "gro_flush_timeout" => Setting::GroFlushTimeout { dev: d() },
            "rss-indir" => Setting::RssIndir { dev: d() },
            _ => return Err(format!("--nic {name}: not a NIC setting (names: {NAMES})")),
        },
        Some(("channels", w)) => Setting::Channels { dev: d(), which: w.into() },
        Some(("coalesce", p)) => Setting::Coalesce { dev: d(), param: p.into() },
        Some(("ring", w)) => Setting::Ring { dev: d(), which: w.into() },
        Some(("rps", q)) => Setting::Rps { dev: d(), queue: queue(q, "rx-")? },
        Some(("rps_flow_cnt", q)) => Setting::RpsFlowCnt { dev: d(), queue: queue(q, "rx-")? },
        Some(("xps", q)) => Setting::Xps { dev: d(), queue: queue(q, "tx-")? },
        Some(("irq", q)) => Setting::QueueIrqAffinity { dev: d(), queue: queue(q, "rx-")? },
        Some(("rss-hash", f)) => Setting::RssHashFields { dev: d(), flow: f.into() },
        Some(("napi", p)) => Setting::Napi { dev: d(), param: p.into() },
        _ => return Err(format!("--nic {name}: not a NIC setting (names: {NAMES})")),
    };
    s.validate().map_err(|e| format!("--nic {name}: {e} (names: {NAMES})"))?;
    Ok(s)
}

/// Checks a name and a value without a device (the value's shape for the setting).
pub fn check_spec(name: &str, value: &str) -> std::result::Result<(), String> {
    let s = setting(name, "eth0")?;
    if matches!(s, Setting::Napi { .. }) && value.contains(':') {
        return Err(format!("--nic {name}={value}: expected an integer"));
    }
    s.validate_value(value).map_err(|e| {
        format!("--nic {name}={value}: {}", e.trim_start_matches("eth0 ").replace("eth0", "DEV"))
    })
}

/// `--nic NAME=v1,v2`: one NIC setting, the values to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSweep {
    /// The `--nic` name (`gro`, `channels.combined`, ...).
    pub name: String,
    /// Values, each a setting of its own.
    pub values: Vec<String>,
}

impl NicSweep {
    /// Parses `NAME=v1,v2` and checks the name and each value's shape.
    pub fn parse(s: &str) -> Result<NicSweep> {
        let expected = format!("expected NAME=value[,value...] ({NAMES})");
        let (name, values) = crate::lab::sysctl::split_sweep("--nic", s, &expected)?;
        for v in &values {
            check_spec(&name, v).map_err(Error::BadInput)?;
        }
        Ok(NicSweep { name, values })
    }
}

/// The settings crossed with every `--nic` sweep's values (after the sysctl sweeps).
pub fn cross(settings: Vec<Profile>, sweeps: &[NicSweep]) -> Vec<Profile> {
    sweeps.iter().fold(settings, |out, sweep| {
        let label = format!("nic.{}", sweep.name);
        cross_values(
            out,
            &label,
            &sweep.values,
            |p| p.name == "current",
            |q, v| {
                q.nic.retain(|(k, _)| k != &sweep.name);
                q.nic.push((sweep.name.clone(), v.to_string()));
            },
        )
    })
}

/// True when some setting changes the NIC.
pub fn any(settings: &[Profile]) -> bool {
    settings.iter().any(|p| !p.nic.is_empty())
}

/// The receiving interface and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The interface.
    pub dev: String,
    /// The namespace it lives in (name, bind-mount file), `None` for this one.
    pub netns: Option<(String, PathBuf)>,
}

impl Target {
    /// The receiving interface of a topology: the veth peer in the receiver's namespace, or
    /// `iface` (the `--sender` run's receive interface). Loopback has none.
    pub fn of(topo: &topology::Topology, iface: Option<&str>) -> Result<Target> {
        if let Some(v) = topo.veth_info() {
            return Ok(Target {
                dev: v.rx_if.clone(),
                netns: Some((v.rx_ns.clone(), topology::netns_path(&v.rx_ns))),
            });
        }
        match (topo.kind(), iface) {
            (topology::Kind::Remote, Some(dev)) => Ok(Target { dev: dev.into(), netns: None }),
            (topology::Kind::Remote, None) => Err(Error::BadInput(
                "--nic: the receive interface was not found from the route; give --iface".into(),
            )),
            _ => Err(Error::BadInput(
                "--nic needs a receiving interface: --topology veth (root) or --sender".into(),
            )),
        }
    }

    /// Runs `f` with the settings of this target's host or namespace: in a thread that entered
    /// the namespace with a sysfs of its own (see [`sys::enter_netns_with_sysfs`]).
    fn run<T: Send>(
        &self,
        sys: &Sys,
        ethtool: &dyn EthtoolRunner,
        f: impl FnOnce(&Settings<'_>) -> T + Send,
    ) -> Result<T> {
        let settings = || Settings { sys: sys.clone(), ethtool };
        let Some((name, path)) = &self.netns else { return Ok(f(&settings())) };
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    sys::enter_netns_with_sysfs(path).map_err(|e| {
                        Error::Topology(format!("entering namespace {name} for --nic: {e}"))
                    })?;
                    Ok(f(&settings()))
                })
                .join()
                .map_err(|_| Error::Cell("a thread applying a NIC setting panicked".into()))?
        })
    }

    /// Where settings apply, for messages.
    pub fn describe(&self) -> String {
        match &self.netns {
            Some((ns, _)) => format!("{} in namespace {ns}", self.dev),
            None => self.dev.clone(),
        }
    }
}

/// Applies the NIC settings of each setting in turn and restores the originals when the
/// setting ends and when dropped; originals are journaled before any change.
pub struct NicApplier {
    target: Option<Target>,
    /// Where sysfs is (the live one; a recorded tree in tests).
    sys: Sys,
    /// How ethtool runs (the binary; recorded replies in tests).
    ethtool: Box<dyn EthtoolRunner>,
    /// The changes in force, each with the original value (`before`), in application order.
    changed: Vec<RestoreRecord>,
    journal: journal::Journal,
}

impl NicApplier {
    /// An applier for `target` (`None`: no NIC settings are asked for), journaling in
    /// [`journal::dir`].
    pub fn new(target: Option<Target>) -> NicApplier {
        NicApplier::with_journal_dir(target, &journal::dir())
    }

    /// An applier journaling in `dir`.
    pub fn with_journal_dir(target: Option<Target>, dir: &std::path::Path) -> NicApplier {
        NicApplier::with_system(target, dir, Sys::live(), Box::new(EthtoolBinary))
    }

    /// An applier reading and writing through `sys` and `ethtool` (tests replay recorded
    /// ethtool replies on a recorded sysfs tree).
    pub fn with_system(
        target: Option<Target>,
        dir: &std::path::Path,
        sys: Sys,
        ethtool: Box<dyn EthtoolRunner>,
    ) -> NicApplier {
        NicApplier {
            target,
            sys,
            ethtool,
            changed: Vec::new(),
            journal: journal::Journal::nic_in(dir),
        }
    }

    /// The journal file (it exists while values are changed).
    pub fn journal_path(&self) -> &std::path::Path {
        self.journal.path()
    }

    /// The target, if any.
    pub fn target(&self) -> Option<&Target> {
        self.target.as_ref()
    }

    /// Checks every NIC setting of every setting on the device before anything changes: bad
    /// input naming the device and the setting in one line when one is not supported.
    pub fn check(&self, settings: &[Profile]) -> Result<()> {
        let mut seen = Vec::new();
        for p in settings {
            for (name, value) in &p.nic {
                if seen.contains(&(name, value)) {
                    continue;
                }
                seen.push((name, value));
                let t = self
                    .target
                    .as_ref()
                    .ok_or_else(|| Error::BadInput("--nic needs a receiving interface".into()))?;
                let s = setting(name, &t.dev).map_err(Error::BadInput)?;
                allowed::check_nic_setting(&s).map_err(Error::BadInput)?;
                t.run(&self.sys, self.ethtool.as_ref(), |x| {
                    x.check(&s, value)?;
                    probe(x, &s)
                })?
                .map_err(|e| {
                    Error::BadInput(format!("--nic {name}={value} refused before any change: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// Restores the previous setting's changes, then applies `profile`'s NIC settings, each
    /// journaled before it changes.
    pub fn switch_to(&mut self, profile: &Profile) -> Result<()> {
        let failures = self.restore();
        if !failures.is_empty() {
            return Err(Error::Nic(format!("restoring NIC settings: {}", failures.join("; "))));
        }
        if profile.nic.is_empty() {
            return Ok(());
        }
        let t = self
            .target
            .clone()
            .ok_or_else(|| Error::BadInput("--nic needs a receiving interface".into()))?;
        for (name, value) in &profile.nic {
            let s = setting(name, &t.dev).map_err(Error::BadInput)?;
            allowed::check_nic_setting(&s).map_err(Error::BadInput)?;
            let rec = t
                .run(&self.sys, self.ethtool.as_ref(), |x| x.prepare(&s, value))?
                .map_err(Error::Nic)?;
            let ours = self.changed.iter().any(|r| r.setting == s);
            if !ours && rec.before == *value {
                continue; // already the value asked for: nothing changes, nothing to journal
            }
            if !ours {
                self.changed.push(rec);
                if let Err(e) = self.record() {
                    self.changed.pop();
                    return Err(Error::Nic(format!(
                        "{} left unchanged: cannot journal its original value in {}: {e}",
                        s.describe(),
                        self.journal.path().display()
                    )));
                }
            }
            t.run(&self.sys, self.ethtool.as_ref(), |x| x.apply(&s, value))?.map_err(Error::Nic)?;
        }
        Ok(())
    }

    fn record(&self) -> std::io::Result<()> {
        let netns = self.target.as_ref().and_then(|t| t.netns.as_ref()).map(|(n, _)| n.clone());
        let entries: Vec<journal::NicEntry> = self
            .changed
            .iter()
            .map(|r| journal::NicEntry { netns: netns.clone(), record: r.clone() })
            .collect();
        self.journal.record_nic(&entries)
    }

    /// Writes every original value back (newest change first), reads each back to check it,
    /// and removes the journal; what could not be put back stays journaled.
    pub fn restore(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        let Some(t) = self.target.clone() else { return failures };
        let mut left = Vec::new();
        for rec in std::mem::take(&mut self.changed).into_iter().rev() {
            let back = t
                .run(&self.sys, self.ethtool.as_ref(), |x| x.restore_checked(&rec))
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            // NAPI instances gone since the change (their ids are in the record): said, left.
            for note in back.as_ref().map(Vec::as_slice).unwrap_or_default() {
                eprintln!("udprx bench: {note}");
            }
            if let Err(e) = back {
                if e.contains("No such device") || e.contains("no such device") {
                    continue; // the device is gone (its namespace was deleted): nothing to undo
                }
                failures.push(format!("{} = {}: {e}", rec.setting.describe(), rec.before));
                left.insert(0, rec);
            }
        }
        self.changed = left;
        if let Err(e) = self.record() {
            failures.push(format!("journal {}: {e}", self.journal.path().display()));
        }
        failures
    }

    /// The values in force of the `--nic` names, read from the device (key `nic.NAME`).
    pub fn in_force(&self, names: &[String]) -> BTreeMap<String, InForce> {
        let mut out = BTreeMap::new();
        let Some(t) = &self.target else { return out };
        for name in names {
            let key = format!("nic.{name}");
            if out.contains_key(&key) {
                continue;
            }
            let Ok(s) = setting(name, &t.dev) else { continue };
            if let Ok(Ok(value)) = t.run(&self.sys, self.ethtool.as_ref(), |x| x.read(&s)) {
                out.insert(key, InForce { value, scope: Scope::Device });
            }
        }
        out
    }
}

/// Probes a sysfs setting's file by writing its current value back — no change — so a file the
/// kernel refuses to write for this device (threaded NAPI on a veth without NAPI: "Operation not
/// supported") is found before anything changes. ethtool settings are checked by their replies.
fn probe(x: &Settings<'_>, s: &Setting) -> std::result::Result<(), String> {
    if x.file(s)?.is_none() {
        return Ok(());
    }
    let now = x.read(s)?;
    if s.validate_value(&now).is_err() {
        return Ok(()); // a reading the write syntax does not take: left to the real write
    }
    x.apply(s, &now)
}

impl std::fmt::Debug for NicApplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NicApplier")
            .field("target", &self.target)
            .field("sys", &self.sys)
            .field("changed", &self.changed)
            .field("journal", &self.journal)
            .finish()
    }
}

impl Drop for NicApplier {
    fn drop(&mut self) {
        for failure in self.restore() {
            eprintln!("udprx bench: could not restore NIC setting {failure}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_settings() {
        let s = |n: &str| setting(n, "eth0").unwrap();
        assert_eq!(s("gro"), Setting::Feature { dev: "eth0".into(), feature: "gro".into() });
        assert_eq!(
            s("channels.combined"),
            Setting::Channels { dev: "eth0".into(), which: "combined".into() }
        );
        assert_eq!(
            s("coalesce.rx-usecs"),
            Setting::Coalesce { dev: "eth0".into(), param: "rx-usecs".into() }
        );
        assert_eq!(s("ring.rx"), Setting::Ring { dev: "eth0".into(), which: "rx".into() });
        assert_eq!(s("threaded"), Setting::ThreadedNapi { dev: "eth0".into() });
        assert_eq!(s("rps.rx-1"), Setting::Rps { dev: "eth0".into(), queue: 1 });
        assert_eq!(s("xps.tx-0"), Setting::Xps { dev: "eth0".into(), queue: 0 });
        assert_eq!(s("irq.rx-3"), Setting::QueueIrqAffinity { dev: "eth0".into(), queue: 3 });
        assert_eq!(
            s("rss-hash.udp6"),
            Setting::RssHashFields { dev: "eth0".into(), flow: "udp6".into() }
        );
        assert_eq!(s("rss-indir"), Setting::RssIndir { dev: "eth0".into() });
        assert_eq!(
            s("napi.irq-suspend-timeout"),
            Setting::Napi { dev: "eth0".into(), param: "irq-suspend-timeout".into() }
        );
        assert_eq!(
            s("napi.defer-hard-irqs"),
            Setting::Napi { dev: "eth0".into(), param: "defer-hard-irqs".into() }
        );
        for bad in [
            "napi",
            "napi.",
            "napi.threaded",
            "napi.irq_suspend_timeout",
            "napi.irq-suspend-timeout.x",
            "tso",
            "channels.other",
            "coalesce.tx-usecs",
            "ring.mini",
            "rps.1",
            "rps.rx-",
            "rps.rx-99999",
            "xps.rx-0",
            "irq.61",
            "irq.tx-0",
            "irq.rx-",
            "rss-hash",
            "rss-hash.tcp4",
            "rss-hash.udp4.x",
            "rss-indir.0",
            "rx-flow-hash.udp4",
            "busy_read",
            "",
            "gro.x",
        ] {
            let e = setting(bad, "eth0").unwrap_err();
            assert!(e.starts_with("--nic ") && e.lines().count() == 1, "{bad}: {e}");
        }
        assert!(setting("gro", "../etc").is_err());
    }

    #[test]
    fn sweeps_parse_and_cross() {
        let g = NicSweep::parse("gro=on,off").unwrap();
        assert_eq!(g.values, vec!["on", "off"]);
        assert!(NicSweep::parse("gro=yes").unwrap_err().is_bad_input());
        assert!(NicSweep::parse("threaded=on").unwrap_err().is_bad_input());
        assert!(NicSweep::parse("channels.combined=1,x").unwrap_err().is_bad_input());
        assert!(NicSweep::parse("gro").unwrap_err().is_bad_input());
        assert!(NicSweep::parse("gro=").unwrap_err().is_bad_input());
        assert_eq!(NicSweep::parse("rss-hash.udp4=sd,sdfn").unwrap().values, ["sd", "sdfn"]);
        assert_eq!(
            NicSweep::parse("rss-indir=default,equal:2,weight:1:1").unwrap().values,
            ["default", "equal:2", "weight:1:1"]
        );
        for bad in ["rss-hash.udp4=sdx", "rss-hash.udp4=ss", "rss-indir=equal:0", "rss-indir=2"] {
            let e = NicSweep::parse(bad).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().lines().count() == 1, "{bad}: {e}");
        }
        assert_eq!(
            NicSweep::parse("napi.irq-suspend-timeout=0,2000000").unwrap().values,
            ["0", "2000000"]
        );
        for bad in [
            "napi.irq-suspend-timeout=8193:0",
            "napi.irq-suspend-timeout=-1",
            "napi.defer-hard-irqs=2147483648",
        ] {
            let e = NicSweep::parse(bad).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().lines().count() == 1, "{bad}: {e}");
        }
        let e = NicSweep::parse("channels.rx=-1").unwrap_err().to_string();
        assert!(e.contains("channels.rx") && !e.contains("eth0"), "{e}");
        let c = NicSweep::parse("channels.combined=1,2").unwrap();
        let base = vec![Profile { name: "current".into(), ..Profile::default() }];
        let out = cross(base, &[g, c]);
        let names: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "nic.gro=on nic.channels.combined=1",
                "nic.gro=on nic.channels.combined=2",
                "nic.gro=off nic.channels.combined=1",
                "nic.gro=off nic.channels.combined=2"
            ]
        );
        assert_eq!(
            out[3].nic,
            vec![("gro".into(), "off".into()), ("channels.combined".into(), "2".into())]
        );
        assert!(any(&out));
    }

    /// A veth0 from recorded `ethtool` replies (crates/netdev/tests/fixtures) that keeps the
    /// GRO state `-K` sets, refuses coalescing as veth does, and notes every command with
    /// whether the journal existed when it ran.
    struct RecordedVeth {
        gro: std::sync::Mutex<bool>,
        journal: PathBuf,
        ran: std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>,
    }

    impl EthtoolRunner for RecordedVeth {
        fn run(&self, args: &[&str]) -> std::result::Result<String, String> {
            let key = args.join(" ");
            self.ran.lock().unwrap().push((key.clone(), self.journal.exists()));
            let mut gro = self.gro.lock().unwrap();
            match key.as_str() {
                "-k veth0" => Ok(include_str!("../../../netdev/tests/fixtures/ethtool-k-veth.txt")
                    .replace(
                        "generic-receive-offload: off",
                        if *gro {
                            "generic-receive-offload: on"
                        } else {
                            "generic-receive-offload: off"
                        },
                    )),
                "-l veth0" => {
                    Ok(include_str!("../../../netdev/tests/fixtures/ethtool-l-veth.txt").into())
                }
                "-K veth0 gro on" | "-K veth0 gro off" => {
                    *gro = key.ends_with("on");
                    Ok(String::new())
                }
                "-c veth0" | "-g veth0" => Err("netlink error: Operation not supported".into()),
                _ => Err(format!("unexpected ethtool {key}")),
            }
        }
    }

    /// The commands a [`RecordedVeth`] ran, each with whether the journal existed.
    type Ran = std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>;

    fn recorded(tag: &str) -> (NicApplier, Ran, PathBuf) {
        let d = std::env::temp_dir().join(format!("udprx-nic-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let root = d.join("tree");
        std::fs::create_dir_all(root.join("sys/class/net/veth0/queues/rx-0")).unwrap();
        std::fs::write(root.join("sys/class/net/veth0/gro_flush_timeout"), "0\n").unwrap();
        std::fs::write(root.join("sys/class/net/veth0/queues/rx-0/rps_cpus"), "0\n").unwrap();
        let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = Target { dev: "veth0".into(), netns: None };
        let mut a = NicApplier::with_system(
            Some(target),
            &d.join("journal"),
            Sys::at(&root),
            Box::new(RecordedVeth {
                gro: std::sync::Mutex::new(false),
                journal: PathBuf::new(),
                ran: ran.clone(),
            }),
        );
        let journal = a.journal_path().to_path_buf();
        a.ethtool = Box::new(RecordedVeth {
            gro: std::sync::Mutex::new(false),
            journal: journal.clone(),
            ran: ran.clone(),
        });
        (a, ran, d)
    }

    fn profile(name: &str, nic: &[(&str, &str)]) -> Profile {
        Profile {
            name: name.into(),
            nic: nic.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Profile::default()
        }
    }

    #[test]
    fn recorded_veth_gro_is_journaled_before_each_change_and_restored() {
        let (mut a, ran, d) = recorded("gro");
        let settings =
            cross(vec![profile("current", &[])], &[NicSweep::parse("gro=on,off").unwrap()]);
        a.check(&settings).unwrap();
        assert!(
            ran.lock().unwrap().iter().all(|(k, _)| !k.starts_with("-K")),
            "check changed nothing"
        );
        a.switch_to(&settings[0]).unwrap();
        assert_eq!(a.in_force(&["gro".into()])["nic.gro"].value, "on");
        assert_eq!(a.in_force(&["gro".into()])["nic.gro"].scope, Scope::Device);
        let journal: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.journal_path()).unwrap()).unwrap();
        assert_eq!(journal["nic"][0]["record"]["before"], "off", "{journal}");
        assert_eq!(journal["nic"][0]["netns"], serde_json::Value::Null, "{journal}");
        // Switching restores the original first; the next value is the original itself, so
        // nothing more changes and nothing is journaled.
        a.switch_to(&settings[1]).unwrap();
        assert_eq!(a.in_force(&["gro".into()])["nic.gro"].value, "off");
        assert!(!a.journal_path().exists());
        assert!(a.restore().is_empty());
        assert!(!a.journal_path().exists(), "the journal goes once every value is back");
        let changes: Vec<(String, bool)> =
            ran.lock().unwrap().iter().filter(|(k, _)| k.starts_with("-K")).cloned().collect();
        assert_eq!(
            changes,
            [("-K veth0 gro on".to_string(), true), ("-K veth0 gro off".to_string(), true)],
            "the change and its write-back ran while the original was journaled"
        );
        drop(a);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn recorded_veth_refuses_coalescing_and_rings_before_any_change() {
        let (a, ran, d) = recorded("refuse");
        let ok = profile("a", &[("gro", "on"), ("gro_flush_timeout", "20000")]);
        for (name, value) in [
            ("coalesce.rx-usecs", "10"),
            ("ring.rx", "512"),
            ("channels.rx", "3"),
            ("lro", "on"),
            ("channels.combined", "1"),
        ] {
            let bad = profile("b", &[(name, value)]);
            let e = a.check(&[ok.clone(), bad]).unwrap_err();
            let msg = e.to_string();
            assert!(e.is_bad_input() && msg.lines().count() == 1, "{msg}");
            assert!(
                msg.contains("veth0") && msg.contains(&format!("--nic {name}={value}")),
                "{msg}"
            );
        }
        assert!(ran.lock().unwrap().iter().all(|(k, _)| !k.starts_with("-K")));
        assert!(!a.journal_path().exists());
        // The sysfs knob on the recorded tree: read, applied, restored.
        let mut a = a;
        a.switch_to(&ok).unwrap();
        let f = d.join("tree/sys/class/net/veth0/gro_flush_timeout");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "20000");
        assert!(a.restore().is_empty());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "0");
        drop(a);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// `irq.rx-1` on a recorded two-queue NIC (its IRQs in `/proc/interrupts`, named by
    /// queue): checked before any change, journaled by device and queue, written to the IRQ
    /// discovery finds, restored; a CPU that is not online is refused in one line.
    #[test]
    fn queue_irq_affinity_on_a_recorded_nic_is_journaled_and_restored() {
        let d = std::env::temp_dir().join(format!("udprx-nic-irq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let root = d.join("tree");
        for q in 0..2 {
            std::fs::create_dir_all(root.join(format!("sys/class/net/eth2/queues/rx-{q}")))
                .unwrap();
            std::fs::create_dir_all(root.join(format!("proc/irq/{}", 61 + q))).unwrap();
            std::fs::write(root.join(format!("proc/irq/{}/smp_affinity_list", 61 + q)), "0-1\n")
                .unwrap();
        }
        std::fs::create_dir_all(root.join("sys/devices/system/cpu")).unwrap();
        std::fs::write(root.join("sys/devices/system/cpu/online"), "0-1\n").unwrap();
        std::fs::write(
            root.join("proc/interrupts"),
            "           CPU0       CPU1\n 61:  5  0  PCI-MSI 1-edge  eth2-TxRx-0\n \
             62:  0  5  PCI-MSI 2-edge  eth2-TxRx-1\n",
        )
        .unwrap();
        let target = Target { dev: "eth2".into(), netns: None };
        let mut a = NicApplier::with_system(
            Some(target),
            &d.join("journal"),
            Sys::at(&root),
            Box::new(EthtoolBinary),
        );
        let settings =
            cross(vec![profile("current", &[])], &[NicSweep::parse("irq.rx-1=1,0-1").unwrap()]);
        a.check(&settings).unwrap();
        let bad = profile("b", &[("irq.rx-1", "2")]);
        let e = a.check(&[bad]).unwrap_err().to_string();
        assert!(
            e.contains("--nic irq.rx-1=2 refused before any change: eth2 rx-1 IRQ affinity: CPU list 2 is not within the online CPUs 0-1")
                && e.lines().count() == 1,
            "{e}"
        );
        let f = root.join("proc/irq/62/smp_affinity_list");
        a.switch_to(&settings[0]).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "1");
        let journal: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.journal_path()).unwrap()).unwrap();
        assert_eq!(journal["nic"][0]["record"]["setting"]["kind"], "queue_irq_affinity");
        assert_eq!(journal["nic"][0]["record"]["before"], "0-1", "{journal}");
        assert_eq!(a.in_force(&["irq.rx-1".into()])["nic.irq.rx-1"].value, "1");
        assert!(a.restore().is_empty());
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "0-1");
        assert_eq!(
            std::fs::read_to_string(root.join("proc/irq/61/smp_affinity_list")).unwrap(),
            "0-1\n"
        );
        assert!(!a.journal_path().exists());
        drop(a);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A 4-ring NIC from recorded replies (`ethtool -n eth2 rx-flow-hash udp4`, `ethtool -x
    /// eth2` of an ixgbe, crates/netdev/tests/fixtures) that keeps what `-N`/`-X` set, and
    /// notes every command with whether the journal existed when it ran.
    struct RecordedRss {
        udp4: std::sync::Mutex<String>,
        indir: std::sync::Mutex<udprx_netdev::rss::Indir>,
        journal: PathBuf,
        ran: Ran,
    }

    impl EthtoolRunner for RecordedRss {
        fn run(&self, args: &[&str]) -> std::result::Result<String, String> {
            use udprx_netdev::rss::Indir;
            self.ran.lock().unwrap().push((args.join(" "), self.journal.exists()));
            let fixture = include_str!("../../../netdev/tests/fixtures/ethtool-x-ixgbe.txt");
            match args {
                ["-n", "eth2", "rx-flow-hash", "udp4"] => {
                    let udp4 = self.udp4.lock().unwrap();
                    let ports =
                        "L4 bytes 0 & 1 [TCP/UDP src port]\nL4 bytes 2 & 3 [TCP/UDP dst port]\n";
                    let text =
                        include_str!("../../../netdev/tests/fixtures/ethtool-n-udp4-ixgbe.txt");
                    Ok(if *udp4 == "sdfn" {
                        text.replace("IP DA\n", &format!("IP DA\n{ports}"))
                    } else {
                        text.into()
                    })
                }
                ["-N", "eth2", "rx-flow-hash", "udp4", v @ ("sd" | "sdfn")] => {
                    *self.udp4.lock().unwrap() = v.to_string();
                    Ok(String::new())
                }
                ["-x", "eth2"] => {
                    let table = self.indir.lock().unwrap().table(4, 128);
                    let mut out = fixture.lines().next().unwrap().to_string() + "\n";
                    for (row, chunk) in table.chunks(8).enumerate() {
                        out += &format!("{:5}: ", row * 8);
                        out += &chunk.iter().map(|e| format!(" {e:5}")).collect::<String>();
                        out += "\n";
                    }
                    Ok(out + "RSS hash key:\n")
                }
                ["-X", "eth2", "default"] => {
                    *self.indir.lock().unwrap() = Indir::Default;
                    Ok(String::new())
                }
                ["-X", "eth2", "equal", n] => {
                    *self.indir.lock().unwrap() = Indir::Equal(n.parse().unwrap());
                    Ok(String::new())
                }
                _ => Err(format!("unexpected ethtool {}", args.join(" "))),
            }
        }
    }

    /// `rss-hash.udp4` and `rss-indir` on a recorded NIC: checked before any change (equal:N
    /// beyond the RX rings refused in one line), each original journaled before its change
    /// (the journal exists when `-N`/`-X` run), restored to what it was, the journal gone.
    #[test]
    fn rss_settings_on_a_recorded_nic_are_journaled_before_each_change_and_restored() {
        let d = std::env::temp_dir().join(format!("udprx-nic-rss-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let ran: Ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = Target { dev: "eth2".into(), netns: None };
        let mut a = NicApplier::with_system(
            Some(target),
            &d.join("journal"),
            Sys::at(&d.join("tree")),
            Box::new(EthtoolBinary),
        );
        a.ethtool = Box::new(RecordedRss {
            udp4: std::sync::Mutex::new("sd".into()),
            indir: std::sync::Mutex::new(udprx_netdev::rss::Indir::Default),
            journal: a.journal_path().to_path_buf(),
            ran: ran.clone(),
        });
        let settings = cross(
            vec![profile("current", &[])],
            &[
                NicSweep::parse("rss-hash.udp4=sdfn").unwrap(),
                NicSweep::parse("rss-indir=equal:2,default").unwrap(),
            ],
        );
        a.check(&settings).unwrap();
        let e = a.check(&[profile("b", &[("rss-indir", "equal:8")])]).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert_eq!(
            e.to_string().lines().collect::<Vec<_>>(),
            ["--nic rss-indir=equal:8 refused before any change: eth2 RSS indirection table: \
              equal:8 spreads over 8 rings; the device has 4 RX rings"]
        );
        assert!(
            ran.lock().unwrap().iter().all(|(k, _)| !k.starts_with("-N") && !k.starts_with("-X"))
        );
        a.switch_to(&settings[0]).unwrap();
        let names = ["rss-hash.udp4".to_string(), "rss-indir".to_string()];
        let now = a.in_force(&names);
        assert_eq!(
            (now["nic.rss-hash.udp4"].value.as_str(), now["nic.rss-indir"].value.as_str()),
            ("sdfn", "equal:2")
        );
        let journal: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(a.journal_path()).unwrap()).unwrap();
        assert_eq!(journal["nic"][0]["record"]["setting"]["kind"], "rss_hash_fields", "{journal}");
        assert_eq!(journal["nic"][0]["record"]["before"], "sd", "{journal}");
        assert_eq!(journal["nic"][1]["record"]["setting"]["kind"], "rss_indir", "{journal}");
        assert_eq!(journal["nic"][1]["record"]["before"], "default", "{journal}");
        for entry in journal["nic"].as_array().unwrap() {
            let e: journal::NicEntry = serde_json::from_value(entry.clone()).unwrap();
            allowed::check_nic(None, std::process::id(), &e.record).unwrap();
        }
        // The second setting: the originals back first; its indirection value is the
        // original itself, so only the hash fields change again.
        a.switch_to(&settings[1]).unwrap();
        let now = a.in_force(&names);
        assert_eq!(
            (now["nic.rss-hash.udp4"].value.as_str(), now["nic.rss-indir"].value.as_str()),
            ("sdfn", "default")
        );
        assert!(a.restore().is_empty());
        assert!(!a.journal_path().exists());
        let now = a.in_force(&names);
        assert_eq!(
            (now["nic.rss-hash.udp4"].value.as_str(), now["nic.rss-indir"].value.as_str()),
            ("sd", "default")
        );
        let changes: Vec<(String, bool)> = ran
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("-N") || k.starts_with("-X"))
            .cloned()
            .collect();
        let want = [
            "-N eth2 rx-flow-hash udp4 sdfn",
            "-X eth2 equal 2",
            "-X eth2 default",
            "-N eth2 rx-flow-hash udp4 sd",
            "-N eth2 rx-flow-hash udp4 sdfn",
            "-N eth2 rx-flow-hash udp4 sd",
        ];
        assert_eq!(
            changes,
            want.iter().map(|c| (c.to_string(), true)).collect::<Vec<_>>(),
            "every change and write-back ran while the original was journaled"
        );
        drop(a);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn loopback_has_no_target() {
        let e = Target::of(&topology::Topology::loopback(), None).unwrap_err();
        assert!(e.is_bad_input() && e.to_string().contains("--topology veth"), "{e}");
        let remote = topology::Topology::remote("198.18.0.2".parse().unwrap());
        assert!(Target::of(&remote, None).unwrap_err().to_string().contains("--iface"));
        assert_eq!(Target::of(&remote, Some("eth3")).unwrap().dev, "eth3");
    }

    #[test]
    fn without_nic_settings_nothing_is_touched_or_journaled() {
        let d = std::env::temp_dir().join(format!("udprx-nic-none-{}", std::process::id()));
        let mut a = NicApplier::with_journal_dir(None, &d);
        let p = Profile { name: "current".into(), ..Profile::default() };
        a.check(std::slice::from_ref(&p)).unwrap();
        a.switch_to(&p).unwrap();
        assert!(a.restore().is_empty());
        assert!(a.in_force(&["gro".into()]).is_empty());
        assert!(!d.exists());
        let q = Profile { nic: vec![("gro".into(), "off".into())], ..p };
        assert!(a.check(&[q]).unwrap_err().is_bad_input());
    }
}
