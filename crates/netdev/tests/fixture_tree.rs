//! Discovery and placement on a recorded layout of a 4-queue ixgbe NIC on NUMA node 1 of a
//! 2-node, 4-CPU host (the sysfs/procfs files as the kernel lays them out, built in a temporary
//! directory): queues, the queue IRQs and their CPUs (the device's own `eth2` vector serves no
//! queue), the placement map, and the NUMA-crossing flag.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use udprx_netdev::placement::cpu_nodes;
use udprx_netdev::{Sys, discover, propose};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn tree(tag: &str) -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("udprx-netdev-tree-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let pci = "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0";
    write(&root, &format!("{pci}/numa_node"), "1\n");
    for irq in 60..=64 {
        write(&root, &format!("{pci}/msi_irqs/{irq}"), "msix\n");
    }
    fs::create_dir_all(root.join("sys/bus/pci/drivers/ixgbe")).unwrap();
    symlink(root.join("sys/bus/pci/drivers/ixgbe"), root.join(pci).join("driver")).unwrap();
    let net = root.join("sys/class/net/eth2");
    for q in 0..4 {
        fs::create_dir_all(net.join(format!("queues/rx-{q}"))).unwrap();
        fs::create_dir_all(net.join(format!("queues/tx-{q}"))).unwrap();
    }
    symlink(root.join(pci), net.join("device")).unwrap();
    write(&root, "proc/interrupts", include_str!("fixtures/interrupts-ixgbe.txt"));
    write(&root, "proc/irq/60/smp_affinity_list", "0-3\n");
    for (irq, cpu) in [(61, 0), (62, 1), (63, 2), (64, 3)] {
        write(&root, &format!("proc/irq/{irq}/smp_affinity_list"), &format!("{cpu}\n"));
    }
    write(&root, "sys/devices/system/node/node0/cpulist", "0-1\n");
    write(&root, "sys/devices/system/node/node1/cpulist", "2-3\n");
    root
}

#[test]
fn ixgbe_on_node_1() {
    let root = tree("discover");
    let sys = Sys::at(&root);
    let info = discover(&sys, "eth2").unwrap();
    assert_eq!(info.driver.as_deref(), Some("ixgbe"));
    assert_eq!((info.rx_queues, info.tx_queues), (4, 4));
    assert_eq!(info.numa_node, Some(1));
    let queues: Vec<(u32, Option<usize>, Vec<usize>)> =
        info.irqs.iter().map(|i| (i.irq, i.queue, i.cpus.clone())).collect();
    assert_eq!(
        queues,
        vec![
            (60, None, vec![0, 1, 2, 3]),
            (61, Some(0), vec![0]),
            (62, Some(1), vec![1]),
            (63, Some(2), vec![2]),
            (64, Some(3), vec![3]),
        ],
        "eth20's IRQ 70 is not eth2's"
    );
    let nodes = cpu_nodes(&sys);
    let p = propose(&info, &nodes, &[0, 1, 2, 3]);
    assert_eq!(p.steering, "cpu");
    assert_eq!(p.slots.iter().map(|s| s.cpu).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert!(p.numa_crossing, "queues 0 and 1 interrupt on node 0, the NIC is on node 1");
    let map = p.to_map();
    assert!(map.contains("[NUMA-CROSSING]") && map.contains("rx-3   64"), "{map}");
    // Only node-1 CPUs usable: queues 0 and 1 are flagged as outside them.
    let p2 = propose(&info, &nodes, &[2, 3]);
    assert_eq!(p2.notes.iter().filter(|n| n.contains("outside the usable CPUs")).count(), 2);
    assert!(discover(&sys, "eth9").is_err());
    assert!(discover(&sys, "../eth2").is_err());
    let _ = fs::remove_dir_all(&root);
}

/// A receive queue's IRQ affinity on the recorded ixgbe: the IRQ of each queue found by
/// discovery (rx-1 is IRQ 62), read, prepared (the record names the device and queue, not the
/// IRQ), applied to `/proc/irq/62/smp_affinity_list` and restored; refused before anything
/// changes, in one line naming the device and the setting, for a CPU that is not online, a
/// queue no interrupt serves, a read-only file, and a device without interrupts.
#[test]
fn queue_irq_affinity_on_the_recorded_ixgbe() {
    use udprx_netdev::{RestoreRecord, Setting, Settings};
    struct NoEthtool;
    impl udprx_netdev::settings::EthtoolRunner for NoEthtool {
        fn run(&self, _: &[&str]) -> Result<String, String> {
            Err("ethtool not used here".into())
        }
    }
    let root = tree("irq");
    write(&root, "sys/devices/system/cpu/online", "0-3\n");
    let none = NoEthtool;
    let s = Settings { sys: Sys::at(&root), ethtool: &none };
    let q1 = Setting::QueueIrqAffinity { dev: "eth2".into(), queue: 1 };
    assert_eq!(s.queue_irq("eth2", 1).unwrap(), 62);
    assert_eq!(s.read(&q1).unwrap(), "1");
    let rec = s.prepare(&q1, "2-3").unwrap();
    assert_eq!((rec.before.as_str(), rec.after.as_str()), ("1", "2-3"));
    let journal = serde_json::to_string(&rec).unwrap();
    assert!(journal.contains(r#""kind":"queue_irq_affinity","dev":"eth2","queue":1"#), "{journal}");
    s.apply(&q1, "2-3").unwrap();
    let file = root.join("proc/irq/62/smp_affinity_list");
    assert_eq!(fs::read_to_string(&file).unwrap(), "2-3");
    assert_eq!(fs::read_to_string(root.join("proc/irq/61/smp_affinity_list")).unwrap(), "0\n");
    let back: RestoreRecord = serde_json::from_str(&journal).unwrap();
    s.restore(&back).unwrap();
    assert_eq!(s.read(&q1).unwrap(), "1");
    // Refusals, each one line naming the device and the setting; nothing written.
    let refused = |setting: &Setting, value: &str, why: &str| {
        let e = s.check(setting, value).unwrap_err();
        assert!(e.starts_with(&setting.describe()) && e.lines().count() == 1, "{e}");
        assert!(e.contains(why), "{e}");
    };
    refused(&q1, "4", "not within the online CPUs 0-3");
    refused(&q1, "1,7-8", "not online: 7-8");
    let q9 = Setting::QueueIrqAffinity { dev: "eth2".into(), queue: 9 };
    refused(&q9, "0", "no interrupt of eth2 serves rx queue 9 (receive queue IRQs: 61 eth2-TxRx-0");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&file, fs::Permissions::from_mode(0o444)).unwrap();
    refused(&q1, "0", "is read-only");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(fs::read_to_string(&file).unwrap(), "1", "the refusals wrote nothing");
    // A device without interrupts of its own (a veth-like software device).
    let veth = root.join("sys/class/net/veth0");
    fs::create_dir_all(veth.join("queues/rx-0")).unwrap();
    write(&root, "sys/class/net/veth0/ifindex", "7\n");
    write(&root, "sys/class/net/veth0/iflink", "8\n");
    let v = Setting::QueueIrqAffinity { dev: "veth0".into(), queue: 0 };
    refused(&v, "0", "veth0 has no per-queue interrupt (veth has no interrupts of its own");
    refused(
        &Setting::QueueIrqAffinity { dev: "eth9".into(), queue: 0 },
        "0",
        "no network interface",
    );
    let _ = fs::remove_dir_all(&root);
}
