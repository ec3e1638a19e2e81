//! The one list of kernel settings the bench may change, and so may put back.
//!
//! A crash journal (see [`journal`](crate::journal)) names settings and values that the next
//! root run writes. A journal is a file; whoever can place one must not be able to make a root
//! run write an arbitrary sysctl (`kernel.panic`) or, through a path, an arbitrary file. So every
//! setting the bench changes — the sysctls of settings files and `--sysctl`, and any the harness
//! sets itself — must be named here, and recovery refuses (and reports) anything else.
//!
//! To let the bench change another setting, add it to [`SYSCTLS`]. NIC settings (`--nic`:
//! ethtool features, channels, coalescing, rings, and the files of one device under
//! `/sys/class/net/DEV/` — `threaded`, `napi_defer_hard_irqs`, `gro_flush_timeout`,
//! `queues/rx-N/rps_cpus`, `queues/rx-N/rps_flow_cnt`, `queues/tx-N/xps_cpus` — the affinity
//! of the interrupt serving one of the device's receive queues, and the RSS hash fields of
//! `udp4`/`udp6` and the RSS indirection table, written by `ethtool -N`/`-X` with arguments built
//! from the checked value, never taken from the journal as text, and the per-NAPI parameters of
//! one device's NAPI instances — `irq-suspend-timeout`, `defer-hard-irqs`, `gro-flush-timeout` —
//! written by `napi-set` to the ids the device lists) are the kinds of
//! [`NIC_KINDS`], checked by [`check_nic_setting`] and, for a journal's record, by
//! [`check_nic`]. A queue's interrupt is found on the device by discovery when it is written,
//! never read from the journal: the affinity of an IRQ by number (`/proc/irq/N`) and the global
//! knobs (busy polling, the RFS table) are not NIC settings the bench writes, and a journal
//! naming them is refused.

/// Sysctls (dotted names, exactly as the kernel spells them) that settings files, `--sysctl`
/// and the harness may change, and that a crash journal may restore.
pub const SYSCTLS: &[&str] = &[
    // Socket buffers.
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.core.wmem_default",
    "net.core.wmem_max",
    "net.core.optmem_max",
    "net.ipv4.udp_rmem_min",
    "net.ipv4.udp_wmem_min",
    "net.ipv4.udp_mem",
    // Backlog and softirq budget.
    "net.core.netdev_max_backlog",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.dev_weight",
    "net.core.dev_weight_rx_bias",
    "net.core.gro_normal_batch",
    // Busy polling.
    "net.core.busy_read",
    "net.core.busy_poll",
    // Steering.
    "net.core.rps_sock_flow_entries",
    "net.core.flow_limit_table_len",
    // UDP demultiplexing.
    "net.ipv4.udp_early_demux",
    "net.ipv4.udp_l3mdev_accept",
    // Harmless knobs the tests change: the listen backlog and the network message rate limiter.
    "net.core.somaxconn",
    "net.core.message_burst",
    "net.core.message_cost",
];

/// Checks the spelling of a sysctl name as given, without normalising it: dotted components of
/// `[a-z0-9_-]` (and `/` standing for a dot inside a component), none empty, `.` or `..`, no
/// leading `/`. The reason when not.
pub fn check_sysctl_name(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("an empty sysctl name".into());
    }
    if let Some(c) =
        key.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '.' | '/'))
    {
        return Err(format!("sysctl name {key:?} holds {c:?} (allowed: a-z 0-9 _ - . /)"));
    }
    if key.starts_with('/') || key.split(['.', '/']).any(|p| p.is_empty() || p == "..") {
        return Err(format!("sysctl name {key:?} is not a dotted name (empty or .. component)"));
    }
    Ok(())
}

/// Checks that `key` is spelled as a sysctl ([`check_sysctl_name`]) and is one of [`SYSCTLS`].
pub fn check_sysctl(key: &str) -> Result<(), String> {
    check_sysctl_name(key)?;
    if !SYSCTLS.contains(&key) {
        return Err(format!(
            "{key:?} is not a sysctl the bench changes (the list is udprx_bench::lab::allowed::SYSCTLS)"
        ));
    }
    Ok(())
}

/// The kinds of NIC setting (`udprx_netdev::Setting`, by its journal `kind`) that `--nic`
/// changes, and so that a crash journal may restore.
pub const NIC_KINDS: &[&str] = &[
    "feature",
    "channels",
    "coalesce",
    "ring",
    "threaded_napi",
    "napi_defer_hard_irqs",
    "gro_flush_timeout",
    "rps",
    "rps_flow_cnt",
    "xps",
    "queue_irq_affinity",
    "rss_hash_fields",
    "rss_indir",
    "napi",
];

/// The journal `kind` of a setting.
fn kind_of(s: &udprx_netdev::Setting) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// Checks that a NIC setting is of a kind `--nic` writes ([`NIC_KINDS`]) on one well-formed
/// device, and that a sysfs setting's file is inside that device's directory
/// `/sys/class/net/DEV/` (checked on the path as built, component by component, never
/// normalised). A receive queue's IRQ affinity has no path of its own: its file is that of the
/// IRQ discovery finds serving the queue on the named device.
pub fn check_nic_setting(s: &udprx_netdev::Setting) -> Result<(), String> {
    let kind = kind_of(s);
    if !NIC_KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "{}: kind {kind:?} is not a NIC setting the bench changes (the list is \
             udprx_bench::lab::allowed::NIC_KINDS)",
            s.describe()
        ));
    }
    s.validate()?;
    let Some(dev) = s.dev() else {
        return Err(format!("{}: names no device", s.describe()));
    };
    if let Some(path) = s.path(&udprx_netdev::Sys::live()) {
        let dir = std::path::Path::new("/sys/class/net").join(dev);
        let inside = path.strip_prefix(&dir).is_ok_and(|rest| {
            rest.components().count() > 0
                && rest.components().all(|c| matches!(c, std::path::Component::Normal(_)))
        });
        if !inside {
            return Err(format!(
                "{}: {} is outside {}",
                s.describe(),
                path.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

/// Checks a journaled NIC record of the dead run `pid`: a kind and path `--nic` writes
/// ([`check_nic_setting`]), values of the setting's shape (`udprx_netdev::validate_record`),
/// and, when it names a namespace, one of that run's own (`udpb-<pid>-<n>-rx`).
pub fn check_nic(
    netns: Option<&str>,
    pid: u32,
    r: &udprx_netdev::RestoreRecord,
) -> Result<(), String> {
    check_nic_setting(&r.setting)?;
    udprx_netdev::validate_record(r)?;
    if let Some(ns) = netns {
        let own = ns
            .strip_prefix(&format!("{}{pid}-", crate::lab::topology::NS_PREFIX))
            .and_then(|rest| rest.strip_suffix("-rx"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !own {
            return Err(format!(
                "{}: namespace {ns:?} is not one the run (pid {pid}) created",
                r.setting.describe()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_given() {
        for k in SYSCTLS {
            check_sysctl(k).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "/proc/sys/net/core/rmem_max",
            "net/../../etc/x",
            "net..core",
            "net.core.",
            ".net",
            "net.core.rmem_max\n",
            "NET.core.rmem_max",
            "net.core.rmem max",
        ] {
            assert!(check_sysctl_name(bad).is_err(), "{bad:?}");
            assert!(check_sysctl(bad).is_err(), "{bad:?}");
        }
        assert!(check_sysctl_name("kernel.panic").is_ok());
        let e = check_sysctl("kernel.panic").unwrap_err();
        assert!(e.contains("not a sysctl the bench changes"), "{e}");
    }

    #[test]
    fn nic_records_are_checked_as_written() {
        use udprx_netdev::{RestoreRecord, Setting};
        let rec = |setting: Setting, before: &str, after: &str| RestoreRecord {
            setting,
            before: before.into(),
            after: after.into(),
        };
        let gro = rec(Setting::Feature { dev: "eth0".into(), feature: "gro".into() }, "on", "off");
        check_nic(None, 7, &gro).unwrap();
        check_nic(Some("udpb-7-0-rx"), 7, &gro).unwrap();
        let rps = rec(Setting::Rps { dev: "eth0".into(), queue: 3 }, "0", "3");
        check_nic(None, 7, &rps).unwrap();
        let hash = Setting::RssHashFields { dev: "eth0".into(), flow: "udp4".into() };
        check_nic(None, 7, &rec(hash.clone(), "sd", "sdfn")).unwrap();
        assert!(check_nic(None, 7, &rec(hash, "sd e", "sdfn")).is_err());
        let tcp = Setting::RssHashFields { dev: "eth0".into(), flow: "tcp4".into() };
        assert!(check_nic(None, 7, &rec(tcp, "sd", "sdfn")).is_err());
        let indir = Setting::RssIndir { dev: "eth0".into() };
        check_nic(None, 7, &rec(indir.clone(), "weight:32:32:0:64", "equal:2")).unwrap();
        let napi = Setting::Napi { dev: "eth0".into(), param: "irq-suspend-timeout".into() };
        check_nic(None, 7, &rec(napi.clone(), "8193:0 8194:0", "2000000")).unwrap();
        check_nic(Some("udpb-7-0-rx"), 7, &rec(napi.clone(), "0", "2000000")).unwrap();
        for bad in ["8193:0;8194:0", "8193:0 8193:0", "-1", "8193:0 /etc", ""] {
            assert!(check_nic(None, 7, &rec(napi.clone(), bad, "2000000")).is_err(), "{bad:?}");
        }
        let threaded = Setting::Napi { dev: "eth0".into(), param: "threaded".into() };
        assert!(check_nic(None, 7, &rec(threaded, "0", "1")).is_err());
        let up = Setting::Napi { dev: "..".into(), param: "irq-suspend-timeout".into() };
        assert!(check_nic(None, 7, &rec(up, "0", "1")).is_err());
        assert!(check_nic(None, 7, &rec(indir, "default hkey 00", "equal:2")).is_err());
        // Another run's namespace, or a name that is no bench namespace.
        for ns in ["udpb-8-0-rx", "udpb-7-0-tx", "udpb-7--rx", "/run/netns/x", "other"] {
            assert!(check_nic(Some(ns), 7, &gro).is_err(), "{ns}");
        }
        // Kinds the bench never writes: global files outside any device.
        for s in [
            Setting::IrqAffinity { irq: 1 },
            Setting::BusyRead,
            Setting::BusyPoll,
            Setting::RfsEntries,
        ] {
            let e = check_nic(None, 7, &rec(s, "0", "1")).unwrap_err();
            assert!(e.contains("not a NIC setting the bench changes"), "{e}");
        }
        // A device name that leaves /sys/class/net/DEV.
        for dev in ["..", "../../etc", "a/b", ""] {
            let s = Setting::ThreadedNapi { dev: dev.into() };
            assert!(check_nic(None, 7, &rec(s, "0", "1")).is_err(), "{dev}");
        }
    }
}
