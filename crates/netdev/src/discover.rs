//! What an interface is: driver, queues, the IRQ of each queue and the CPUs it may run on, the
//! NUMA node of the device.
//!
//! IRQs are found from the device's MSI vectors (`device/msi_irqs/`, or the parent PCI device's
//! for virtio) and from `/proc/interrupts` names that mention the interface or its device
//! (`eth0-TxRx-3`, `virtio2-input.0`, `mlx5_comp3@pci:...`); each IRQ's CPUs come from
//! `/proc/irq/N/effective_affinity_list` (or `smp_affinity_list`). Software devices (veth,
//! loopback) have no IRQs: their queues are served by NAPI on whichever CPU raised the softirq,
//! and [`NicInfo::notes`] says so.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::NetdevError;
use crate::sys::{Sys, parse_cpu_list};

/// One interrupt line of the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irq {
    /// IRQ number.
    pub irq: u32,
    /// Its name in `/proc/interrupts`.
    pub name: String,
    /// CPUs it is delivered to (effective affinity where the kernel reports it).
    pub cpus: Vec<usize>,
    /// The queue it serves, from its name (`None`: a control/config vector, or unknown).
    pub queue: Option<usize>,
    /// Whether it serves receive (`Some(true)`), transmit (`Some(false)`) or both/unknown.
    pub rx: Option<bool>,
}

/// What [`discover`] found about an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicInfo {
    /// Interface name.
    pub dev: String,
    /// Driver (`device/driver` link name; `None` for software devices without one).
    pub driver: Option<String>,
    /// Kind from `ip -d link` terms where no driver exists (`veth`, `loopback`, `bridge`...)
    /// or the driver name.
    pub kind: String,
    /// Receive queues (`queues/rx-N`).
    pub rx_queues: usize,
    /// Transmit queues (`queues/tx-N`).
    pub tx_queues: usize,
    /// NUMA node of the device (`None`: not reported, or -1: no affinity).
    pub numa_node: Option<u32>,
    /// The device's interrupts.
    pub irqs: Vec<Irq>,
    /// What could not be found and why (one sentence each).
    pub notes: Vec<String>,
}

/// Discovers `dev`.
pub fn discover(sys: &Sys, dev: &str) -> Result<NicInfo, NetdevError> {
    if dev.is_empty() || dev.contains('/') || dev == "." || dev == ".." {
        return Err(NetdevError::NoDevice(dev.to_string()));
    }
    let dir = sys.dev_dir(dev);
    if !dir.exists() {
        return Err(NetdevError::NoDevice(dev.to_string()));
    }
    let mut notes = Vec::new();
    let (rx_queues, tx_queues) = count_queues(&dir.join("queues"));
    let device = dir.join("device");
    let driver = std::fs::read_link(device.join("driver"))
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    // The ethtool driver name (veth, virtio_net...) when `sys` shows the thread's own
    // devices; otherwise what sysfs tells.
    let ethtool_driver = sys
        .ethtool
        .then(|| crate::ethtool::driver_info(dev).ok())
        .flatten()
        .map(|d| d.driver)
        .filter(|d| !d.is_empty());
    let kind = match (&driver, ethtool_driver) {
        (Some(d), _) => d.clone(),
        (None, Some(e)) => e,
        (None, None) => software_kind(sys, dev),
    };
    let numa_node = sys
        .read_opt(&device.join("numa_node"))
        .or_else(|| sys.read_opt(&device.join("../numa_node")))
        .and_then(|t| t.trim().parse::<i64>().ok())
        .and_then(|n| u32::try_from(n).ok());
    if numa_node.is_none() {
        notes.push(format!(
            "{dev}: no NUMA node reported (software device, single-node host or no affinity)"
        ));
    }
    // IRQ numbers: MSI vectors of the device or its parent, and names in /proc/interrupts.
    let device_name = std::fs::canonicalize(&device)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    // A virtio device's vectors are its PCI parent's (one PCI function per virtio device).
    let mut msi: BTreeSet<u32> = BTreeSet::new();
    let mut msi_dirs = vec![device.join("msi_irqs")];
    if device_name.as_deref().is_some_and(|d| d.starts_with("virtio")) {
        msi_dirs.push(device.join("../msi_irqs"));
    }
    for d in msi_dirs {
        if let Ok(rd) = std::fs::read_dir(&d) {
            msi.extend(
                rd.flatten().filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok()),
            );
        }
    }
    let interrupts = sys.read_opt(&sys.proc.join("interrupts")).unwrap_or_default();
    let mut irqs = Vec::new();
    for (irq, name) in parse_interrupts(&interrupts) {
        let by_name = name_matches(&name, dev)
            || device_name.as_deref().is_some_and(|d| name_matches(&name, d));
        let by_msi = msi.contains(&irq);
        if !(by_name || by_msi) {
            continue;
        }
        let irq_dir = sys.proc.join("irq").join(irq.to_string());
        let cpus = sys
            .read_opt(&irq_dir.join("effective_affinity_list"))
            .filter(|t| !t.trim().is_empty())
            .or_else(|| sys.read_opt(&irq_dir.join("smp_affinity_list")))
            .and_then(|t| parse_cpu_list(&t).ok())
            .unwrap_or_default();
        // The queue number is in what follows the device's name (`eth2-TxRx-3`: 3, not 2).
        let rest = name
            .strip_prefix(dev)
            .or_else(|| device_name.as_deref().and_then(|d| name.strip_prefix(d)))
            .unwrap_or(&name);
        let (queue, rx) = queue_of_irq(rest);
        irqs.push(Irq { irq, name, cpus, queue, rx });
    }
    if irqs.is_empty() {
        notes.push(format!(
            "{dev}: no interrupts ({kind} has none of its own: its queues are served by NAPI on the \
             CPU that raised the softirq, so placement follows the sender or RPS, not IRQ affinity)"
        ));
    }
    Ok(NicInfo { dev: dev.to_string(), driver, kind, rx_queues, tx_queues, numa_node, irqs, notes })
}

fn count_queues(dir: &Path) -> (usize, usize) {
    let mut rx = 0;
    let mut tx = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("rx-") {
                rx += 1;
            } else if n.starts_with("tx-") {
                tx += 1;
            }
        }
    }
    (rx, tx)
}

/// A software device's kind: loopback by name/flags, veth when it has a peer
/// (`iflink` ≠ `ifindex`), otherwise "software".
fn software_kind(sys: &Sys, dev: &str) -> String {
    let dir = sys.dev_dir(dev);
    let read = |f: &str| sys.read_opt(&dir.join(f)).map(|t| t.trim().to_string());
    if read("type").as_deref() == Some("772") {
        return "loopback".into();
    }
    if read("iflink").is_some() && read("iflink") != read("ifindex") {
        return "veth".into();
    }
    "software".into()
}

/// `(irq, name)` of every numbered line of `/proc/interrupts`; the name is the last column.
pub fn parse_interrupts(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let (num, rest) = line.trim_start().split_once(':')?;
            let irq = num.trim().parse::<u32>().ok()?;
            let name = rest.split_whitespace().last()?.to_string();
            Some((irq, name))
        })
        .collect()
}

/// Whether an interrupt name belongs to `dev` (`dev`, `dev-...`, `dev@...`, `dev_...`).
fn name_matches(name: &str, dev: &str) -> bool {
    name.strip_prefix(dev)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '@', '_', '.', ':']))
}

/// The queue and direction an interrupt serves, from its name: the last number after `-`,
/// `.`, `_` or `comp`; config/control/async vectors serve none.
fn queue_of_irq(name: &str) -> (Option<usize>, Option<bool>) {
    let lower = name.to_ascii_lowercase();
    if ["config", "ctrl", "async", "-cmd", "pages", "aer"].iter().any(|w| lower.contains(w)) {
        return (None, None);
    }
    let base = lower.split('@').next().unwrap_or(&lower);
    let digits: String = base
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let queue = digits.parse::<usize>().ok();
    let rx = if base.contains("txrx") || base.contains("comp") {
        None
    } else if base.contains("rx") || base.contains("input") {
        Some(true)
    } else if base.contains("tx") || base.contains("output") {
        Some(false)
    } else {
        None
    };
    (queue, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupt_names() {
        let t = include_str!("../tests/fixtures/interrupts-ixgbe.txt");
        let all = parse_interrupts(t);
        assert!(all.iter().any(|(n, name)| *n == 61 && name == "eth2-TxRx-0"));
        assert!(name_matches("eth2-TxRx-3", "eth2"));
        assert!(!name_matches("eth20-TxRx-3", "eth2"));
        assert_eq!(queue_of_irq("-TxRx-3"), (Some(3), None));
        assert_eq!(queue_of_irq(""), (None, None));
        assert_eq!(queue_of_irq("virtio2-input.1"), (Some(1), Some(true)));
        assert_eq!(queue_of_irq("virtio2-output.0"), (Some(0), Some(false)));
        assert_eq!(queue_of_irq("virtio2-config"), (None, None));
        assert_eq!(queue_of_irq("mlx5_comp7@pci:0000:3b:00.0"), (Some(7), None));
        assert_eq!(queue_of_irq("mlx5_async0@pci:0000:3b:00.0"), (None, None));
    }
}
