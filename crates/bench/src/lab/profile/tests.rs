//! The classifier against hand-written stacks with real kernel symbol names, the shares, and
//! perf script's output.

use super::rules::*;
use super::session::*;
use super::table::*;
use super::*;
use crate::render::profile::side_by_side;

const PID: u32 = 4242;

/// Hand-written collapsed stacks with realistic kernel symbol names (Linux 6.x, x86-64).
fn k(frames: &[&str]) -> String {
    frames.iter().map(|f| format!("{f}_[k]")).collect::<Vec<_>>().join(";")
}

fn stack(root: &str, user: &[&str], kernel: &[&str]) -> String {
    let mut parts = vec![root.to_string()];
    parts.extend(user.iter().map(|s| s.to_string()));
    if !kernel.is_empty() {
        parts.push(k(kernel));
    }
    parts.join(";")
}

const RECV_USER: &[&str] = &[
    "_start",
    "std::rt::lang_start_internal",
    "std::sys::pal::unix::thread::Thread::new::thread_start",
    "udprx::method::recvmmsg::run",
    "__libc_recvmmsg",
];
const SYSCALL: &[&str] = &[
    "entry_SYSCALL_64_after_hwframe",
    "do_syscall_64",
    "__x64_sys_recvmmsg",
    "__sys_recvmmsg",
    "do_recvmmsg",
    "___sys_recvmsg",
    "____sys_recvmsg",
    "inet_recvmsg",
    "udp_recvmsg",
];
const SOFTIRQ_TO_UDP: &[&str] = &[
    "asm_sysvec_call_function_single",
    "sysvec_call_function_single",
    "__sysvec_call_function_single",
    "__flush_smp_call_function_queue",
    "do_softirq",
    "handle_softirqs",
    "net_rx_action",
    "__napi_poll",
    "process_backlog",
    "__netif_receive_skb_one_core",
    "ip_rcv",
    "ip_local_deliver",
    "ip_local_deliver_finish",
    "ip_protocol_deliver_rcu",
    "udp_rcv",
    "__udp4_lib_rcv",
    "udp_unicast_rcv_skb",
    "udp_queue_rcv_skb",
    "udp_queue_rcv_one_skb",
    "__udp_enqueue_schedule_skb",
];
const IDLE: &[&str] = &[
    "secondary_startup_64_no_verify",
    "start_secondary",
    "cpu_startup_entry",
    "do_idle",
    "default_idle_call",
    "default_idle",
    "pv_native_safe_halt",
];

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(more);
    v
}

fn own(user: &[&str], kernel: &[&str]) -> String {
    stack(&format!("udprx-0-{PID}"), user, kernel)
}

#[test]
fn kernel_receive_path_categories() {
    let cases: Vec<(String, Category)> = vec![
        // Copy inside recvmmsg, through the hardened-usercopy check.
        (
            own(
                RECV_USER,
                &with(
                    SYSCALL,
                    &[
                        "skb_copy_datagram_iter",
                        "__skb_datagram_iter",
                        "simple_copy_to_iter",
                        "__check_object_size",
                        "__virt_addr_valid",
                    ],
                ),
            ),
            Category::CopyToUser,
        ),
        (
            own(RECV_USER, &with(SYSCALL, &["_copy_to_user", "rep_movs_alternative"])),
            Category::CopyToUser,
        ),
        // Dequeue: the queue lock taken in __skb_recv_udp.
        (
            own(
                RECV_USER,
                &with(
                    SYSCALL,
                    &["__skb_recv_udp", "_raw_spin_lock_bh", "native_queued_spin_lock_slowpath"],
                ),
            ),
            Category::UdpQueue,
        ),
        (own(RECV_USER, &with(SYSCALL, &["udp_rmem_release"])), Category::UdpQueue),
        // SO_RXQ_OVFL's control message.
        (
            own(RECV_USER, &with(SYSCALL, &["__sock_recv_cmsgs", "put_cmsg", "_copy_to_user"])),
            Category::CopyToUser,
        ),
        (own(RECV_USER, &with(SYSCALL, &["__sock_recv_cmsgs"])), Category::UdpQueue),
        // Freeing the skb after the copy.
        (
            own(RECV_USER, &with(SYSCALL, &["consume_skb", "skb_release_data", "kmem_cache_free"])),
            Category::SkbMemory,
        ),
        // Syscall entry/exit.
        (
            own(
                RECV_USER,
                &["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "syscall_exit_to_user_mode"],
            ),
            Category::Syscall,
        ),
        (
            own(RECV_USER, &with(&SYSCALL[..6], &["sockfd_lookup_light", "__fget_light"])),
            Category::Syscall,
        ),
        // Sleeping in recvmmsg until the next datagram.
        (
            own(
                RECV_USER,
                &with(
                    SYSCALL,
                    &[
                        "__skb_recv_udp",
                        "__skb_wait_for_more_packets",
                        "schedule_timeout",
                        "schedule",
                        "__schedule",
                        "finish_task_switch.isra.0",
                    ],
                ),
            ),
            Category::Wakeup,
        ),
        // Softirq (RPS IPI) interrupting the idle loop, down to the enqueue and the wake-up.
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &with(
                        SOFTIRQ_TO_UDP,
                        &[
                            "sock_def_readable",
                            "__wake_up_sync_key",
                            "__wake_up_common",
                            "autoremove_wake_function",
                            "try_to_wake_up",
                        ],
                    ),
                ),
            ),
            Category::Wakeup,
        ),
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &with(SOFTIRQ_TO_UDP, &["_raw_spin_lock", "native_queued_spin_lock_slowpath"]),
                ),
            ),
            Category::UdpQueue,
        ),
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &with(
                        &SOFTIRQ_TO_UDP[..11],
                        &["ip_rcv_finish", "ip_route_input_noref", "fib_table_lookup"],
                    ),
                ),
            ),
            Category::IpReceive,
        ),
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &with(&SOFTIRQ_TO_UDP[..10], &["__netif_receive_skb_core.constprop.0"]),
                ),
            ),
            Category::Softirq,
        ),
        (
            stack(
                "swapper-0",
                &[],
                &with(IDLE, &with(&SOFTIRQ_TO_UDP[..8], &["skb_defer_free_flush", "kfree_skbmem"])),
            ),
            Category::SkbMemory,
        ),
        (
            stack(
                "ksoftirqd/1-23",
                &[],
                &[
                    "ret_from_fork_asm",
                    "ret_from_fork",
                    "kthread",
                    "smpboot_thread_fn",
                    "run_ksoftirqd",
                    "handle_softirqs",
                    "net_rx_action",
                    "__napi_poll",
                    "veth_poll",
                    "veth_xdp_rcv",
                ],
            ),
            Category::Softirq,
        ),
        // GRO inside the veth poll, even though the function is named udp4_*.
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &[
                        "asm_common_interrupt",
                        "net_rx_action",
                        "__napi_poll",
                        "veth_poll",
                        "napi_gro_receive",
                        "dev_gro_receive",
                        "inet_gro_receive",
                        "udp4_gro_receive",
                    ],
                ),
            ),
            Category::Softirq,
        ),
        // Idle.
        (stack("swapper-0", &[], IDLE), Category::Idle),
        (
            stack(
                "swapper-0",
                &[],
                &with(&IDLE[..4], &["cpuidle_enter", "cpuidle_enter_state", "acpi_idle_enter"]),
            ),
            Category::Idle,
        ),
        // A timer tick in the idle loop is not receive work.
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &[
                        "asm_sysvec_apic_timer_interrupt",
                        "sysvec_apic_timer_interrupt",
                        "__sysvec_apic_timer_interrupt",
                        "hrtimer_interrupt",
                        "__hrtimer_run_queues",
                        "tick_nohz_handler",
                        "update_process_times",
                        "account_process_tick",
                    ],
                ),
            ),
            Category::OtherKernel,
        ),
        // io_uring: DEFER_TASKRUN work in io_uring_enter, and the multishot recvmsg.
        (
            own(
                &["udprx::method::uring::run"],
                &[
                    "entry_SYSCALL_64_after_hwframe",
                    "do_syscall_64",
                    "__x64_sys_io_uring_enter",
                    "__io_run_local_work",
                    "io_poll_task_func",
                    "io_issue_sqe",
                    "io_recvmsg_multishot",
                ],
            ),
            Category::UringTaskWork,
        ),
        (
            own(
                &["udprx::method::uring::run"],
                &[
                    "entry_SYSCALL_64_after_hwframe",
                    "do_syscall_64",
                    "syscall_exit_to_user_mode",
                    "task_work_run",
                    "tctx_task_work",
                    "io_req_task_complete",
                ],
            ),
            Category::UringTaskWork,
        ),
        (
            own(
                &["udprx::method::uring::run"],
                &[
                    "entry_SYSCALL_64_after_hwframe",
                    "do_syscall_64",
                    "__x64_sys_io_uring_enter",
                    "__io_run_local_work",
                    "io_recvmsg",
                    "sock_recvmsg",
                    "udp_recvmsg",
                    "skb_copy_datagram_iter",
                    "_copy_to_iter",
                ],
            ),
            Category::CopyToUser,
        ),
        (
            own(
                &["udprx::method::uring::run"],
                &["entry_SYSCALL_64_after_hwframe", "do_syscall_64", "__x64_sys_io_uring_enter"],
            ),
            Category::Syscall,
        ),
        // The io_uring waker in softirq.
        (
            stack(
                "swapper-0",
                &[],
                &with(
                    IDLE,
                    &with(
                        SOFTIRQ_TO_UDP,
                        &[
                            "sock_def_readable",
                            "__wake_up_common",
                            "io_poll_wake",
                            "__io_req_task_work_add",
                            "io_req_local_work_add",
                        ],
                    ),
                ),
            ),
            Category::Wakeup,
        ),
        // Unresolved kernel frames (kptr_restrict=2) are other kernel, not receive work.
        (own(RECV_USER, &["ffffffff81a00000", "ffffffff81a1b2c3"]), Category::OtherKernel),
    ];
    for (i, (s, want)) in cases.iter().enumerate() {
        assert_eq!(classify(s, PID), *want, "case {i}: {s}");
    }
}

#[test]
fn user_space_categories() {
    let loop_ =
        &["_start", "udprx::engine::Receiver::run::{{closure}}", "udprx::method::recvmmsg::run"];
    let cases: Vec<(Vec<&str>, Category)> = vec![
        (loop_.to_vec(), Category::UserLoop),
        (
            with(
                loop_,
                &["udprx_stats::stats::recorder::Recorder::record", "udpprobe::Header::parse"],
            ),
            Category::UserParse,
        ),
        (
            with(
                loop_,
                &[
                    "udprx_stats::stats::recorder::Recorder::record",
                    "udprx_stats::stats::flow::FlowTable::observe",
                    "memcpy",
                ],
            ),
            Category::UserFlow,
        ),
        (
            with(
                loop_,
                &[
                    "udprx_stats::stats::recorder::Recorder::record",
                    "hdrhistogram::Histogram<T>::record_n",
                ],
            ),
            Category::UserHistogram,
        ),
        (with(loop_, &["udprx_stats::stats::recorder::Recorder::record"]), Category::UserStats),
        (
            with(loop_, &["std::time::Instant::now", "clock_gettime", "__vdso_clock_gettime"]),
            Category::UserClock,
        ),
        (vec!["_start", "__libc_start_main", "[unknown]"], Category::UserOther),
    ];
    for (i, (frames, want)) in cases.iter().enumerate() {
        let s = own(frames, &[]);
        assert_eq!(classify(&s, PID), *want, "case {i}: {s}");
    }
    // Another process's user space (a compiler sharing the core) is not udprx's.
    let s = stack("rustc-999", &["_start", "rustc_driver::main"], &[]);
    assert_eq!(classify(&s, PID), Category::OtherProcess);
    // So is its own kernel work, but not a kernel thread's.
    let s = stack(
        "rustc-999",
        &["_start", "rustc_driver::main"],
        &["asm_exc_page_fault", "exc_page_fault", "do_user_addr_fault"],
    );
    assert_eq!(classify(&s, PID), Category::OtherProcess);
    let s = stack("kworker/1:1-77", &[], &["ret_from_fork", "kthread", "worker_thread"]);
    assert_eq!(classify(&s, PID), Category::OtherKernel);
    // But its interruption by the receive softirq is receive work.
    let s = stack("rustc-999", &["_start", "rustc_driver::main"], SOFTIRQ_TO_UDP);
    assert_eq!(classify(&s, PID), Category::UdpQueue);
}

#[test]
fn patterns_and_names() {
    assert!(matches("udp_*", "udp_rcv"));
    assert!(!matches("udp_*", "__udp4_lib_rcv"));
    assert!(matches("*gro_receive*", "udp4_gro_receive"));
    assert!(matches("*sysvec_call_function_single", "asm_sysvec_call_function_single"));
    assert!(matches("schedule", "schedule"));
    assert!(!matches("schedule", "schedule_idle"));
    assert_eq!(base_name("finish_task_switch.isra.0"), "finish_task_switch");
    assert_eq!(slug("classic recvmmsg 1× +gro"), "classic-recvmmsg-1x-gro");
    assert_eq!(slug("gso uring 2×hash"), "gso-uring-2xhash");
    // No pattern is shadowed by an earlier one of another category: each pattern's own
    // name is classified by it.
    for tables in [RULES, USER_RULES] {
        for (i, (p, c)) in tables.iter().enumerate() {
            assert_eq!(lookup(tables, p.trim_matches('*')), Some(*c), "rule {i} {p}");
        }
    }
    assert_eq!(
        parse_written_samples(
            "[ perf record: Captured and wrote 0.166 MB p.data (996 samples) ]\n"
        ),
        996
    );
    assert_eq!(parse_written_samples("nothing"), 0);
}

#[test]
fn table_shares_sum_to_100_and_divide_by_datagrams() {
    let lines = vec![
        format!("{} 3000", stack("swapper-0", &[], IDLE)),
        format!("{} 1000", own(RECV_USER, &with(SYSCALL, &["_copy_to_user"]))),
        format!("{} 500", own(&["udprx::method::recvmmsg::run"], &[])),
        format!(
            "{} 500",
            stack("swapper-0", &[], &with(IDLE, &with(SOFTIRQ_TO_UDP, &["try_to_wake_up"])))
        ),
        "malformed line without count".to_string(),
    ];
    let c = Collapsed { lines, samples: 5000 };
    let t = ProfileTable::from_collapsed(&c, PID, &[1], 999, 1.0, 10);
    assert_eq!(t.total_ns, 5000);
    assert!((t.percent_sum() - 100.0).abs() < 1e-9);
    assert!((t.percent_of(Category::Idle) - 60.0).abs() < 1e-9);
    assert!((t.percent_of(Category::CopyToUser) - 20.0).abs() < 1e-9);
    let copy = t.shares.iter().find(|s| s.category == Category::CopyToUser).unwrap();
    assert!((copy.busy_percent - 50.0).abs() < 1e-9);
    assert_eq!(copy.ns_per_dgram, Some(100.0));
    let text = t.render(false);
    assert!(text.contains("copy to user") && text.contains("busy (all but idle)"), "{text}");
    assert!(t.notes.is_empty());
    let few = ProfileTable::from_collapsed(
        &Collapsed { lines: c.lines.clone(), samples: 10 },
        PID,
        &[],
        99,
        1.0,
        0,
    );
    assert!(few.notes[0].contains("10 samples"), "{:?}", few.notes);
    let side = side_by_side(&[("a".into(), &t), ("b".into(), &few)], true);
    assert!(side.contains("| copy to user | 20.0% · 100 ns | 20.0% |"), "{side}");
}

#[test]
fn perf_script_output_collapses_with_pid_and_kernel_marks() {
    let script = "udprx-0 4242/4243 [001] 100.000001:    1001001 cpu-clock: \n\
        \tffffffff81c0e3a1 _copy_to_user+0x21 ([kernel.kallsyms])\n\
        \tffffffff81b00d9e do_syscall_64+0x5e ([kernel.kallsyms])\n\
        \t55d0c0ffee00 udprx::method::recvmmsg::run+0x100 (/usr/bin/udprx)\n\
        \n\
        swapper     0/0     [001] 100.000002:    1001001 cpu-clock: \n\
        \tffffffff81d0e3a1 pv_native_safe_halt+0xb ([kernel.kallsyms])\n\
        \tffffffff81d0e3b2 do_idle+0x1 ([kernel.kallsyms])\n\
        \n";
    let c = collapse(script.as_bytes()).unwrap();
    assert_eq!(c.lines.len(), 2, "{:?}", c.lines);
    let t = ProfileTable::from_collapsed(&c, 4242, &[1], 999, 0.002, 2);
    assert_eq!(t.total_ns, 2_002_002);
    assert!((t.percent_of(Category::CopyToUser) - 50.0).abs() < 1e-9, "{:?}", c.lines);
    assert!((t.percent_of(Category::Idle) - 50.0).abs() < 1e-9);
    let dir = std::env::temp_dir().join(format!("udprx-fg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("t.svg");
    flame_graph(&c, "test", &svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("_copy_to_user"));
    std::fs::remove_dir_all(&dir).unwrap();
}
