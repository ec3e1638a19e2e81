//! The one list of kernel settings the bench may change, and so may put back.
//!
//! A crash journal (see [`journal`](crate::journal)) names settings and values that the next
//! root run writes. A journal is a file; whoever can place one must not be able to make a root
//! run write an arbitrary sysctl (`kernel.panic`) or, through a path, an arbitrary file. So every
//! setting the bench changes — the sysctls of settings files and `--sysctl`, and any the harness
//! sets itself — must be named here, and recovery refuses (and reports) anything else.
//!
//! To let the bench change another setting, add it to [`SYSCTLS`]. NIC settings (ethtool
//! features, `/sys/class/net/*/queues/*/rps_cpus`, `threaded`, `napi_defer_hard_irqs`,
//! `gro_flush_timeout`, IRQ affinity) belong here too, as lists of their own next to
//! [`SYSCTLS`], checked by a function of their own like [`check_sysctl`].

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
}
