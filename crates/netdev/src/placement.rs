//! Where to receive: one socket per receive queue, each read by a thread on a CPU of that
//! queue's interrupt, steered by CPU (`SO_INCOMING_CPU` / the reuseport CPU program), so a
//! datagram is read on the core that took it off the NIC. A placement whose CPUs are on
//! another NUMA node than the device is flagged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::discover::NicInfo;
use crate::sys::{Sys, format_cpu_list, parse_cpu_list};

/// One receive socket of the placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Receive queue.
    pub queue: usize,
    /// The queue's IRQ (`None`: the device has none, e.g. veth).
    pub irq: Option<u32>,
    /// CPU of the receive thread.
    pub cpu: usize,
    /// NUMA node of that CPU, if known.
    pub cpu_node: Option<u32>,
}

/// A proposed receive placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Interface.
    pub dev: String,
    /// One entry per receive socket.
    pub slots: Vec<Slot>,
    /// Steering between the sockets: `cpu` (by the CPU that received) or `hash`.
    pub steering: String,
    /// Device NUMA node, if known.
    pub device_node: Option<u32>,
    /// Some receive CPU is on another NUMA node than the device.
    pub numa_crossing: bool,
    /// Why the placement is what it is (fallbacks, missing information).
    pub notes: Vec<String>,
}

/// Node of each CPU, from `/sys/devices/system/node/nodeN/cpulist` (empty: no NUMA info).
pub fn cpu_nodes(sys: &Sys) -> BTreeMap<usize, u32> {
    let mut out = BTreeMap::new();
    let dir = sys.sys.join("devices/system/node");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(n) = name.strip_prefix("node").and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(cpus) =
                sys.read_opt(&e.path().join("cpulist")).and_then(|t| parse_cpu_list(&t).ok())
            {
                out.extend(cpus.into_iter().map(|c| (c, n)));
            }
        }
    }
    out
}

/// Proposes a placement for `info`: per receive queue, the first CPU of its IRQ's affinity,
/// steering by CPU. Without IRQs (veth, loopback), one socket per receive queue on the
/// `usable` CPUs in turn, steered by hash, with a note.
pub fn propose(info: &NicInfo, nodes: &BTreeMap<usize, u32>, usable: &[usize]) -> Placement {
    let mut notes = Vec::new();
    let mut slots = Vec::new();
    let mut by_queue: BTreeMap<usize, (u32, usize)> = BTreeMap::new();
    for irq in &info.irqs {
        if let (Some(q), Some(&cpu), false) = (irq.queue, irq.cpus.first(), irq.rx == Some(false)) {
            by_queue.entry(q).or_insert((irq.irq, cpu));
        }
    }
    let steering;
    if by_queue.is_empty() {
        steering = "hash".to_string();
        notes.push(format!(
            "{}: no queue interrupts; one socket per receive queue on the usable CPUs, hash steering",
            info.dev
        ));
        for q in 0..info.rx_queues.max(1) {
            if usable.is_empty() {
                break;
            }
            let cpu = usable[q % usable.len()];
            slots.push(Slot { queue: q, irq: None, cpu, cpu_node: nodes.get(&cpu).copied() });
        }
    } else {
        steering = "cpu".to_string();
        for (q, (irq, cpu)) in by_queue {
            if !usable.is_empty() && !usable.contains(&cpu) {
                notes.push(format!(
                    "queue {q}: its IRQ {irq} runs on CPU {cpu}, outside the usable CPUs {}",
                    format_cpu_list(usable)
                ));
            }
            slots.push(Slot { queue: q, irq: Some(irq), cpu, cpu_node: nodes.get(&cpu).copied() });
        }
    }
    let numa_crossing = match info.numa_node {
        Some(n) => slots.iter().any(|s| s.cpu_node.is_some_and(|c| c != n)),
        None => false,
    };
    if numa_crossing {
        notes.push(format!(
            "NUMA: the device is on node {}, some receive CPUs are not: every packet crosses the \
             interconnect",
            info.numa_node.unwrap_or(0)
        ));
    }
    Placement {
        dev: info.dev.clone(),
        slots,
        steering,
        device_node: info.numa_node,
        numa_crossing,
        notes,
    }
}

impl Placement {
    /// The printable map: one line per socket, then the notes.
    pub fn to_map(&self) -> String {
        let node = |n: Option<u32>| n.map_or("-".to_string(), |n| n.to_string());
        let mut s = format!(
            "{}: {} socket(s), steering by {}, device NUMA node {}{}\n",
            self.dev,
            self.slots.len(),
            self.steering,
            node(self.device_node),
            if self.numa_crossing { "  [NUMA-CROSSING]" } else { "" }
        );
        s.push_str("  queue  irq    cpu  node\n");
        for sl in &self.slots {
            let irq = sl.irq.map_or("-".to_string(), |i| i.to_string());
            s.push_str(&format!(
                "  rx-{:<3} {:<6} {:<4} {}\n",
                sl.queue,
                irq,
                sl.cpu,
                node(sl.cpu_node)
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s
    }
}
