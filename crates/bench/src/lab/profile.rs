//! Where the receive cores' time goes: `perf record -e cpu-clock` over a measured window,
//! stacks collapsed and drawn with `inferno`, every sample put in one category by its stack.
//!
//! The pieces:
//! - [`Profiler::new`]: finds `perf` and checks permission up front; without either the caller
//!   gets one line saying why and goes on without a profile;
//! - [`PerfSession`]: a `perf record` started with its events disabled and steered through
//!   two named pipes (`--control fifo:ctl,ack`), so the samples cover exactly the window
//!   between [`PerfSession::enable`] and [`PerfSession::disable`], not perf's own start-up or
//!   the receiver's set-up and drain;
//! - [`PerfSession::finish`]: `perf script` piped through inferno's perf collapser (sample
//!   periods as weights, so a collapsed count is nanoseconds of sampled CPU time);
//! - [`classify`] and [`RULES`]: the one table of kernel and udprx function-name patterns that
//!   decides each sample's [`Category`];
//! - [`ProfileTable`]: the shares (of all sampled time and of the busy, non-idle time) and the
//!   nanoseconds per received datagram of each category; [`flame_graph`]: the SVG.
//!
//! `cpu-clock` is a software timer event: it works in VMs without hardware counters, but
//! samples land only where interrupts are enabled, so time with interrupts off (parts of the
//! softirq and of the scheduler) is credited to the code that re-enables them.

pub use crate::model::profile::{Category, PathProfile, ProfileRun, ProfileTable, Share};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Default sampling frequency, Hz (not a multiple of the timer tick, so sampling does not
/// lock step with periodic kernel work).
pub const DEFAULT_FREQ: u32 = 1999;

/// Lowest and highest accepted sampling frequency, Hz.
pub const FREQ_RANGE: std::ops::RangeInclusive<u32> = 10..=20_000;

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
    ("*udprx_stats::stats::*", Category::UserStats),
    ("*udprx::method::*", Category::UserLoop),
    ("*udprx::engine::*", Category::UserLoop),
    ("*udprx::batch::*", Category::UserLoop),
    ("*udprx::sys::*", Category::UserLoop),
    ("*io_uring::*", Category::UserLoop),
];

/// Removes compiler suffixes (`.isra.0`, `.constprop.0`, `.cold`) from a kernel symbol.
fn base_name(frame: &str) -> &str {
    frame.split('.').next().unwrap_or(frame)
}

/// Whether `name` matches one pattern of the rule tables.
fn matches(pattern: &str, name: &str) -> bool {
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) if pattern.len() >= 2 => name.contains(&pattern[1..pattern.len() - 1]),
        (Some(suffix), None) => name.ends_with(suffix),
        (None, Some(prefix)) => name.starts_with(prefix),
        _ => name == pattern,
    }
}

fn lookup(rules: &[(&str, Category)], name: &str) -> Option<Category> {
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

/// Collapsed stacks: one `stack count` line each (count = ns of sampled time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collapsed {
    /// The lines.
    pub lines: Vec<String>,
    /// Samples `perf record` reported writing (0 when unknown).
    pub samples: u64,
}

/// Splits a collapsed line into its stack and its count.
fn split_line(line: &str) -> Option<(&str, u64)> {
    let (stack, n) = line.trim_end().rsplit_once(' ')?;
    Some((stack, n.parse().ok()?))
}

impl ProfileTable {
    /// Tallies collapsed stacks by category.
    pub fn from_collapsed(
        c: &Collapsed,
        own_pid: u32,
        cpus: &[usize],
        freq: u32,
        window_s: f64,
        received: u64,
    ) -> ProfileTable {
        let mut by: std::collections::BTreeMap<Category, u64> = Default::default();
        let mut other: std::collections::HashMap<String, u64> = Default::default();
        let mut total = 0u64;
        for (stack, n) in c.lines.iter().filter_map(|l| split_line(l)) {
            let cat = classify(stack, own_pid);
            *by.entry(cat).or_default() += n;
            total += n;
            if cat == Category::OtherKernel {
                let leaf = stack.rsplit(';').next().unwrap_or("?").trim_end_matches("_[k]");
                *other.entry(leaf.to_string()).or_default() += n;
            }
        }
        let idle = by.get(&Category::Idle).copied().unwrap_or(0);
        let busy = total.saturating_sub(idle);
        let pct = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 * 100.0 / of as f64 };
        let shares = Category::ALL
            .iter()
            .filter_map(|cat| by.get(cat).map(|n| (*cat, *n)))
            .map(|(category, ns)| Share {
                category,
                ns,
                percent: pct(ns, total),
                busy_percent: if category.is_idle() { 0.0 } else { pct(ns, busy) },
                ns_per_dgram: (received > 0).then(|| ns as f64 / received as f64),
            })
            .collect();
        let mut other_top: Vec<(String, u64)> = other.into_iter().collect();
        other_top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        other_top.truncate(5);
        let samples = if c.samples > 0 { c.samples } else { c.lines.len() as u64 };
        let mut notes = Vec::new();
        if samples < 500 {
            notes.push(format!(
                "only {samples} samples: shares below about {:.0}% are noise",
                (100.0 / (samples.max(1) as f64).sqrt()).min(100.0)
            ));
        }
        ProfileTable {
            cpus: cpus.to_vec(),
            freq,
            window_s,
            samples,
            total_ns: total,
            received,
            shares,
            other_top,
            notes,
        }
    }

    /// The sum of the shares, percent (100 unless empty).
    pub fn percent_sum(&self) -> f64 {
        self.shares.iter().map(|s| s.percent).sum()
    }

    /// The share of a category, percent (0 when it has no samples).
    pub fn percent_of(&self, c: Category) -> f64 {
        self.shares.iter().find(|s| s.category == c).map_or(0.0, |s| s.percent)
    }

    /// The terminal (or Markdown) table.
    pub fn render(&self, markdown: bool) -> String {
        let headers = ["category", "share", "of busy", "ns/dgram"];
        let mut rows: Vec<Vec<String>> = self
            .shares
            .iter()
            .map(|s| {
                vec![
                    s.category.label().to_string(),
                    format!("{:.1}%", s.percent),
                    if s.category.is_idle() {
                        "-".into()
                    } else {
                        format!("{:.1}%", s.busy_percent)
                    },
                    s.ns_per_dgram.map_or("-".into(), |v| format!("{v:.0}")),
                ]
            })
            .collect();
        let busy: f64 =
            self.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.percent).sum();
        let busy_ns: u64 = self.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.ns).sum();
        rows.push(vec![
            "busy (all but idle)".into(),
            format!("{busy:.1}%"),
            "100.0%".into(),
            if self.received > 0 {
                format!("{:.0}", busy_ns as f64 / self.received as f64)
            } else {
                "-".into()
            },
        ]);
        crate::text::table(&headers, &rows, markdown)
    }

    /// One line saying what was sampled.
    pub fn headline(&self) -> String {
        let cores = if self.cpus.is_empty() {
            "every CPU".to_string()
        } else {
            format!("cores {:?}", self.cpus)
        };
        format!(
            "profile: perf cpu-clock at {} Hz on {cores}, {:.2} s window, {} samples ({:.2} s of CPU time sampled){}",
            self.freq,
            self.window_s,
            self.samples,
            self.total_ns as f64 / 1e9,
            if self.received > 0 {
                format!(", {} datagrams received", self.received)
            } else {
                String::new()
            }
        )
    }
}

/// Why profiling is not possible here (one line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `perf` that can sample whole CPUs here.
#[derive(Debug, Clone)]
pub struct Profiler {
    perf: PathBuf,
    freq: u32,
    /// Things to print with every table (hidden kernel symbols).
    pub notes: Vec<String>,
}

/// Finds the `perf` program: `perf` on the PATH, else a Debian versioned `perf_X.Y`.
fn find_perf() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(p) = dirs.iter().map(|d| d.join("perf")).find(|p| p.is_file()) {
        return Some(p);
    }
    let mut versioned: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("perf_")))
        .collect();
    versioned.sort();
    versioned.pop()
}

/// `kernel.perf_event_paranoid`, when readable.
fn paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok()?.trim().parse().ok()
}

/// Whether `/proc/kallsyms` shows real addresses to this process (else kernel frames stay
/// unresolved), with the note to print when it does not.
fn kernel_symbols_note() -> Option<String> {
    let text = std::fs::read_to_string("/proc/kallsyms").ok();
    let visible = text.as_deref().is_some_and(|t| {
        t.lines()
            .take(50)
            .any(|l| l.split_whitespace().next().is_some_and(|a| a.chars().any(|c| c != '0')))
    });
    if visible {
        return None;
    }
    let restrict = std::fs::read_to_string("/proc/sys/kernel/kptr_restrict")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    Some(format!(
        "kernel symbols hidden (/proc/kallsyms shows no addresses, kernel.kptr_restrict={restrict}): kernel \
         frames are unresolved and counted as other kernel; as root, kernel.kptr_restrict=0 or 1 shows them"
    ))
}

impl Profiler {
    /// Checks that `perf` is installed and may sample whole CPUs (root, or
    /// `kernel.perf_event_paranoid` ≤ 0). Whether the kernel lets perf open its events at all
    /// (a container, a namespace without the capability) shows when the session starts. `freq` is checked by the caller against
    /// [`FREQ_RANGE`].
    pub fn new(freq: u32) -> Result<Profiler, Unavailable> {
        let perf = find_perf().ok_or_else(|| {
            Unavailable(
                "perf is not installed (scripts/setup.sh installs Debian's linux-perf)".into(),
            )
        })?;
        // `UDPRX_BENCH_NOT_ROOT` (tests) takes the non-root path as root.
        if !crate::lab::topology::is_root() {
            match paranoid() {
                Some(p) if p <= 0 => {}
                Some(p) => {
                    return Err(Unavailable(format!(
                        "not root and kernel.perf_event_paranoid={p}: sampling whole CPUs needs root (or perf_event_paranoid <= 0)"
                    )));
                }
                None => {
                    return Err(Unavailable(
                        "not root and /proc/sys/kernel/perf_event_paranoid is unreadable: perf events are not available here".into(),
                    ));
                }
            }
        }
        let notes = kernel_symbols_note().into_iter().collect();
        Ok(Profiler { perf, freq: freq.clamp(*FREQ_RANGE.start(), *FREQ_RANGE.end()), notes })
    }

    /// The sampling frequency, Hz.
    pub fn freq(&self) -> u32 {
        self.freq
    }

    /// Starts `perf record` on `cpus` (empty: every CPU) with its events disabled; nothing is
    /// sampled before [`PerfSession::enable`].
    pub fn start(&self, cpus: &[usize]) -> Result<PerfSession, String> {
        PerfSession::start(self, cpus)
    }
}

/// Counter for unique work directories within this process.
static SESSION_SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running `perf record`, steered through two named pipes. Dropping it ends perf and
/// removes its files.
#[derive(Debug)]
pub struct PerfSession {
    perf: PathBuf,
    child: Option<Child>,
    dir: PathBuf,
    ctl: std::fs::File,
    ack: std::fs::File,
    cpus: Vec<usize>,
    freq: u32,
    enabled_at: Option<Instant>,
    window: Duration,
}

/// Removes the work directories (`udprx-perf-<pid>-<n>`) of udprx processes that no longer
/// exist (killed before they could clean up).
fn remove_stale_dirs() {
    let Ok(rd) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("udprx-perf-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// How long perf may take to start or to answer a command.
const PERF_TIMEOUT: Duration = Duration::from_secs(15);

impl PerfSession {
    fn start(p: &Profiler, cpus: &[usize]) -> Result<PerfSession, String> {
        remove_stale_dirs();
        let seq = SESSION_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("udprx-perf-{}-{seq}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cleanup = |e: String| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        let (ctl_path, ack_path) = (dir.join("ctl"), dir.join("ack"));
        for f in [&ctl_path, &ack_path] {
            crate::lab::sys::mkfifo(f)
                .map_err(|e| cleanup(format!("mkfifo {}: {e}", f.display())))?;
        }
        // Read-write opens of a FIFO never block (Linux), whichever side comes first.
        let open = |path: &Path| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| format!("opening {}: {e}", path.display()))
        };
        let ctl = open(&ctl_path).map_err(cleanup)?;
        let ack = open(&ack_path).map_err(cleanup)?;
        let mut cmd = Command::new(&p.perf);
        cmd.arg("record")
            .args(["-e", "cpu-clock", "-F", &p.freq.to_string(), "-g", "-D", "-1"])
            .arg(format!("--control=fifo:{},{}", ctl_path.display(), ack_path.display()))
            .arg("-o")
            .arg(dir.join("perf.data"));
        if cpus.is_empty() {
            cmd.arg("-a");
        } else {
            let list: Vec<String> = cpus.iter().map(|c| c.to_string()).collect();
            cmd.args(["-C", &list.join(",")]);
        }
        // Its own process group: Ctrl-C reaches udprx, which ends perf in order.
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).map_err(|e| cleanup(e.to_string()))?)
            .process_group(0);
        // Without a command to run, perf would record until stopped: it ends with udprx.
        crate::lab::sys::end_with_parent(&mut cmd);
        let child =
            cmd.spawn().map_err(|e| cleanup(format!("starting {}: {e}", p.perf.display())))?;
        Ok(PerfSession {
            perf: p.perf.clone(),
            child: Some(child),
            dir,
            ctl,
            ack,
            cpus: cpus.to_vec(),
            freq: p.freq,
            enabled_at: None,
            window: Duration::ZERO,
        })
    }

    /// perf's error output, first meaningful line.
    fn perf_error(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("Events ") && !l.starts_with("[ perf record"))
            .unwrap_or("perf exited without saying why")
            .to_string()
    }

    /// Sends one control command and waits for perf's `ack`.
    fn command(&mut self, what: &str) -> Result<(), String> {
        self.ctl
            .write_all(format!("{what}\n").as_bytes())
            .map_err(|e| format!("perf control: {e}"))?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let mut got = Vec::new();
        loop {
            let mut buf = [0u8; 64];
            match self.ack.read(&mut buf) {
                Ok(n) if n > 0 => {
                    // perf writes "ack\n" and the string's NUL.
                    got.extend_from_slice(&buf[..n]);
                    if got.contains(&b'\n') {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("perf control: {e}")),
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.child = None;
                    return Err(format!("perf record stopped ({st}): {}", self.perf_error()));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("perf did not answer `{what}` within {PERF_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Starts sampling (waits until perf confirms).
    pub fn enable(&mut self) -> Result<(), String> {
        self.command("enable")?;
        self.enabled_at = Some(Instant::now());
        Ok(())
    }

    /// Stops sampling (waits until perf confirms).
    pub fn disable(&mut self) -> Result<(), String> {
        self.command("disable")?;
        if let Some(t) = self.enabled_at.take() {
            self.window += t.elapsed();
        }
        Ok(())
    }

    /// Time sampled so far (between enable and disable).
    pub fn window(&self) -> Duration {
        self.window + self.enabled_at.map_or(Duration::ZERO, |t| t.elapsed())
    }

    /// The sampled cores (empty: every CPU).
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// The sampling frequency, Hz.
    pub fn freq(&self) -> u32 {
        self.freq
    }

    /// Ends perf, reads its samples with `perf script` and collapses them (sample periods as
    /// weights, the process id in the root frame, kernel frames marked `_[k]`).
    pub fn finish(mut self) -> Result<Collapsed, String> {
        if self.enabled_at.is_some() {
            self.disable()?;
        }
        let _ = self.ctl.write_all(b"stop\n");
        let mut child = self.child.take().ok_or_else(|| "perf is not running".to_string())?;
        let deadline = Instant::now() + PERF_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => {
                    let _ = crate::lab::sys::signal(child.id(), libc::SIGINT);
                    match child.wait() {
                        Ok(st) => break st,
                        Err(e) => return Err(format!("waiting for perf: {e}")),
                    }
                }
            }
        };
        if !status.success() && status.code() != Some(130) {
            return Err(format!("perf record failed ({status}): {}", self.perf_error()));
        }
        let stderr = std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default();
        let samples = parse_written_samples(&stderr);
        let out = Command::new(&self.perf)
            .arg("script")
            .arg("-i")
            .arg(self.dir.join("perf.data"))
            .args(["-F", "comm,pid,tid,cpu,time,period,event,ip,sym,dso", "--no-inline"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("perf script: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "perf script failed: {}",
                err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no reason given")
            ));
        }
        let mut collapsed = collapse(&out.stdout).map_err(|e| format!("collapsing stacks: {e}"))?;
        collapsed.samples = samples;
        Ok(collapsed)
    }
}

impl Drop for PerfSession {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = crate::lab::sys::signal(c.id(), libc::SIGKILL);
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The sample count from perf record's last line (`... (1234 samples) ]`).
fn parse_written_samples(stderr: &str) -> u64 {
    stderr
        .lines()
        .rev()
        .find_map(|l| {
            let i = l.rfind(" samples)")?;
            l[..i].rsplit('(').next()?.trim().parse().ok()
        })
        .unwrap_or(0)
}

/// Collapses `perf script` output (inferno's perf collapser).
pub fn collapse(script: &[u8]) -> std::io::Result<Collapsed> {
    use inferno::collapse::Collapse;
    let mut opt = inferno::collapse::perf::Options::default();
    opt.include_pid = true;
    opt.annotate_kernel = true;
    opt.nthreads = 1;
    let mut folder = inferno::collapse::perf::Folder::from(opt);
    let mut out = Vec::new();
    folder.collapse(script, &mut out)?;
    let text = String::from_utf8_lossy(&out);
    Ok(Collapsed { lines: text.lines().map(str::to_string).collect(), samples: 0 })
}

/// Draws the flame graph of `c` as an SVG at `path`.
pub fn flame_graph(c: &Collapsed, title: &str, path: &Path) -> Result<(), String> {
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = "ns".into();
    let mut svg = Vec::new();
    inferno::flamegraph::from_lines(&mut opt, c.lines.iter().map(String::as_str), &mut svg)
        .map_err(|e| format!("drawing the flame graph: {e}"))?;
    std::fs::write(path, svg).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// A file-name-safe form of a path label: `classic recvmmsg 1×` → `classic-recvmmsg-1x`.
pub fn slug(label: &str) -> String {
    let mut s = String::new();
    for ch in label.chars() {
        match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' => s.push(ch),
            '×' => s.push('x'),
            '+' => {}
            _ if !s.ends_with('-') && !s.is_empty() => s.push('-'),
            _ => {}
        }
    }
    s.trim_end_matches('-').to_string()
}

/// A side-by-side table of several profiles: one row per category, one column per path,
/// `share% · ns/dgram` in each cell.
pub fn side_by_side(paths: &[(String, &ProfileTable)], markdown: bool) -> String {
    let mut headers = vec!["category".to_string()];
    headers.extend(paths.iter().map(|(l, _)| l.clone()));
    let cats: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| paths.iter().any(|(_, t)| t.shares.iter().any(|s| s.category == *c)))
        .collect();
    let cell = |t: &ProfileTable, c: Category| -> String {
        match t.shares.iter().find(|s| s.category == c) {
            None => "-".into(),
            Some(s) => match s.ns_per_dgram {
                Some(n) if !c.is_idle() => format!("{:.1}% · {n:.0} ns", s.percent),
                _ => format!("{:.1}%", s.percent),
            },
        }
    };
    let mut rows: Vec<Vec<String>> = cats
        .iter()
        .map(|c| {
            let mut r = vec![c.label().to_string()];
            r.extend(paths.iter().map(|(_, t)| cell(t, *c)));
            r
        })
        .collect();
    let mut busy = vec!["busy (all but idle)".to_string()];
    for (_, t) in paths {
        let pct: f64 = t.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.percent).sum();
        let ns: u64 = t.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.ns).sum();
        busy.push(if t.received > 0 {
            format!("{pct:.1}% · {:.0} ns", ns as f64 / t.received as f64)
        } else {
            format!("{pct:.1}%")
        });
    }
    rows.push(busy);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = crate::text::table(&h, &rows, markdown);
    let mut tops = String::new();
    for (l, t) in paths {
        if !t.other_top.is_empty() {
            let list: Vec<String> = t
                .other_top
                .iter()
                .map(|(f, ns)| format!("{f} {:.1}%", *ns as f64 * 100.0 / t.total_ns.max(1) as f64))
                .collect();
            let bullet = if markdown { "- " } else { "" };
            let _ = writeln!(tops, "{bullet}other kernel, {l}: {}", list.join(", "));
        }
    }
    if !tops.is_empty() {
        out.push('\n');
        out.push_str(&tops);
    }
    out
}

/// Seconds of the profiled trial at least (more samples than a short curve trial gives).
pub const PROFILE_SECS: f64 = 2.0;

impl ProfileRun {
    /// The tables side by side (Markdown or terminal), with the reason when there are none.
    pub fn render(&self, markdown: bool) -> String {
        let mut out = String::new();
        if let Some(why) = &self.unavailable {
            let _ = writeln!(out, "profile: not sampled: {why}");
            return out;
        }
        let tables: Vec<(String, &ProfileTable)> = self
            .paths
            .iter()
            .filter_map(|p| p.table.as_ref().map(|t| (p.label.clone(), t)))
            .collect();
        if !tables.is_empty() {
            out.push_str(&side_by_side(&tables, markdown));
        }
        if markdown {
            out.push('\n');
        }
        for p in &self.paths {
            let rate = p
                .rate
                .map_or("unpaced".to_string(), |r| format!("{} pps", crate::text::kpps(r as f64)));
            match (&p.table, &p.error) {
                (Some(t), _) => {
                    let _ = writeln!(
                        out,
                        "{}{}: {rate} offered, {:.2} s sampled on cores {:?}, {} samples{}{}{}",
                        if markdown { "- " } else { "" },
                        p.label,
                        t.window_s,
                        t.cpus,
                        t.samples,
                        p.rx_pps.map_or(String::new(), |r| format!(
                            ", received {} pps",
                            crate::text::kpps(r)
                        )),
                        p.svg.as_ref().map_or(String::new(), |f| {
                            if markdown {
                                format!(", [flame graph]({f})")
                            } else {
                                format!(", flame graph {f}")
                            }
                        }),
                        if t.notes.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", t.notes.join("; "))
                        }
                    );
                }
                (None, e) => {
                    let _ = writeln!(
                        out,
                        "{}{}: not profiled: {}",
                        if markdown { "- " } else { "" },
                        p.label,
                        e.as_deref().unwrap_or("no result")
                    );
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "{}note: {n}", if markdown { "- " } else { "" });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                        &[
                            "__skb_recv_udp",
                            "_raw_spin_lock_bh",
                            "native_queued_spin_lock_slowpath",
                        ],
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
                own(
                    RECV_USER,
                    &with(SYSCALL, &["consume_skb", "skb_release_data", "kmem_cache_free"]),
                ),
                Category::SkbMemory,
            ),
            // Syscall entry/exit.
            (
                own(
                    RECV_USER,
                    &[
                        "entry_SYSCALL_64_after_hwframe",
                        "do_syscall_64",
                        "syscall_exit_to_user_mode",
                    ],
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
                        &with(
                            SOFTIRQ_TO_UDP,
                            &["_raw_spin_lock", "native_queued_spin_lock_slowpath"],
                        ),
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
                    &with(
                        IDLE,
                        &with(&SOFTIRQ_TO_UDP[..8], &["skb_defer_free_flush", "kfree_skbmem"]),
                    ),
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
                    &[
                        "entry_SYSCALL_64_after_hwframe",
                        "do_syscall_64",
                        "__x64_sys_io_uring_enter",
                    ],
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
        let loop_ = &[
            "_start",
            "udprx::engine::Receiver::run::{{closure}}",
            "udprx::method::recvmmsg::run",
        ];
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
}
