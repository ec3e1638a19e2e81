//! The one table of kernel and udprx function-name patterns that puts every sample in a
//! [`Category`], and the classifier that reads a collapsed stack with it.

use crate::model::profile::Category;

impl Category {
    /// Every category in table order.
    pub const ALL: [Category; 18] = [
        Category::Softirq,
        Category::IpReceive,
        Category::UdpQueue,
        Category::Wakeup,
        Category::Syscall,
        Category::CopyToUser,
        Category::UringTaskWork,
        Category::SkbMemory,
        Category::UserLoop,
        Category::UserParse,
        Category::UserFlow,
        Category::UserHistogram,
        Category::UserStats,
        Category::UserClock,
        Category::UserOther,
        Category::Idle,
        Category::OtherKernel,
        Category::OtherProcess,
    ];

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            Category::Softirq => "driver/veth & softirq entry",
            Category::IpReceive => "IP receive",
            Category::UdpQueue => "UDP lookup & queue (lock, memory accounting)",
            Category::Wakeup => "wake-up & scheduling",
            Category::Syscall => "syscall entry/exit, socket layer",
            Category::CopyToUser => "copy to user",
            Category::UringTaskWork => "io_uring task work",
            Category::SkbMemory => "skb alloc/free",
            Category::UserLoop => "udprx: receive loop",
            Category::UserParse => "udprx: header parse",
            Category::UserFlow => "udprx: flow table",
            Category::UserHistogram => "udprx: histograms",
            Category::UserStats => "udprx: other statistics",
            Category::UserClock => "udprx: clock reads",
            Category::UserOther => "udprx: std, libc, unresolved",
            Category::Idle => "idle",
            Category::OtherKernel => "other kernel (timers, irqs, ...)",
            Category::OtherProcess => "other processes",
        }
    }

    /// True for the idle loop (left out of the busy share).
    pub fn is_idle(self) -> bool {
        self == Category::Idle
    }
}

/// Kernel function-name patterns, checked in order for each frame from the leaf towards the
/// root; the first frame that matches a pattern decides the sample. `name*` matches a prefix,
/// `*name*` a substring, anything else the whole name (compiler suffixes such as `.isra.0`
/// are removed first). Entries mapped to [`Category::OtherKernel`] stop the walk for work
/// that is not the receive path (timers, the sender's transmit path).
pub const RULES: &[(&str, Category)] = &[
    // Not the receive path: the sender's transmit path (when it shares a core) ...
    ("udp_sendmsg", Category::OtherKernel),
    ("udp_send_skb", Category::OtherKernel),
    ("__sys_sendmmsg", Category::OtherKernel),
    ("__sys_sendmsg", Category::OtherKernel),
    ("__sys_sendto", Category::OtherKernel),
    ("ip_output", Category::OtherKernel),
    ("ip_finish_output*", Category::OtherKernel),
    ("__ip_finish_output", Category::OtherKernel),
    ("ip_send_skb", Category::OtherKernel),
    ("ip_make_skb", Category::OtherKernel),
    ("__ip_make_skb", Category::OtherKernel),
    ("__ip_append_data", Category::OtherKernel),
    ("ip_local_out", Category::OtherKernel),
    ("__ip_local_out", Category::OtherKernel),
    ("__dev_queue_xmit", Category::OtherKernel),
    ("dev_hard_start_xmit", Category::OtherKernel),
    ("veth_xmit", Category::OtherKernel),
    ("loopback_xmit", Category::OtherKernel),
    // ... timers, RCU, the profiler itself.
    ("*apic_timer_interrupt*", Category::OtherKernel),
    ("hrtimer_*", Category::OtherKernel),
    ("__hrtimer_*", Category::OtherKernel),
    ("tick_*", Category::OtherKernel),
    ("update_process_times", Category::OtherKernel),
    ("scheduler_tick", Category::OtherKernel),
    ("sched_tick", Category::OtherKernel),
    ("run_timer_softirq", Category::OtherKernel),
    ("__run_timers", Category::OtherKernel),
    ("rcu_*", Category::OtherKernel),
    ("irq_work_*", Category::OtherKernel),
    ("perf_*", Category::OtherKernel),
    ("__perf_*", Category::OtherKernel),
    // The idle loop.
    ("do_idle", Category::Idle),
    ("cpu_startup_entry", Category::Idle),
    ("default_idle*", Category::Idle),
    ("arch_cpu_idle*", Category::Idle),
    ("cpuidle_*", Category::Idle),
    ("acpi_idle_*", Category::Idle),
    ("intel_idle*", Category::Idle),
    ("poll_idle", Category::Idle),
    ("mwait_idle*", Category::Idle),
    ("native_safe_halt", Category::Idle),
    ("pv_native_safe_halt", Category::Idle),
    ("cpu_idle_poll*", Category::Idle),
    // Copy to user: data, source address, control messages, hardened-usercopy checks.
    ("_copy_to_user", Category::CopyToUser),
    ("copy_to_user*", Category::CopyToUser),
    ("__copy_to_user*", Category::CopyToUser),
    ("copy_user_*", Category::CopyToUser),
    ("rep_movs_alternative", Category::CopyToUser),
    ("_copy_to_iter", Category::CopyToUser),
    ("copy_to_iter*", Category::CopyToUser),
    ("memcpy_to_iter", Category::CopyToUser),
    ("copy_page_to_iter", Category::CopyToUser),
    ("simple_copy_to_iter", Category::CopyToUser),
    ("__skb_datagram_iter", Category::CopyToUser),
    ("skb_copy_datagram_*", Category::CopyToUser),
    ("skb_copy_and_csum_datagram*", Category::CopyToUser),
    ("csum_and_copy_to_iter", Category::CopyToUser),
    ("put_cmsg*", Category::CopyToUser),
    ("move_addr_to_user", Category::CopyToUser),
    ("__put_user_*", Category::CopyToUser),
    ("__check_object_size", Category::CopyToUser),
    ("check_heap_object", Category::CopyToUser),
    // Socket buffers: allocation and freeing.
    ("kfree_skb*", Category::SkbMemory),
    ("__kfree_skb*", Category::SkbMemory),
    ("sk_skb_reason_drop", Category::SkbMemory),
    ("consume_skb", Category::SkbMemory),
    ("__consume_stateless_skb", Category::SkbMemory),
    ("napi_consume_skb", Category::SkbMemory),
    ("skb_release_*", Category::SkbMemory),
    ("skb_free_head", Category::SkbMemory),
    ("kfree_skbmem", Category::SkbMemory),
    ("skb_attempt_defer_free", Category::SkbMemory),
    ("skb_defer_free_flush", Category::SkbMemory),
    ("napi_skb_cache_*", Category::SkbMemory),
    ("*build_skb*", Category::SkbMemory),
    ("__alloc_skb", Category::SkbMemory),
    ("alloc_skb*", Category::SkbMemory),
    ("__netdev_alloc_skb", Category::SkbMemory),
    ("*napi_alloc_skb", Category::SkbMemory),
    ("skb_clone", Category::SkbMemory),
    ("pskb_expand_head", Category::SkbMemory),
    ("kmem_cache_*", Category::SkbMemory),
    ("kmalloc*", Category::SkbMemory),
    ("__kmalloc*", Category::SkbMemory),
    ("kfree", Category::SkbMemory),
    ("__slab_free", Category::SkbMemory),
    ("___slab_alloc", Category::SkbMemory),
    ("__slab_alloc*", Category::SkbMemory),
    ("page_frag_*", Category::SkbMemory),
    ("__page_frag_*", Category::SkbMemory),
    ("page_pool_*", Category::SkbMemory),
    ("free_unref_page*", Category::SkbMemory),
    ("__free_pages*", Category::SkbMemory),
    ("__alloc_pages*", Category::SkbMemory),
    ("get_page_from_freelist", Category::SkbMemory),
    // The wake-up: the waker in softirq, the sleeper's scheduling.
    ("try_to_wake_up", Category::Wakeup),
    ("sock_def_readable", Category::Wakeup),
    ("__wake_up*", Category::Wakeup),
    ("wake_up_*", Category::Wakeup),
    ("autoremove_wake_function", Category::Wakeup),
    ("default_wake_function", Category::Wakeup),
    ("receiver_wake_function", Category::Wakeup),
    ("ep_poll_callback", Category::Wakeup),
    ("io_poll_wake", Category::Wakeup),
    ("io_req_local_work_add", Category::Wakeup),
    ("__io_req_task_work_add", Category::Wakeup),
    ("io_req_task_work_add*", Category::Wakeup),
    ("io_schedule*", Category::Wakeup),
    ("ttwu_*", Category::Wakeup),
    ("select_task_rq*", Category::Wakeup),
    ("activate_task", Category::Wakeup),
    ("enqueue_task*", Category::Wakeup),
    ("dequeue_task*", Category::Wakeup),
    ("enqueue_entity", Category::Wakeup),
    ("dequeue_entity", Category::Wakeup),
    ("check_preempt*", Category::Wakeup),
    ("wakeup_preempt*", Category::Wakeup),
    ("resched_curr", Category::Wakeup),
    ("native_smp_send_reschedule", Category::Wakeup),
    ("schedule", Category::Wakeup),
    ("__schedule", Category::Wakeup),
    ("schedule_*", Category::Wakeup),
    ("finish_task_switch*", Category::Wakeup),
    ("prepare_task_switch", Category::Wakeup),
    ("__switch_to*", Category::Wakeup),
    ("switch_mm*", Category::Wakeup),
    ("pick_next_task*", Category::Wakeup),
    ("put_prev_task*", Category::Wakeup),
    ("set_next_entity", Category::Wakeup),
    ("update_curr", Category::Wakeup),
    ("update_load_avg", Category::Wakeup),
    ("psi_*", Category::Wakeup),
    ("newidle_balance", Category::Wakeup),
    ("sched_balance_*", Category::Wakeup),
    ("__skb_wait_for_more_packets", Category::Wakeup),
    ("prepare_to_wait*", Category::Wakeup),
    ("finish_wait", Category::Wakeup),
    // System call entry and exit, the generic socket layer, security hooks.
    ("entry_SYSCALL_64*", Category::Syscall),
    ("entry_SYSRETQ_*", Category::Syscall),
    ("syscall_return_via_sysret", Category::Syscall),
    ("do_syscall_64", Category::Syscall),
    ("x64_sys_call", Category::Syscall),
    ("syscall_enter_from_user_mode*", Category::Syscall),
    ("syscall_exit_to_user_mode*", Category::Syscall),
    ("exit_to_user_mode*", Category::Syscall),
    ("switch_fpu_return", Category::Syscall),
    ("fpregs_restore_userregs", Category::Syscall),
    ("restore_fpregs_from_fpstate", Category::Syscall),
    ("clear_bhb_loop", Category::Syscall),
    ("__x64_sys_*", Category::Syscall),
    ("__ia32_sys_*", Category::Syscall),
    ("__sys_*", Category::Syscall),
    ("___sys_*", Category::Syscall),
    ("____sys_*", Category::Syscall),
    ("do_recvmmsg", Category::Syscall),
    ("sock_recvmsg", Category::Syscall),
    ("sock_recvmsg_nosec", Category::Syscall),
    ("inet_recvmsg", Category::Syscall),
    ("inet6_recvmsg", Category::Syscall),
    ("security_socket_*", Category::Syscall),
    ("apparmor_*", Category::Syscall),
    ("selinux_*", Category::Syscall),
    ("bpf_lsm_*", Category::Syscall),
    ("__fdget*", Category::Syscall),
    ("fdget*", Category::Syscall),
    ("__fget*", Category::Syscall),
    ("fput*", Category::Syscall),
    ("sockfd_lookup_light", Category::Syscall),
    ("import_iovec", Category::Syscall),
    ("__import_iovec", Category::Syscall),
    ("iovec_from_user", Category::Syscall),
    ("copy_msghdr_from_user", Category::Syscall),
    ("__copy_msghdr*", Category::Syscall),
    ("recvmsg_copy_msghdr", Category::Syscall),
    ("__audit_*", Category::Syscall),
    ("__rseq_handle_notify_resume", Category::Syscall),
    ("rseq_*", Category::Syscall),
    // io_uring: task work, completions, the multishot receive's own code.
    ("tctx_task_work*", Category::UringTaskWork),
    ("task_work_run", Category::UringTaskWork),
    ("io_*", Category::UringTaskWork),
    ("__io_*", Category::UringTaskWork),
    // GRO (before UDP: udp4_gro_receive belongs to the driver's poll).
    ("*gro_receive*", Category::Softirq),
    ("*gro_complete*", Category::Softirq),
    ("*gro_normal*", Category::Softirq),
    // UDP: lookup, enqueue, dequeue, memory accounting, control messages.
    ("udp_*", Category::UdpQueue),
    ("__udp*", Category::UdpQueue),
    ("udp4_*", Category::UdpQueue),
    ("udp6_*", Category::UdpQueue),
    ("udpv6_*", Category::UdpQueue),
    ("__skb_recv_udp", Category::UdpQueue),
    ("__skb_try_recv_from_queue", Category::UdpQueue),
    ("__skb_try_recv_datagram", Category::UdpQueue),
    ("skb_recv_datagram", Category::UdpQueue),
    ("sock_rfree", Category::UdpQueue),
    ("__sk_mem_*", Category::UdpQueue),
    ("sk_mem_*", Category::UdpQueue),
    ("mem_cgroup_charge_skmem", Category::UdpQueue),
    ("mem_cgroup_uncharge_skmem", Category::UdpQueue),
    ("skb_set_owner_r", Category::UdpQueue),
    ("sock_queue_rcv_skb*", Category::UdpQueue),
    ("__sock_queue_rcv_skb", Category::UdpQueue),
    ("sk_filter*", Category::UdpQueue),
    ("reuseport_select_sock*", Category::UdpQueue),
    ("sock_recv_*", Category::UdpQueue),
    ("__sock_recv_*", Category::UdpQueue),
    ("ipv4_pktinfo_prepare", Category::UdpQueue),
    // IP receive.
    ("ip_rcv*", Category::IpReceive),
    ("ip_local_deliver*", Category::IpReceive),
    ("ip_protocol_deliver_rcu", Category::IpReceive),
    ("ip_route_input*", Category::IpReceive),
    ("ip_route_use_hint", Category::IpReceive),
    ("ip_sublist_rcv*", Category::IpReceive),
    ("ip_list_rcv*", Category::IpReceive),
    ("ip_defrag", Category::IpReceive),
    ("ip_check_defrag", Category::IpReceive),
    ("fib_*", Category::IpReceive),
    ("nf_hook_slow", Category::IpReceive),
    ("nf_*", Category::IpReceive),
    ("nft_*", Category::IpReceive),
    ("ipt_*", Category::IpReceive),
    ("raw_local_deliver", Category::IpReceive),
    ("raw_v4_input", Category::IpReceive),
    ("ipv6_rcv", Category::IpReceive),
    ("ip6_*", Category::IpReceive),
    // Driver, RPS IPI, NAPI, the softirq entry.
    ("veth_*", Category::Softirq),
    ("__veth_*", Category::Softirq),
    ("virtnet_*", Category::Softirq),
    ("virtqueue_*", Category::Softirq),
    ("vring_*", Category::Softirq),
    ("net_rx_action", Category::Softirq),
    ("__napi_poll*", Category::Softirq),
    ("napi_*", Category::Softirq),
    ("__napi_schedule*", Category::Softirq),
    ("____napi_schedule", Category::Softirq),
    ("process_backlog", Category::Softirq),
    ("__netif_receive_skb*", Category::Softirq),
    ("netif_receive_skb*", Category::Softirq),
    ("__netif_rx*", Category::Softirq),
    ("netif_rx*", Category::Softirq),
    ("enqueue_to_backlog", Category::Softirq),
    ("eth_type_trans", Category::Softirq),
    ("rps_trigger_softirq", Category::Softirq),
    ("net_rps_*", Category::Softirq),
    ("handle_softirqs", Category::Softirq),
    ("__do_softirq", Category::Softirq),
    ("do_softirq*", Category::Softirq),
    ("__local_bh_enable_ip", Category::Softirq),
    ("irq_exit_rcu", Category::Softirq),
    ("__irq_exit_rcu", Category::Softirq),
    ("run_ksoftirqd", Category::Softirq),
    ("*sysvec_call_function_single", Category::Softirq),
    ("generic_smp_call_function_single_interrupt", Category::Softirq),
    ("*flush_smp_call_function_queue", Category::Softirq),
    ("*common_interrupt", Category::Softirq),
    ("handle_edge_irq", Category::Softirq),
    ("handle_irq_event*", Category::Softirq),
    ("vp_interrupt", Category::Softirq),
];

/// Patterns for user-space frames of the receiving process (demangled Rust paths; the same
/// leaf-to-root walk as [`RULES`]).
pub const USER_RULES: &[(&str, Category)] = &[
    ("clock_gettime*", Category::UserClock),
    ("__clock_gettime*", Category::UserClock),
    ("__vdso_*", Category::UserClock),
    ("*Instant::now*", Category::UserClock),
    ("*Timespec::now*", Category::UserClock),
    ("*SystemTime::now*", Category::UserClock),
    ("*udpprobe::*", Category::UserParse),
    ("*udprx_stats::stats::flow::*", Category::UserFlow),
    ("*hdrhistogram::*", Category::UserHistogram),
    ("*udprx_stats::stats::latency::*", Category::UserHistogram),
    ("*udprx_stats::stats::buckets::*", Category::UserHistogram),
    ("*udprx_stats::stats::*", Category::UserStats),
    ("*udprx::method::*", Category::UserLoop),
    ("*udprx::engine::*", Category::UserLoop),
    ("*udprx::batch::*", Category::UserLoop),
    ("*udprx::sys::*", Category::UserLoop),
    ("*io_uring::*", Category::UserLoop),
];

/// Removes compiler suffixes (`.isra.0`, `.constprop.0`, `.cold`) from a kernel symbol.
pub(super) fn base_name(frame: &str) -> &str {
    frame.split('.').next().unwrap_or(frame)
}

/// Whether `name` matches one pattern of the rule tables.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) if pattern.len() >= 2 => name.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => name.ends_with(suffix),
        (None, Some(prefix)) => name.starts_with(prefix),
        _ => name == pattern,
    }
}

pub(super) fn lookup(rules: &[(&str, Category)], name: &str) -> Option<Category> {
    rules.iter().find(|(p, _)| matches(p, name)).map(|(_, c)| *c)
}

/// The category of one collapsed stack (`comm-pid;root;...;leaf`, kernel frames annotated
/// `_[k]`). `own_pid` is the receiving process: user-space samples of any other process are
/// [`Category::OtherProcess`], and so is their kernel work that no rule claims. Receive work
/// (a softirq, say) is classified whichever process it interrupted.
pub fn classify(stack: &str, own_pid: u32) -> Category {
    let mut parts = stack.split(';');
    let root = parts.next().unwrap_or("");
    let frames: Vec<&str> = parts.collect();
    let pid = root.rsplit_once('-').and_then(|(_, p)| p.parse::<u32>().ok());
    // inferno marks vDSO frames like kernel ones; they are user-space code.
    let kernel = |f: &str| f.ends_with("_[k]") && !f.starts_with("__vdso");
    match frames.last() {
        Some(leaf) if kernel(leaf) => {
            for f in frames.iter().rev().take_while(|f| kernel(f)) {
                let name = base_name(f.trim_end_matches("_[k]"));
                if let Some(c) = lookup(RULES, name) {
                    return c;
                }
            }
            // Unclassified kernel work on behalf of another user process (its page faults,
            // its system calls) is that process's; kernel threads' stays other kernel.
            let user_process = frames.iter().any(|f| !kernel(f));
            if pid == Some(0) {
                Category::Idle
            } else if pid != Some(own_pid) && user_process {
                Category::OtherProcess
            } else {
                Category::OtherKernel
            }
        }
        _ if pid != Some(own_pid) => Category::OtherProcess,
        _ => frames
            .iter()
            .rev()
            .find_map(|f| lookup(USER_RULES, f.trim_end_matches("_[k]")))
            .unwrap_or(Category::UserOther),
    }
}
