//! NIC and interrupt settings as data: each [`Setting`] can be read, checked for support
//! (refused before anything changes, in one line naming the device and the setting), applied,
//! and undone from a [`RestoreRecord`] that the caller journals *before* the change.
//!
//! | setting | read / write through |
//! |---|---|
//! | ethtool features `gro`, `lro`, `rx-udp-gro-forwarding`, `rxhash` | `ethtool -k` / `-K` |
//! | channels (`combined`, `rx`, `tx`) | `ethtool -l` / `-L` |
//! | coalescing `adaptive-rx`, `rx-usecs`, `rx-frames` | `ethtool -c` / `-C` |
//! | rings (`rx`, `tx`) | `ethtool -g` / `-G` |
//! | IRQ affinity (of an IRQ, or of the IRQ serving a receive queue) | `/proc/irq/N/smp_affinity_list` |
//! | RPS, RFS per queue, XPS | `queues/rx-N/rps_cpus`, `rps_flow_cnt`, `queues/tx-N/xps_cpus` |
//! | RFS table | `net.core.rps_sock_flow_entries` |
//! | threaded NAPI | `/sys/class/net/DEV/threaded` |
//! | `napi_defer_hard_irqs`, `gro_flush_timeout` | `/sys/class/net/DEV/...` |
//! | per NAPI instance: `irq-suspend-timeout`, `defer-hard-irqs`, `gro-flush-timeout` | netdev generic netlink `napi-get` / `napi-set` ([`crate::genl`], Linux 6.13+) |
//! | busy polling | `net.core.busy_read`, `net.core.busy_poll` |
//! | RSS hash fields of `udp4`/`udp6` (ethtool's letters `sdfn`) | `ethtool -n DEV rx-flow-hash udp4` / `-N` |
//! | RSS indirection table (`default`, `equal:N`, `weight:W0:W1:...`) | `ethtool -x` / `-X` |
//!
//! The `ethtool` binary (installed by `scripts/setup.sh`) is reached through [`EthtoolRunner`],
//! so tests replay recorded replies (veth refuses coalescing and rings with "Operation not
//! supported"; `tests/fixtures/` holds a NIC's replies).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::genl::{self, NapiParam};
use crate::sys::{Sys, parse_cpu_list};

/// One NIC or interrupt setting (what, not its value).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Setting {
    /// An ethtool feature: `gro`, `lro`, `rx-udp-gro-forwarding` or `rxhash`; `on`/`off`.
    Feature {
        /// Interface.
        dev: String,
        /// Short feature name.
        feature: String,
    },
    /// Channel count: `combined`, `rx` or `tx`; an integer.
    Channels {
        /// Interface.
        dev: String,
        /// Which count.
        which: String,
    },
    /// Interrupt coalescing: `adaptive-rx` (`on`/`off`), `rx-usecs` or `rx-frames` (integer).
    Coalesce {
        /// Interface.
        dev: String,
        /// Parameter.
        param: String,
    },
    /// Ring size: `rx` or `tx`; an integer.
    Ring {
        /// Interface.
        dev: String,
        /// Which ring.
        which: String,
    },
    /// CPUs an IRQ is delivered to; a CPU list.
    IrqAffinity {
        /// IRQ number.
        irq: u32,
    },
    /// CPUs the interrupt of a device's receive queue is delivered to; a CPU list. The IRQ is
    /// found on the device each time (discovery: `device/msi_irqs` and `/proc/interrupts`
    /// names, see [`crate::discover`](mod@crate::discover)), never taken from a record, so a journal names a device
    /// and a queue, not a file.
    QueueIrqAffinity {
        /// Interface.
        dev: String,
        /// Receive queue.
        queue: usize,
    },
    /// RPS CPUs of a receive queue; a hex CPU mask.
    Rps {
        /// Interface.
        dev: String,
        /// Receive queue.
        queue: usize,
    },
    /// RFS flow count of a receive queue; an integer.
    RpsFlowCnt {
        /// Interface.
        dev: String,
        /// Receive queue.
        queue: usize,
    },
    /// XPS CPUs of a transmit queue; a hex CPU mask.
    Xps {
        /// Interface.
        dev: String,
        /// Transmit queue.
        queue: usize,
    },
    /// `net.core.rps_sock_flow_entries`; an integer.
    RfsEntries,
    /// Threaded NAPI of a device; `0`/`1`.
    ThreadedNapi {
        /// Interface.
        dev: String,
    },
    /// `napi_defer_hard_irqs` of a device; an integer.
    NapiDeferHardIrqs {
        /// Interface.
        dev: String,
    },
    /// `gro_flush_timeout` of a device, ns; an integer.
    GroFlushTimeout {
        /// Interface.
        dev: String,
    },
    /// A parameter of every NAPI instance of a device, through the netdev generic netlink
    /// family (`napi-get`/`napi-set`, Linux 6.13+): `irq-suspend-timeout`, `defer-hard-irqs`
    /// or `gro-flush-timeout` ([`crate::genl::NapiParam`]). The value to set is an integer
    /// (written to every NAPI the device lists); a reading where the NAPIs differ, and a
    /// record's `before`, give each NAPI id its value: `ID:V ID:V ...`.
    Napi {
        /// Interface.
        dev: String,
        /// Parameter, as the netdev family names it.
        param: String,
    },
    /// `net.core.busy_read`, µs; an integer.
    BusyRead,
    /// `net.core.busy_poll`, µs; an integer.
    BusyPoll,
    /// The fields the RSS hash of a UDP flow type covers (`udp4`, `udp6`); ethtool's letters
    /// (`sd`, `sdfn`, see [`crate::rss`]).
    RssHashFields {
        /// Interface.
        dev: String,
        /// Flow type, one of [`crate::rss::FLOWS`].
        flow: String,
    },
    /// The RSS indirection table; `default`, `equal:N` or `weight:W0:W1:...`
    /// ([`crate::rss::Indir`]).
    RssIndir {
        /// Interface.
        dev: String,
    },
}

const FEATURES: [(&str, &str); 4] = [
    ("gro", "generic-receive-offload"),
    ("lro", "large-receive-offload"),
    ("rx-udp-gro-forwarding", "rx-udp-gro-forwarding"),
    ("rxhash", "receive-hashing"),
];

/// The shape of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    OnOff,
    Bool01,
    Int,
    CpuList,
    HexMask,
    HashFields,
    Indir,
    NapiValues,
}

/// A device name the kernel could have made: 1..=15 bytes, no `/`, whitespace or `:`.
pub fn valid_dev(dev: &str) -> bool {
    !dev.is_empty()
        && dev.len() < 16
        && dev != "."
        && dev != ".."
        && dev.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
}

impl Setting {
    /// The device it belongs to, if any.
    pub fn dev(&self) -> Option<&str> {
        use Setting::*;
        match self {
            Feature { dev, .. }
            | Channels { dev, .. }
            | Coalesce { dev, .. }
            | Ring { dev, .. }
            | Rps { dev, .. }
            | RpsFlowCnt { dev, .. }
            | Xps { dev, .. }
            | QueueIrqAffinity { dev, .. }
            | ThreadedNapi { dev }
            | NapiDeferHardIrqs { dev }
            | GroFlushTimeout { dev }
            | RssHashFields { dev, .. }
            | Napi { dev, .. }
            | RssIndir { dev } => Some(dev),
            IrqAffinity { .. } | RfsEntries | BusyRead | BusyPoll => None,
        }
    }

    /// `eth0 gro`, `IRQ 61 affinity`, `net.core.busy_read`: how messages name it.
    pub fn describe(&self) -> String {
        use Setting::*;
        match self {
            Feature { dev, feature } => format!("{dev} {feature}"),
            Channels { dev, which } => format!("{dev} channels {which}"),
            Coalesce { dev, param } => format!("{dev} coalescing {param}"),
            Ring { dev, which } => format!("{dev} ring {which}"),
            IrqAffinity { irq } => format!("IRQ {irq} affinity"),
            QueueIrqAffinity { dev, queue } => format!("{dev} rx-{queue} IRQ affinity"),
            Rps { dev, queue } => format!("{dev} rx-{queue} rps_cpus"),
            RpsFlowCnt { dev, queue } => format!("{dev} rx-{queue} rps_flow_cnt"),
            Xps { dev, queue } => format!("{dev} tx-{queue} xps_cpus"),
            RfsEntries => "net.core.rps_sock_flow_entries".into(),
            ThreadedNapi { dev } => format!("{dev} threaded NAPI"),
            NapiDeferHardIrqs { dev } => format!("{dev} napi_defer_hard_irqs"),
            GroFlushTimeout { dev } => format!("{dev} gro_flush_timeout"),
            BusyRead => "net.core.busy_read".into(),
            BusyPoll => "net.core.busy_poll".into(),
            RssHashFields { dev, flow } => format!("{dev} RSS hash fields of {flow}"),
            RssIndir { dev } => format!("{dev} RSS indirection table"),
            Napi { dev, param } => format!("{dev} NAPI {param}"),
        }
    }

    fn shape(&self) -> Shape {
        use Setting::*;
        match self {
            Feature { .. } => Shape::OnOff,
            Coalesce { param, .. } if param == "adaptive-rx" => Shape::OnOff,
            ThreadedNapi { .. } => Shape::Bool01,
            IrqAffinity { .. } | QueueIrqAffinity { .. } => Shape::CpuList,
            Rps { .. } | Xps { .. } => Shape::HexMask,
            RssHashFields { .. } => Shape::HashFields,
            RssIndir { .. } => Shape::Indir,
            Napi { .. } => Shape::NapiValues,
            _ => Shape::Int,
        }
    }

    /// Checks the setting itself (names, device) — what a journal may hold.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(dev) = self.dev()
            && !valid_dev(dev)
        {
            return Err(format!("'{}' is not an interface name", dev.escape_default()));
        }
        use Setting::*;
        let ok = match self {
            Feature { feature, .. } => FEATURES.iter().any(|(s, _)| s == feature),
            Channels { which, .. } => ["combined", "rx", "tx"].contains(&which.as_str()),
            Coalesce { param, .. } => {
                ["adaptive-rx", "rx-usecs", "rx-frames"].contains(&param.as_str())
            }
            Ring { which, .. } => ["rx", "tx"].contains(&which.as_str()),
            RssHashFields { flow, .. } => crate::rss::FLOWS.contains(&flow.as_str()),
            Napi { param, .. } => NapiParam::from_name(param).is_some(),
            _ => true,
        };
        if ok { Ok(()) } else { Err(format!("{}: not a setting this tool knows", self.describe())) }
    }

    /// Checks a value's shape for this setting.
    pub fn validate_value(&self, v: &str) -> Result<(), String> {
        let ok = match self.shape() {
            Shape::OnOff => v == "on" || v == "off",
            Shape::Bool01 => v == "0" || v == "1",
            Shape::Int => !v.is_empty() && v.len() <= 20 && v.parse::<u64>().is_ok(),
            Shape::CpuList => v.len() <= 4096 && parse_cpu_list(v).is_ok_and(|c| !c.is_empty()),
            Shape::HexMask => {
                !v.is_empty()
                    && v.len() <= 4096
                    && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b',')
            }
            Shape::HashFields | Shape::Indir => true,
            Shape::NapiValues => self.napi_param().is_some_and(|p| parse_napi_values(v, p).is_ok()),
        };
        let why = match self.shape() {
            Shape::HashFields => crate::rss::check_hash_fields(v).err(),
            Shape::Indir => crate::rss::Indir::parse(v).err(),
            _ => None,
        };
        match (ok, why) {
            (true, None) => Ok(()),
            (_, why) => Err(format!(
                "{}: '{}' is not a valid value{}",
                self.describe(),
                v.escape_default(),
                why.map(|w| format!(" ({w})")).unwrap_or_default()
            )),
        }
    }

    /// The file behind a sysfs/procfs setting (`None` for ethtool ones, and for a receive
    /// queue's IRQ affinity, whose file [`Settings::file`] finds on the device).
    pub fn path(&self, sys: &Sys) -> Option<PathBuf> {
        use Setting::*;
        let net = |dev: &str| sys.dev_dir(dev);
        Some(match self {
            IrqAffinity { irq } => sys.proc.join(format!("irq/{irq}/smp_affinity_list")),
            Rps { dev, queue } => net(dev).join(format!("queues/rx-{queue}/rps_cpus")),
            RpsFlowCnt { dev, queue } => net(dev).join(format!("queues/rx-{queue}/rps_flow_cnt")),
            Xps { dev, queue } => net(dev).join(format!("queues/tx-{queue}/xps_cpus")),
            RfsEntries => sys.proc.join("sys/net/core/rps_sock_flow_entries"),
            ThreadedNapi { dev } => net(dev).join("threaded"),
            NapiDeferHardIrqs { dev } => net(dev).join("napi_defer_hard_irqs"),
            GroFlushTimeout { dev } => net(dev).join("gro_flush_timeout"),
            BusyRead => sys.proc.join("sys/net/core/busy_read"),
            BusyPoll => sys.proc.join("sys/net/core/busy_poll"),
            Feature { .. }
            | Channels { .. }
            | Coalesce { .. }
            | Ring { .. }
            | QueueIrqAffinity { .. }
            | RssHashFields { .. }
            | Napi { .. }
            | RssIndir { .. } => return None,
        })
    }
}

impl Setting {
    /// The per-NAPI parameter of a [`Setting::Napi`].
    fn napi_param(&self) -> Option<NapiParam> {
        match self {
            Setting::Napi { param, .. } => NapiParam::from_name(param),
            _ => None,
        }
    }
}

/// Most NAPI instances a per-NAPI value names (a bound on parsing).
const MAX_NAPIS: usize = 4096;

/// NAPI ids, each with a value.
type NapiValues = Vec<(u32, u64)>;

/// A per-NAPI value: `Ok(None)` with the value for a plain integer (every NAPI), or the value
/// of each NAPI id (`ID:V ID:V ...`, ids distinct). Plain digits only, values within the
/// parameter's range.
fn parse_napi_values(v: &str, p: NapiParam) -> Result<(Option<u64>, NapiValues), String> {
    fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
        (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let value = |s: &str| {
        digits::<u64>(s)
            .filter(|&x| x <= p.max())
            .ok_or_else(|| format!("{s:?} is not an integer in 0..={}", p.max()))
    };
    if !v.contains(':') {
        return Ok((Some(value(v)?), Vec::new()));
    }
    let mut out: Vec<(u32, u64)> = Vec::new();
    for pair in v.split(' ') {
        let (id, x) = pair.split_once(':').ok_or_else(|| format!("{pair:?} is not ID:VALUE"))?;
        let id = digits::<u32>(id).ok_or_else(|| format!("{id:?} is not a NAPI id"))?;
        if out.iter().any(|(i, _)| *i == id) {
            return Err(format!("NAPI {id} appears twice"));
        }
        out.push((id, value(x)?));
        if out.len() > MAX_NAPIS {
            return Err(format!("more than {MAX_NAPIS} NAPI instances"));
        }
    }
    Ok((None, out))
}

/// A per-NAPI reading as a value: the integer when every NAPI has it, else `ID:V ID:V ...`.
fn format_napi_values(values: &[(u32, u64)]) -> String {
    match values {
        [(_, first), rest @ ..] if rest.iter().all(|(_, v)| v == first) => first.to_string(),
        _ => values.iter().map(|(id, v)| format!("{id}:{v}")).collect::<Vec<_>>().join(" "),
    }
}

/// What must be written back to undo a change: journal it before applying.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreRecord {
    /// The setting.
    pub setting: Setting,
    /// Its value before the change (what a restore writes).
    pub before: String,
    /// The value the change sets.
    pub after: String,
}

/// Checks a restore record read back from a journal: a known setting on a well-formed device
/// name, values of the setting's shape. A restore writes nothing a record that fails this names.
pub fn validate_record(r: &RestoreRecord) -> Result<(), String> {
    r.setting.validate()?;
    r.setting.validate_value(&r.before)?;
    r.setting.validate_value(&r.after)
}

/// Runs `ethtool` with arguments and returns its stdout, or its error text (one line).
pub trait EthtoolRunner: Send + Sync {
    /// Runs `ethtool args...`.
    fn run(&self, args: &[&str]) -> Result<String, String>;
}

/// The `ethtool` binary on `PATH`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EthtoolBinary;

impl EthtoolRunner for EthtoolBinary {
    fn run(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ethtool")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run ethtool ({e}); scripts/setup.sh installs it"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err.lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim().to_string())
        }
    }
}

/// Reads, checks, applies and restores settings on one host.
pub struct Settings<'a> {
    /// Where sysfs/procfs are.
    pub sys: Sys,
    /// How ethtool is run.
    pub ethtool: &'a dyn EthtoolRunner,
}

/// `ethtool -k` text: feature name → (on, fixed).
pub fn parse_features(text: &str) -> BTreeMap<String, (bool, bool)> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip_while(|l| l.starts_with("Features for")) {
        let Some((name, rest)) = line.trim().split_once(':') else { continue };
        let rest = rest.trim();
        let on = rest.starts_with("on");
        let fixed = rest.contains("[fixed]");
        out.insert(name.trim().to_string(), (on, fixed));
    }
    out
}

/// `ethtool -l` or `-g` text: (maximums, current), lower-case keys (`rx`, `tx`, `combined`),
/// `None` for `n/a`.
pub type MaxAndCurrent = (BTreeMap<String, Option<u64>>, BTreeMap<String, Option<u64>>);

/// Parses `ethtool -l` / `ethtool -g` output into [`MaxAndCurrent`].
pub fn parse_max_current(text: &str) -> MaxAndCurrent {
    let (mut max, mut cur) = (BTreeMap::new(), BTreeMap::new());
    let mut in_current = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Pre-set maximums") {
            in_current = Some(false);
            continue;
        }
        if t.starts_with("Current hardware settings") {
            in_current = Some(true);
            continue;
        }
        let (Some(cur_section), Some((k, v))) = (in_current, t.split_once(':')) else { continue };
        let key = k.trim().to_ascii_lowercase();
        let val = v.trim().parse::<u64>().ok();
        if cur_section {
            cur.insert(key, val)
        } else {
            max.insert(key, val)
        };
    }
    (max, cur)
}

/// `ethtool -c` text: parameter → value (`adaptive-rx`: `on`/`off`; others as printed).
pub fn parse_coalesce(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Adaptive RX:") {
            let v = rest.split_whitespace().next().unwrap_or("n/a");
            out.insert("adaptive-rx".to_string(), v.to_string());
            continue;
        }
        if let Some((k, v)) = t.split_once(':')
            && !k.contains(' ')
        {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

impl Settings<'_> {
    /// The setting's current value.
    pub fn read(&self, s: &Setting) -> Result<String, String> {
        s.validate()?;
        use Setting::*;
        let refuse = |why: String| format!("{}: {why}", s.describe());
        match s {
            Feature { dev, feature } => {
                let long = FEATURES.iter().find(|(k, _)| k == feature).map(|(_, l)| *l);
                let f = parse_features(&self.ethtool.run(&["-k", dev]).map_err(refuse)?);
                match long.and_then(|l| f.get(l)) {
                    Some((on, _)) => Ok(if *on { "on" } else { "off" }.to_string()),
                    None => Err(refuse("the device does not report this feature".into())),
                }
            }
            Channels { dev, which } | Ring { dev, which } => {
                let flag = if matches!(s, Channels { .. }) { "-l" } else { "-g" };
                let (_, cur) = parse_max_current(&self.ethtool.run(&[flag, dev]).map_err(refuse)?);
                match cur.get(which.as_str()) {
                    Some(Some(v)) => Ok(v.to_string()),
                    _ => Err(refuse("not supported by the device (n/a)".into())),
                }
            }
            Coalesce { dev, param } => {
                let c = parse_coalesce(&self.ethtool.run(&["-c", dev]).map_err(refuse)?);
                match c.get(param.as_str()) {
                    Some(v) if v != "n/a" => Ok(v.clone()),
                    _ => Err(refuse("not supported by the device (n/a)".into())),
                }
            }
            RssHashFields { dev, flow } => {
                let text = self.ethtool.run(&["-n", dev, "rx-flow-hash", flow]).map_err(refuse)?;
                crate::rss::parse_hash_fields(&text).map_err(refuse)
            }
            RssIndir { .. } => {
                let t = self.indir_table(s)?;
                crate::rss::Indir::of_table(&t).map(|i| i.to_value()).map_err(refuse)
            }
            Napi { .. } => Ok(format_napi_values(&self.napi_values(s)?)),
            _ => {
                let path = self.file(s)?.unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    refuse(format!(
                        "not available on this kernel or device ({}: {e})",
                        path.display()
                    ))
                })?;
                Ok(text.trim().to_string())
            }
        }
    }

    /// Checks that `value` can be set: the value's shape, and support by the device (read
    /// works, the feature is not fixed, the count is within the device's maximum, the file is
    /// writable). The error is one line naming the device and the setting; nothing changes.
    pub fn check(&self, s: &Setting, value: &str) -> Result<(), String> {
        s.validate_value(value)?;
        self.read(s)?;
        use Setting::*;
        let refuse = |why: String| format!("{}: {why}", s.describe());
        match s {
            Feature { dev, feature } => {
                let long = FEATURES.iter().find(|(k, _)| k == feature).map(|(_, l)| *l);
                let f = parse_features(&self.ethtool.run(&["-k", dev]).map_err(refuse)?);
                if long.and_then(|l| f.get(l)).is_some_and(|(_, fixed)| *fixed) {
                    return Err(refuse("fixed by the device, cannot be changed".into()));
                }
            }
            Channels { dev, which } | Ring { dev, which } => {
                let flag = if matches!(s, Channels { .. }) { "-l" } else { "-g" };
                let (max, _) = parse_max_current(&self.ethtool.run(&[flag, dev]).map_err(refuse)?);
                let want: u64 = value.parse().unwrap_or(0);
                match max.get(which.as_str()) {
                    Some(Some(m)) if want >= 1 && want <= *m => {}
                    Some(Some(m)) => return Err(refuse(format!("{want} is outside 1..={m}"))),
                    _ => return Err(refuse("no maximum reported: not supported".into())),
                }
            }
            Coalesce { .. } | RssHashFields { .. } => {}
            RssIndir { .. } => {
                let want = crate::rss::Indir::parse(value).map_err(refuse)?;
                want.check_on(&self.indir_table(s)?).map_err(refuse)?;
            }
            Napi { param, .. } => {
                if value.contains(':') {
                    return Err(refuse(format!(
                        "'{}' is not an integer (a value per NAPI id is a journal's, not a \
                         setting's)",
                        value.escape_default()
                    )));
                }
                if !genl::is_root() {
                    return Err(refuse(format!(
                        "setting {param} needs root (napi-set needs CAP_NET_ADMIN)"
                    )));
                }
            }
            _ => {
                let path = self.file(s)?.unwrap_or_default();
                let meta = std::fs::metadata(&path).map_err(|e| refuse(e.to_string()))?;
                if meta.permissions().readonly() {
                    return Err(refuse(format!("{} is read-only", path.display())));
                }
                if matches!(s, IrqAffinity { .. } | QueueIrqAffinity { .. }) {
                    self.check_online(value).map_err(refuse)?;
                }
            }
        }
        Ok(())
    }

    /// The device's RSS indirection table (`ethtool -x`), refused naming the setting.
    fn indir_table(&self, s: &Setting) -> Result<crate::rss::IndirTable, String> {
        let refuse = |why: String| format!("{}: {why}", s.describe());
        let Some(dev) = s.dev() else { return Err(refuse("names no device".into())) };
        crate::rss::parse_indir(&self.ethtool.run(&["-x", dev]).map_err(refuse)?).map_err(refuse)
    }

    /// The file behind a sysfs/procfs setting (`None` for ethtool ones); a receive queue's IRQ
    /// affinity is `/proc/irq/N/smp_affinity_list` of the IRQ [`Settings::queue_irq`] finds.
    pub fn file(&self, s: &Setting) -> Result<Option<PathBuf>, String> {
        match s {
            Setting::QueueIrqAffinity { dev, queue } => {
                let irq =
                    self.queue_irq(dev, *queue).map_err(|e| format!("{}: {e}", s.describe()))?;
                Ok(Some(self.sys.proc.join(format!("irq/{irq}/smp_affinity_list"))))
            }
            _ => Ok(s.path(&self.sys)),
        }
    }

    /// The IRQ that serves receive queue `queue` of `dev`, found by discovery (an interrupt
    /// whose name gives that queue and does not say transmit-only). Refused, saying why, when
    /// the device has no interrupts of its own (veth, loopback), when no interrupt serves the
    /// queue, or when more than one does.
    pub fn queue_irq(&self, dev: &str, queue: usize) -> Result<u32, String> {
        let info = crate::discover::discover(&self.sys, dev).map_err(|e| e.to_string())?;
        if info.irqs.is_empty() {
            return Err(format!(
                "{dev} has no per-queue interrupt ({} has no interrupts of its own: its queues \
                 are served by NAPI on the CPU that raised the softirq; steer with rps.rx-N)",
                info.kind
            ));
        }
        let serving: Vec<&crate::discover::Irq> =
            info.irqs.iter().filter(|i| i.queue == Some(queue) && i.rx != Some(false)).collect();
        match serving.as_slice() {
            [one] => Ok(one.irq),
            [] => {
                let known: Vec<String> = info
                    .irqs
                    .iter()
                    .filter(|i| i.queue.is_some() && i.rx != Some(false))
                    .map(|i| format!("{} {}", i.irq, i.name))
                    .collect();
                Err(format!(
                    "no interrupt of {dev} serves rx queue {queue} (receive queue IRQs: {})",
                    if known.is_empty() { "none found".to_string() } else { known.join(", ") }
                ))
            }
            many => {
                let names: Vec<String> =
                    many.iter().map(|i| format!("{} {}", i.irq, i.name)).collect();
                Err(format!(
                    "{} interrupts of {dev} serve rx queue {queue} ({}): which one to set is \
                     ambiguous",
                    many.len(),
                    names.join(", ")
                ))
            }
        }
    }

    /// Checks that every CPU of a CPU list is online (`/sys/devices/system/cpu/online`).
    fn check_online(&self, value: &str) -> Result<(), String> {
        let path = self.sys.sys.join("devices/system/cpu/online");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the online CPUs ({}: {e})", path.display()))?;
        let online = parse_cpu_list(&text)?;
        let want = parse_cpu_list(value)?;
        let off: Vec<usize> = want.iter().copied().filter(|c| !online.contains(c)).collect();
        if off.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "CPU list {value} is not within the online CPUs {} (not online: {})",
                text.trim(),
                crate::sys::format_cpu_list(&off)
            ))
        }
    }

    /// Checks the change and returns the record to journal before [`Settings::apply`].
    pub fn prepare(&self, s: &Setting, value: &str) -> Result<RestoreRecord, String> {
        self.check(s, value)?;
        let before = match s {
            // Each NAPI id with its value, so a restore writes back exactly what each had.
            Setting::Napi { .. } => self
                .napi_values(s)?
                .iter()
                .map(|(id, v)| format!("{id}:{v}"))
                .collect::<Vec<_>>()
                .join(" "),
            _ => normalise(s, &self.read(s)?),
        };
        let r = RestoreRecord { setting: s.clone(), before, after: value.to_string() };
        validate_record(&r)?;
        Ok(r)
    }

    /// Writes `value` (checked again first).
    pub fn apply(&self, s: &Setting, value: &str) -> Result<(), String> {
        s.validate()?;
        s.validate_value(value)?;
        use Setting::*;
        let fail = |why: String| format!("{}: {why}", s.describe());
        match s {
            Feature { dev, feature } => self.ethtool.run(&["-K", dev, feature, value]).map(drop),
            Channels { dev, which } => self.ethtool.run(&["-L", dev, which, value]).map(drop),
            Coalesce { dev, param } => self.ethtool.run(&["-C", dev, param, value]).map(drop),
            Ring { dev, which } => self.ethtool.run(&["-G", dev, which, value]).map(drop),
            RssHashFields { dev, flow } => {
                self.ethtool.run(&["-N", dev, "rx-flow-hash", flow, value]).map(drop)
            }
            RssIndir { dev } => {
                let args = crate::rss::Indir::parse(value)?.args(dev);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                self.ethtool.run(&args).map(drop)
            }
            Napi { .. } => return self.napi_write(s, value).map(drop),
            _ => {
                let path = self.file(s)?.unwrap_or_default();
                std::fs::write(&path, value).map_err(|e| format!("{}: {e}", path.display()))
            }
        }
        .map_err(fail)
    }

    /// Writes back a journaled record's `before` (after [`validate_record`]).
    pub fn restore(&self, r: &RestoreRecord) -> Result<(), String> {
        self.restore_noting(r).map(drop)
    }

    /// Writes back a journaled record's `before` (after [`validate_record`]), saying what
    /// could not be written and was left: a NAPI instance of the record that the device no
    /// longer lists (its id is gone with the queue or the GRO that made it).
    pub fn restore_noting(&self, r: &RestoreRecord) -> Result<Vec<String>, String> {
        validate_record(r)?;
        match &r.setting {
            Setting::Napi { .. } => self.napi_write(&r.setting, &r.before),
            _ => self.apply(&r.setting, &r.before).map(|()| Vec::new()),
        }
    }

    /// Restores a record ([`Settings::restore_noting`]) and reads it back: the notes when the
    /// value is back (a write the kernel refused is fine when it is), else why not.
    pub fn restore_checked(&self, r: &RestoreRecord) -> Result<Vec<String>, String> {
        let wrote = self.restore_noting(r);
        if let Setting::Napi { .. } = &r.setting {
            let notes = wrote?;
            let p = r.setting.napi_param().ok_or("not a NAPI parameter")?;
            let (_, want) = parse_napi_values(&r.before, p)?;
            let now = self.napi_now(&r.setting)?;
            for (id, v) in want {
                if let Some((_, Some(n))) = now.iter().find(|(i, _)| *i == id)
                    && *n != v
                {
                    return Err(format!("NAPI {id} reads {n} after writing {v}"));
                }
            }
            return Ok(notes);
        }
        let now = self.read(&r.setting)?;
        if now != r.before {
            wrote?;
            return Err(format!("reads {now} after writing {}", r.before));
        }
        Ok(Vec::new())
    }

    /// The NAPI instances the device of a [`Setting::Napi`] lists, each with the parameter's
    /// value (`None` when the kernel's reply lacks it), through netdev generic netlink in the
    /// calling thread's network namespace. Only on the live system.
    fn napi_now(&self, s: &Setting) -> Result<Vec<(u32, Option<u64>)>, String> {
        let refuse = |why: String| format!("{}: {why}", s.describe());
        let (Some(dev), Some(p)) = (s.dev(), s.napi_param()) else {
            return Err(refuse("not a NAPI parameter".into()));
        };
        if !self.sys.ethtool {
            return Err(refuse(
                "per-NAPI settings are read from the live kernel (netdev generic netlink), not \
                 a recorded tree"
                    .into(),
            ));
        }
        let index = genl::ifindex(dev).map_err(|e| refuse(e.to_string()))?;
        let mut sock = genl::NetdevSocket::open().map_err(|e| match e {
            genl::GenlError::NoFamily(_) => refuse(format!(
                "not offered by this kernel: no netdev generic netlink family ({} needs Linux \
                 6.13+)",
                p.name()
            )),
            e => refuse(e.to_string()),
        })?;
        let napis = sock.napi_list(index).map_err(|e| match e {
            // The netdev family without napi-get (Linux 6.5 to 6.8).
            genl::GenlError::Kernel { errno: libc::EOPNOTSUPP | libc::EINVAL, .. } => {
                refuse(format!(
                    "not offered by this kernel: napi-get {e} ({} needs Linux 6.13+)",
                    p.name()
                ))
            }
            e => refuse(format!("napi-get: {e}")),
        })?;
        Ok(napis.iter().map(|n| (n.id, p.of(n))).collect())
    }

    /// The NAPI instances of the device with their values; refused, naming the device and the
    /// setting, when it lists none or the kernel's replies lack the parameter.
    fn napi_values(&self, s: &Setting) -> Result<Vec<(u32, u64)>, String> {
        let refuse = |why: String| format!("{}: {why}", s.describe());
        let now = self.napi_now(s)?;
        if now.is_empty() {
            return Err(refuse(
                "the device lists no NAPI instance (a veth lists its NAPIs only with GRO or an \
                 XDP program on: ethtool -K DEV gro on before the run)"
                    .into(),
            ));
        }
        now.into_iter()
            .map(|(id, v)| {
                v.map(|v| (id, v)).ok_or_else(|| {
                    refuse(match s.napi_param() {
                        Some(NapiParam::IrqSuspendTimeout) => "not offered by this kernel: IRQ \
                             suspension needs Linux 6.13+ (napi-get replies carry no \
                             irq-suspend-timeout)"
                            .to_string(),
                        p => format!(
                            "not offered by this kernel: napi-get replies carry no {} (Linux \
                             6.13+)",
                            p.map(NapiParam::name).unwrap_or_default()
                        ),
                    })
                })
            })
            .collect()
    }

    /// Writes a per-NAPI value: an integer to every NAPI the device lists, or each id's value
    /// of an `ID:V ...` list to those ids the device still lists — the notes name the others.
    fn napi_write(&self, s: &Setting, value: &str) -> Result<Vec<String>, String> {
        let refuse = |why: String| format!("{}: {why}", s.describe());
        let p = s.napi_param().ok_or_else(|| refuse("not a NAPI parameter".into()))?;
        let (all, each) = parse_napi_values(value, p).map_err(refuse)?;
        let now = self.napi_now(s)?;
        let listed: Vec<u32> = now.iter().map(|(id, _)| *id).collect();
        let (writes, gone): (NapiValues, NapiValues) = match all {
            Some(_) if listed.is_empty() => {
                return Err(refuse("the device lists no NAPI instance".into()));
            }
            Some(v) => (listed.iter().map(|&id| (id, v)).collect(), Vec::new()),
            None => each.into_iter().partition(|(id, _)| listed.contains(id)),
        };
        let mut sock = genl::NetdevSocket::open().map_err(|e| refuse(e.to_string()))?;
        for (id, v) in writes {
            sock.napi_set(id, p, v).map_err(|e| refuse(format!("napi-set of NAPI {id}: {e}")))?;
        }
        Ok(gone
            .into_iter()
            .map(|(id, v)| {
                refuse(format!(
                    "NAPI {id} no longer exists (the device lists {}): its value {v} was not \
                     written back",
                    if listed.is_empty() {
                        "none".to_string()
                    } else {
                        listed.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                    }
                ))
            })
            .collect())
    }
}

/// A read value as the setting's write syntax expects it (rps/xps masks keep their commas;
/// `threaded` reads `0`/`1`; coalescing `adaptive-rx` reads `on`/`off`).
fn normalise(_s: &Setting, v: &str) -> String {
    v.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Replays recorded ethtool replies by their arguments; records what was run.
    struct Replay {
        replies: BTreeMap<String, Result<String, String>>,
        ran: Mutex<Vec<String>>,
    }

    impl EthtoolRunner for Replay {
        fn run(&self, args: &[&str]) -> Result<String, String> {
            let key = args.join(" ");
            self.ran.lock().unwrap().push(key.clone());
            self.replies.get(&key).cloned().unwrap_or(Ok(String::new()))
        }
    }

    const NOT_SUPPORTED: &str = "netlink error: Operation not supported";

    fn replay() -> Replay {
        let mut r = BTreeMap::new();
        r.insert(
            "-k veth0".into(),
            Ok(include_str!("../tests/fixtures/ethtool-k-veth.txt").into()),
        );
        r.insert(
            "-l veth0".into(),
            Ok(include_str!("../tests/fixtures/ethtool-l-veth.txt").into()),
        );
        r.insert("-c veth0".into(), Err(NOT_SUPPORTED.into()));
        r.insert("-g veth0".into(), Err(NOT_SUPPORTED.into()));
        r.insert(
            "-c eth2".into(),
            Ok(include_str!("../tests/fixtures/ethtool-c-ixgbe.txt").into()),
        );
        r.insert(
            "-g eth2".into(),
            Ok(include_str!("../tests/fixtures/ethtool-g-ixgbe.txt").into()),
        );
        Replay { replies: r, ran: Mutex::new(Vec::new()) }
    }

    fn changes(r: &Replay) -> Vec<String> {
        r.ran
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.starts_with(['-']) && a.as_bytes()[1].is_ascii_uppercase())
            .cloned()
            .collect()
    }

    #[test]
    fn veth_features_channels_and_refusals() {
        let r = replay();
        let s = Settings { sys: Sys::at(std::path::Path::new("/nonexistent")), ethtool: &r };
        let gro = Setting::Feature { dev: "veth0".into(), feature: "gro".into() };
        assert_eq!(s.read(&gro).unwrap(), "off");
        let rec = s.prepare(&gro, "on").unwrap();
        assert_eq!((rec.before.as_str(), rec.after.as_str()), ("off", "on"));
        s.apply(&gro, "on").unwrap();
        s.restore(&rec).unwrap();
        assert_eq!(changes(&r), vec!["-K veth0 gro on", "-K veth0 gro off"]);
        // Fixed feature, coalescing and rings on veth: refused in one line, nothing run.
        let lro = Setting::Feature { dev: "veth0".into(), feature: "lro".into() };
        let e = s.check(&lro, "on").unwrap_err();
        assert!(e.starts_with("veth0 lro: fixed"), "{e}");
        let usecs = Setting::Coalesce { dev: "veth0".into(), param: "rx-usecs".into() };
        let e = s.check(&usecs, "50").unwrap_err();
        assert_eq!(e, format!("veth0 coalescing rx-usecs: {NOT_SUPPORTED}"));
        let ring = Setting::Ring { dev: "veth0".into(), which: "rx".into() };
        assert!(s.prepare(&ring, "512").unwrap_err().contains("Operation not supported"));
        let ch = Setting::Channels { dev: "veth0".into(), which: "rx".into() };
        assert_eq!(s.read(&ch).unwrap(), "2");
        s.check(&ch, "1").unwrap();
        assert!(s.check(&ch, "3").unwrap_err().contains("outside 1..=2"));
        let comb = Setting::Channels { dev: "veth0".into(), which: "combined".into() };
        assert!(s.check(&comb, "1").unwrap_err().contains("n/a"));
        assert_eq!(changes(&r).len(), 2, "refusals changed nothing");
        for e in [s.check(&lro, "on"), s.check(&usecs, "50")] {
            assert_eq!(e.unwrap_err().lines().count(), 1);
        }
    }

    #[test]
    fn nic_coalescing_and_rings_from_recorded_replies() {
        let r = replay();
        let s = Settings { sys: Sys::at(std::path::Path::new("/nonexistent")), ethtool: &r };
        let adaptive = Setting::Coalesce { dev: "eth2".into(), param: "adaptive-rx".into() };
        assert_eq!(s.read(&adaptive).unwrap(), "on");
        let usecs = Setting::Coalesce { dev: "eth2".into(), param: "rx-usecs".into() };
        assert_eq!(s.prepare(&usecs, "0").unwrap().before, "1");
        let frames = Setting::Coalesce { dev: "eth2".into(), param: "rx-frames".into() };
        assert!(s.read(&frames).unwrap_err().contains("n/a"));
        let ring = Setting::Ring { dev: "eth2".into(), which: "rx".into() };
        assert_eq!(s.prepare(&ring, "4096").unwrap().before, "512");
        assert!(s.check(&ring, "8192").unwrap_err().contains("outside 1..=4096"));
    }

    #[test]
    fn sysfs_settings_read_apply_restore() {
        let root = std::env::temp_dir().join(format!("udprx-settings-{}", std::process::id()));
        let dev = root.join("sys/class/net/eth2");
        std::fs::create_dir_all(dev.join("queues/rx-0")).unwrap();
        std::fs::create_dir_all(root.join("proc/sys/net/core")).unwrap();
        std::fs::write(dev.join("threaded"), "0\n").unwrap();
        std::fs::write(dev.join("queues/rx-0/rps_cpus"), "00000000,00000000\n").unwrap();
        std::fs::write(root.join("proc/sys/net/core/busy_read"), "0\n").unwrap();
        let r = replay();
        let s = Settings { sys: Sys::at(&root), ethtool: &r };
        let threaded = Setting::ThreadedNapi { dev: "eth2".into() };
        let rec = s.prepare(&threaded, "1").unwrap();
        s.apply(&threaded, "1").unwrap();
        assert_eq!(s.read(&threaded).unwrap(), "1");
        s.restore(&rec).unwrap();
        assert_eq!(s.read(&threaded).unwrap(), "0");
        let rps = Setting::Rps { dev: "eth2".into(), queue: 0 };
        assert_eq!(s.prepare(&rps, "3").unwrap().before, "00000000,00000000");
        let busy = Setting::BusyRead;
        assert_eq!(s.prepare(&busy, "50").unwrap().before, "0");
        // Not on this kernel/device: refused before anything changes, naming it.
        let defer = Setting::NapiDeferHardIrqs { dev: "eth2".into() };
        let e = s.check(&defer, "2").unwrap_err();
        assert!(e.starts_with("eth2 napi_defer_hard_irqs: not available"), "{e}");
        assert!(!dev.join("napi_defer_hard_irqs").exists());
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A 4-ring ixgbe-like NIC from recorded replies (`ethtool -n eth2 rx-flow-hash udp4`,
    /// `ethtool -x eth2`) that keeps what `-N`/`-X` set, and a veth that has neither.
    struct RssNic {
        udp4: Mutex<String>,
        table: Mutex<Vec<u32>>,
        ran: Mutex<Vec<String>>,
    }

    impl RssNic {
        fn new() -> RssNic {
            let t = crate::rss::parse_indir(include_str!("../tests/fixtures/ethtool-x-ixgbe.txt"));
            RssNic {
                udp4: Mutex::new("sd".into()),
                table: Mutex::new(t.unwrap().table),
                ran: Mutex::new(Vec::new()),
            }
        }
    }

    impl EthtoolRunner for RssNic {
        fn run(&self, args: &[&str]) -> Result<String, String> {
            let key = args.join(" ");
            self.ran.lock().unwrap().push(key.clone());
            let fixture = include_str!("../tests/fixtures/ethtool-n-udp4-ixgbe.txt");
            match args {
                ["-n", "eth2", "rx-flow-hash", "udp4"] => {
                    let mut out = fixture.lines().next().unwrap().to_string() + "\n";
                    for (c, line) in [
                        ('s', "IP SA"),
                        ('d', "IP DA"),
                        ('f', "L4 bytes 0 & 1 [TCP/UDP src port]"),
                        ('n', "L4 bytes 2 & 3 [TCP/UDP dst port]"),
                    ] {
                        if self.udp4.lock().unwrap().contains(c) {
                            out += &format!("{line}\n");
                        }
                    }
                    Ok(out + "\n")
                }
                ["-N", "eth2", "rx-flow-hash", "udp4", v] => {
                    *self.udp4.lock().unwrap() = v.to_string();
                    Ok(String::new())
                }
                ["-x", "eth2"] => {
                    let mut out =
                        "RX flow hash indirection table for eth2 with 4 RX ring(s):\n".to_string();
                    for (row, chunk) in self.table.lock().unwrap().chunks(8).enumerate() {
                        out += &format!("{:5}: ", row * 8);
                        for e in chunk {
                            out += &format!(" {e:5}");
                        }
                        out += "\n";
                    }
                    Ok(out + "RSS hash key:\n6d:5a\nRSS hash function:\n    toeplitz: on\n")
                }
                ["-X", "eth2", how @ ..] => {
                    let v = match how {
                        ["default"] => "default".to_string(),
                        ["equal", n] => format!("equal:{n}"),
                        ["weight", w @ ..] => format!("weight:{}", w.join(":")),
                        _ => return Err(format!("unexpected ethtool {key}")),
                    };
                    *self.table.lock().unwrap() = crate::rss::Indir::parse(&v)?.table(4, 128);
                    Ok(String::new())
                }
                ["-n", "veth0", ..] => {
                    Err("Cannot get RX network flow hashing options: Operation not supported"
                        .into())
                }
                ["-x", "veth0"] => Err(NOT_SUPPORTED.into()),
                _ => Err(format!("unexpected ethtool {key}")),
            }
        }
    }

    #[test]
    fn rss_hash_fields_and_indirection_from_recorded_replies() {
        let nic = RssNic::new();
        let s = Settings { sys: Sys::at(std::path::Path::new("/nonexistent")), ethtool: &nic };
        let hash = Setting::RssHashFields { dev: "eth2".into(), flow: "udp4".into() };
        assert_eq!(s.read(&hash).unwrap(), "sd");
        let rec = s.prepare(&hash, "sdfn").unwrap();
        assert_eq!((rec.before.as_str(), rec.after.as_str()), ("sd", "sdfn"));
        let journal = serde_json::to_string(&rec).unwrap();
        assert!(journal.contains(r#""kind":"rss_hash_fields","dev":"eth2","flow":"udp4""#));
        s.apply(&hash, "sdfn").unwrap();
        assert_eq!(s.read(&hash).unwrap(), "sdfn");
        s.restore(&serde_json::from_str(&journal).unwrap()).unwrap();
        assert_eq!(s.read(&hash).unwrap(), "sd");
        assert_eq!(
            s.check(&hash, "sdx").unwrap_err(),
            "eth2 RSS hash fields of udp4: 'sdx' is not a valid value ('x' is not one of \
             ethtool's letters mvtsdfnr)"
        );

        let indir = Setting::RssIndir { dev: "eth2".into() };
        assert_eq!(s.read(&indir).unwrap(), "default");
        let e = s.check(&indir, "equal:5").unwrap_err();
        assert_eq!(
            e,
            "eth2 RSS indirection table: equal:5 spreads over 5 rings; the device has 4 RX rings"
        );
        let rec = s.prepare(&indir, "equal:2").unwrap();
        assert_eq!(rec.before, "default");
        s.apply(&indir, "equal:2").unwrap();
        assert_eq!(s.read(&indir).unwrap(), "equal:2");
        s.restore(&rec).unwrap();
        assert_eq!(s.read(&indir).unwrap(), "default");
        // Weights read back as the blocks they made, and write themselves back exactly.
        s.apply(&indir, "weight:1:1:0:2").unwrap();
        let blocks = s.read(&indir).unwrap();
        assert_eq!(blocks, "weight:32:32:0:64");
        let table = nic.table.lock().unwrap().clone();
        s.apply(&indir, "default").unwrap();
        s.apply(&indir, &blocks).unwrap();
        assert_eq!(*nic.table.lock().unwrap(), table);
        // A table ethtool -X cannot write back is never changed.
        nic.table.lock().unwrap().swap(0, 127);
        let e = s.check(&indir, "equal:2").unwrap_err();
        assert!(e.starts_with("eth2 RSS indirection table: the indirection table is neither"));
        let ran: Vec<String> = nic
            .ran
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.starts_with("-N") || a.starts_with("-X"))
            .cloned()
            .collect();
        assert_eq!(
            ran,
            [
                "-N eth2 rx-flow-hash udp4 sdfn",
                "-N eth2 rx-flow-hash udp4 sd",
                "-X eth2 equal 2",
                "-X eth2 default",
                "-X eth2 weight 1 1 0 2",
                "-X eth2 default",
                "-X eth2 weight 32 32 0 64",
            ]
        );
        // veth has neither: refused in one line naming the device and the setting.
        let vhash = Setting::RssHashFields { dev: "veth0".into(), flow: "udp6".into() };
        let e = s.check(&vhash, "sdfn").unwrap_err();
        assert_eq!(
            e,
            "veth0 RSS hash fields of udp6: Cannot get RX network flow hashing options: \
             Operation not supported"
        );
        let vindir = Setting::RssIndir { dev: "veth0".into() };
        let e = s.check(&vindir, "equal:1").unwrap_err();
        assert_eq!(e, format!("veth0 RSS indirection table: {NOT_SUPPORTED}"));
        let tcp = Setting::RssHashFields { dev: "eth2".into(), flow: "tcp4".into() };
        assert!(s.read(&tcp).unwrap_err().contains("not a setting this tool knows"));
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_refused() {
        let rec = RestoreRecord {
            setting: Setting::Feature { dev: "eth0".into(), feature: "gro".into() },
            before: "on".into(),
            after: "off".into(),
        };
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains(r#""kind":"feature""#), "{json}");
        let back: RestoreRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
        validate_record(&back).unwrap();
        let bad = [
            r#"{"setting":{"kind":"feature","dev":"../../etc","feature":"gro"},"before":"on","after":"off"}"#,
            r#"{"setting":{"kind":"feature","dev":"eth0","feature":"tso"},"before":"on","after":"off"}"#,
            r#"{"setting":{"kind":"threaded_napi","dev":"eth0"},"before":"yes","after":"1"}"#,
            r#"{"setting":{"kind":"busy_read"},"before":"-1","after":"50"}"#,
            r#"{"setting":{"kind":"irq_affinity","irq":61},"before":"","after":"0"}"#,
            r#"{"setting":{"kind":"rps","dev":"eth0","queue":0},"before":"zz","after":"1"}"#,
            r#"{"setting":{"kind":"channels","dev":"eth0","which":"combined"},"before":"2; reboot","after":"1"}"#,
            r#"{"setting":{"kind":"rss_hash_fields","dev":"eth0","flow":"udp4 sd; reboot"},"before":"sd","after":"sdfn"}"#,
            r#"{"setting":{"kind":"rss_hash_fields","dev":"eth0","flow":"udp4"},"before":"sd -K eth0","after":"sdfn"}"#,
            r#"{"setting":{"kind":"rss_indir","dev":"eth0"},"before":"equal:4 weight 1","after":"default"}"#,
            r#"{"setting":{"kind":"rss_indir","dev":"eth0"},"before":"hfunc:xor","after":"default"}"#,
        ];
        for b in bad {
            let r: RestoreRecord = serde_json::from_str(b).unwrap();
            assert!(validate_record(&r).is_err(), "{b}");
        }
        let unknown = r#"{"setting":{"kind":"shell","cmd":"x"},"before":"1","after":"1"}"#;
        assert!(serde_json::from_str::<RestoreRecord>(unknown).is_err());
        // Per-NAPI records: a value per id, or one value; nothing else.
        let napi = |before: &str| RestoreRecord {
            setting: Setting::Napi { dev: "eth0".into(), param: "irq-suspend-timeout".into() },
            before: before.into(),
            after: "2000000".into(),
        };
        for ok in ["0", "8193:0", "8193:0 8194:2000000", "1:18446744073709551615"] {
            validate_record(&napi(ok)).unwrap();
        }
        for bad in [
            "",
            "8193:0,8194:0",
            "8193:0  8194:0",
            "8193:0 8193:1",
            "8193:",
            ":5",
            "8193:-1",
            "8193:+1",
            "4294967296:0",
            "8193:0 x",
            "0x10",
            "8193:18446744073709551616",
        ] {
            assert!(validate_record(&napi(bad)).is_err(), "{bad:?}");
        }
        let defer = Setting::Napi { dev: "eth0".into(), param: "defer-hard-irqs".into() };
        assert!(defer.validate_value("2147483647").is_ok());
        assert!(defer.validate_value("2147483648").is_err());
        let other = Setting::Napi { dev: "eth0".into(), param: "threaded".into() };
        assert!(other.validate().is_err());
        assert_eq!(
            Setting::Napi { dev: "eth0".into(), param: "irq-suspend-timeout".into() }.describe(),
            "eth0 NAPI irq-suspend-timeout"
        );
        assert_eq!(format_napi_values(&[(1, 5), (2, 5)]), "5");
        assert_eq!(format_napi_values(&[(1, 5), (2, 0)]), "1:5 2:0");
        let json = serde_json::to_string(&napi("8193:0")).unwrap();
        assert!(json.contains(r#"{"kind":"napi","dev":"eth0","param":"irq-suspend-timeout"}"#));
        assert!(serde_json::from_str::<RestoreRecord>(unknown).is_err());
    }
}
