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

fn tree() -> std::path::PathBuf {
    let root = std::env::temp_dir().join(format!("udprx-netdev-tree-{}", std::process::id()));
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
    let root = tree();
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
