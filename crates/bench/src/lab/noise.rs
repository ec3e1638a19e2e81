//! Noise of a measurement trial: what, besides the traffic, took the receiver's CPUs away.
//!
//! Three counters, sampled from another thread just before the flood starts and just after it
//! ends, while the receive threads are alive:
//! - **steal** (`/proc/stat`, 8th value of each `cpuN` line): time the hypervisor ran someone
//!   else while this VM's CPU wanted to run;
//! - **involuntary context switches** of each receive thread (`nonvoluntary_ctxt_switches` in
//!   `/proc/self/task/TID/status`): the thread was runnable and got preempted;
//! - **migrations** of each receive thread (`se.nr_migrations` in `/proc/self/task/TID/sched`,
//!   only with `CONFIG_SCHED_DEBUG`): the receive threads are pinned, so any migration means the
//!   pinning failed or a CPU went away.
//!
//! The receive threads are found by name: the engine names them `udprx-0`, `udprx-1`, …
//! (`std::thread::Builder::name` in [`udprx::engine`]). Nothing else in the process matches:
//! the sender's threads are `udpflood-N`, the control server's `udpctl-*`, unnamed threads carry
//! their creator's name (the binary's, `udprx`, or a test binary's `udprx-<hash>`, whose nine
//! hash characters exceed the six digits [`is_receiver_thread`] accepts), and io_uring's kernel
//! workers are `iou-wrk-N`.
//!
//! [`trial_noise`] turns two samples into a [`TrialNoise`], and [`TrialNoise::disturbed`] says
//! whether it exceeds the [`Thresholds`], so the trial can be flagged and repeated.

pub use crate::model::noise::{Thresholds, TrialNoise};
use std::collections::HashMap;

/// Noise counters read at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NoiseSample {
    /// Steal ticks (USER_HZ) per CPU, indexed by CPU number (`/proc/stat`, 8th value of the
    /// `cpuN` lines; 0 for CPUs without a line or kernels without the column).
    pub steal_ticks: Vec<u64>,
    /// The matching threads of this process, ordered by tid.
    pub threads: Vec<ThreadNoise>,
}

/// One thread's scheduling counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNoise {
    /// Kernel thread id.
    pub tid: u32,
    /// The thread's name (`comm`, at most 15 bytes).
    pub name: String,
    /// Involuntary context switches so far (`nonvoluntary_ctxt_switches` from
    /// `/proc/self/task/TID/status`).
    pub involuntary: u64,
    /// CPU migrations so far (`se.nr_migrations` from `/proc/self/task/TID/sched`); `None` when
    /// that file or line is missing (kernel without `CONFIG_SCHED_DEBUG`).
    pub migrations: Option<u64>,
}

/// True for a receive thread's name: `udprx-` followed by one to six decimal digits.
///
/// The digit limit keeps out a test binary's main thread (`udprx-<hash>` cut to 15 bytes leaves
/// nine hash characters, which may all be decimal) while allowing any real socket count.
pub fn is_receiver_thread(name: &str) -> bool {
    name.strip_prefix("udprx-")
        .is_some_and(|d| (1..=6).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

impl NoiseSample {
    /// Reads `/proc/stat` and every task of this process whose name matches `udprx-<digits>`
    /// (see [`is_receiver_thread`]).
    pub fn read() -> NoiseSample {
        NoiseSample::read_matching(&is_receiver_thread)
    }

    /// Reads `/proc/stat` and every task of this process whose name satisfies `pred`.
    ///
    /// A thread that exits while being read is left out; unreadable files give empty values.
    pub fn read_matching(pred: &dyn Fn(&str) -> bool) -> NoiseSample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut threads = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for entry in dir.flatten() {
                let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let path = entry.path();
                let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
                let name = comm.trim_end_matches('\n');
                if !pred(name) {
                    continue;
                }
                let Some(involuntary) = std::fs::read_to_string(path.join("status"))
                    .ok()
                    .as_deref()
                    .and_then(parse_involuntary)
                else {
                    continue;
                };
                let migrations = std::fs::read_to_string(path.join("sched"))
                    .ok()
                    .as_deref()
                    .and_then(parse_migrations);
                threads.push(ThreadNoise { tid, name: name.to_string(), involuntary, migrations });
            }
        }
        threads.sort_by_key(|t| t.tid);
        NoiseSample { steal_ticks: parse_steal(&stat), threads }
    }
}

/// The noise between `before` and `after`, taken `window_s` seconds apart.
///
/// Steal is summed over `cpus` (deduplicated; CPUs missing from either sample are skipped; an
/// empty list means every CPU in both samples). Threads are matched by tid; a tid whose name
/// changed is a reused id of a different thread and is skipped, as are threads present in only
/// one sample. Counters that went backwards count as zero. A window of zero or less (or not
/// finite) gives a steal share of 0.
pub fn trial_noise(
    before: &NoiseSample,
    after: &NoiseSample,
    cpus: &[usize],
    window_s: f64,
) -> TrialNoise {
    let common = before.steal_ticks.len().min(after.steal_ticks.len());
    let mut cpus: Vec<usize> = if cpus.is_empty() { (0..common).collect() } else { cpus.to_vec() };
    cpus.sort_unstable();
    cpus.dedup();
    cpus.retain(|&c| c < common);
    let ticks: u64 =
        cpus.iter().map(|&c| after.steal_ticks[c].saturating_sub(before.steal_ticks[c])).sum();
    let hz = u128::from(crate::lab::sys::clock_ticks_per_sec().max(1));
    let steal_ns = u64::try_from(u128::from(ticks) * 1_000_000_000 / hz).unwrap_or(u64::MAX);
    let steal_share = if window_s.is_finite() && window_s > 0.0 && !cpus.is_empty() {
        steal_ns as f64 / (window_s * 1e9 * cpus.len() as f64)
    } else {
        0.0
    };

    let earlier: HashMap<u32, &ThreadNoise> = before.threads.iter().map(|t| (t.tid, t)).collect();
    let mut involuntary = 0u64;
    let mut migrations: Option<u64> = None;
    for a in &after.threads {
        let Some(b) = earlier.get(&a.tid).filter(|b| b.name == a.name) else { continue };
        involuntary = involuntary.saturating_add(a.involuntary.saturating_sub(b.involuntary));
        if let (Some(ma), Some(mb)) = (a.migrations, b.migrations) {
            migrations = Some(migrations.unwrap_or(0).saturating_add(ma.saturating_sub(mb)));
        }
    }
    TrialNoise { steal_ns, steal_share, involuntary, migrations, window_s }
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { max_steal_share: 0.02, max_involuntary_per_s: 400.0, max_migrations: 0 }
    }
}

impl TrialNoise {
    /// Involuntary context switches per second of the window (a window of zero or less counts
    /// as one second).
    pub fn involuntary_per_s(&self) -> f64 {
        let w = if self.window_s.is_finite() && self.window_s > 0.0 { self.window_s } else { 1.0 };
        self.involuntary as f64 / w
    }

    /// `None` when within the thresholds, else a short human reason, e.g. `steal 4.1% of the
    /// receiver's cores` or `37 migrations of pinned receive threads` (several joined by `; `).
    pub fn disturbed(&self, t: &Thresholds) -> Option<String> {
        let mut reasons: Vec<String> = Vec::new();
        if self.steal_share > t.max_steal_share {
            reasons.push(format!("steal {:.1}% of the receiver's cores", self.steal_share * 100.0));
        }
        let rate = self.involuntary_per_s();
        if rate > t.max_involuntary_per_s {
            reasons.push(format!(
                "{} involuntary context switches of receive threads ({rate:.0}/s)",
                self.involuntary
            ));
        }
        if let Some(m) = self.migrations
            && m > t.max_migrations
        {
            reasons.push(if m == 1 {
                "1 migration of a pinned receive thread".to_string()
            } else {
                format!("{m} migrations of pinned receive threads")
            });
        }
        if reasons.is_empty() { None } else { Some(reasons.join("; ")) }
    }
}

/// The steal column (8th value) of each `cpuN` line of `/proc/stat`, indexed by N.
///
/// CPUs without a line (offline) read 0, as do lines with fewer columns (kernels before 2.6.11)
/// or unparsable values; the aggregate `cpu` line is ignored.
pub fn parse_steal(stat_text: &str) -> Vec<u64> {
    // user nice system idle iowait irq softirq steal
    crate::lab::procfs::parse_stat_column(stat_text, 7)
}

/// Value of the `key: value` line named `key` in a `/proc` text.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// `nonvoluntary_ctxt_switches` from `/proc/PID/task/TID/status`.
pub fn parse_involuntary(status_text: &str) -> Option<u64> {
    field(status_text, "nonvoluntary_ctxt_switches")?.parse().ok()
}

/// `se.nr_migrations` from `/proc/PID/task/TID/sched`.
pub fn parse_migrations(sched_text: &str) -> Option<u64> {
    field(sched_text, "se.nr_migrations")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier, mpsc};
    use std::time::{Duration, Instant};

    const STAT: &str = "\
cpu  33086 0 2839 46626 111 0 18 17 0 0
cpu0 16416 0 1282 23614 19 0 4 7 0 0
cpu1 16670 0 1557 23011 92 0 14 9 0 0
intr 192869 0 0 0
ctxt 523456
";

    const STATUS: &str = "\
Name:\tudprx-0
State:\tS (sleeping)
Tgid:\t4242
Pid:\t4243
voluntary_ctxt_switches:\t50609
nonvoluntary_ctxt_switches:\t20
";

    const SCHED: &str = "\
udprx-0 (4243, #threads: 4)
-------------------------------------------------------------------
se.exec_start                                :        414766.328028
se.vruntime                                  :            66.437182
se.sum_exec_runtime                          :             0.142733
se.nr_migrations                             :                    3
nr_switches                                  :                   10
nr_voluntary_switches                        :                    9
nr_involuntary_switches                      :                    1
";

    fn thread(tid: u32, name: &str, involuntary: u64, migrations: Option<u64>) -> ThreadNoise {
        ThreadNoise { tid, name: name.to_string(), involuntary, migrations }
    }

    fn ns_of_ticks(ticks: u64) -> u64 {
        ticks * 1_000_000_000 / clock_ticks()
    }

    fn clock_ticks() -> u64 {
        crate::lab::sys::clock_ticks_per_sec()
    }

    #[test]
    fn parse_steal_reads_the_eighth_value_per_cpu() {
        assert_eq!(parse_steal(STAT), vec![7, 9]);
        assert_eq!(parse_steal(""), Vec::<u64>::new());
    }

    #[test]
    fn parse_steal_short_lines_gaps_and_garbage() {
        // An old kernel without the steal column, an offline cpu1, a garbage value.
        let old = "cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\ncpu2 1 2 3 4 5 6 7 5\ncpu3 1 2 3 4 5 6 7 x 0\n";
        assert_eq!(parse_steal(old), vec![0, 0, 5, 0]);
        // Lines that only look like CPU lines are ignored.
        assert_eq!(parse_steal("cpufreq 1 2 3 4 5 6 7 8\ncpu\n"), Vec::<u64>::new());
    }

    #[test]
    fn parse_involuntary_takes_the_nonvoluntary_line() {
        assert_eq!(parse_involuntary(STATUS), Some(20));
        assert_eq!(parse_involuntary("voluntary_ctxt_switches:\t5\n"), None);
        assert_eq!(parse_involuntary("nonvoluntary_ctxt_switches:\tmany\n"), None);
        assert_eq!(parse_involuntary(""), None);
    }

    #[test]
    fn parse_migrations_takes_se_nr_migrations() {
        assert_eq!(parse_migrations(SCHED), Some(3));
        assert_eq!(parse_migrations("nr_switches : 10\n"), None);
        assert_eq!(parse_migrations(""), None);
    }

    #[test]
    fn receiver_thread_names() {
        for yes in ["udprx-0", "udprx-1", "udprx-12", "udprx-999999"] {
            assert!(is_receiver_thread(yes), "{yes}");
        }
        for no in [
            "udprx",
            "udprx-",
            "udprx-a",
            "udprx-1x",
            "udprx-0b037e0e2", // a test binary's main thread
            "udprx-123456789", // the same, all-decimal hash
            "udpflood-0",
            "udpctl-conn",
            "iou-wrk-4243",
            "xudprx-1",
        ] {
            assert!(!is_receiver_thread(no), "{no}");
        }
    }

    #[test]
    fn trial_noise_steal_on_the_given_cpus() {
        let hz = clock_ticks();
        let before = NoiseSample { steal_ticks: vec![10, 20, 30], threads: vec![] };
        let after = NoiseSample { steal_ticks: vec![10 + hz, 20 + 3 * hz, 30], threads: vec![] };
        // CPU 1 only: 3 s stolen in a 10 s window.
        let n = trial_noise(&before, &after, &[1], 10.0);
        assert_eq!(n.steal_ns, 3_000_000_000);
        assert!((n.steal_share - 0.3).abs() < 1e-12, "{}", n.steal_share);
        assert_eq!(n.window_s, 10.0);
        // Duplicates count once; CPU 7 is in neither sample and is skipped.
        let n = trial_noise(&before, &after, &[2, 1, 1, 7], 10.0);
        assert_eq!(n.steal_ns, 3_000_000_000);
        assert!((n.steal_share - 0.15).abs() < 1e-12, "{}", n.steal_share);
        // No list: every CPU.
        let n = trial_noise(&before, &after, &[], 2.0);
        assert_eq!(n.steal_ns, 4_000_000_000);
        assert!((n.steal_share - 4.0 / 6.0).abs() < 1e-12, "{}", n.steal_share);
        // One tick.
        let one = NoiseSample { steal_ticks: vec![11, 20, 30], threads: vec![] };
        assert_eq!(trial_noise(&before, &one, &[0], 1.0).steal_ns, ns_of_ticks(1));
        // A zero window, a counter that went backwards, no samples at all.
        assert_eq!(trial_noise(&before, &after, &[0], 0.0).steal_share, 0.0);
        assert_eq!(trial_noise(&after, &before, &[0, 1], 1.0).steal_ns, 0);
        let empty = NoiseSample::default();
        assert_eq!(
            trial_noise(&empty, &empty, &[0, 1], 1.0),
            TrialNoise { window_s: 1.0, ..TrialNoise::default() }
        );
    }

    #[test]
    fn trial_noise_threads_match_by_tid() {
        let before = NoiseSample {
            steal_ticks: vec![0, 0],
            threads: vec![
                thread(100, "udprx-0", 5, Some(1)),
                thread(101, "udprx-1", 7, Some(0)),
                thread(102, "udprx-2", 1_000, Some(50)), // exits before `after`
                thread(103, "udprx-3", 900, Some(9)),    // its tid is reused by another thread
            ],
        };
        let after = NoiseSample {
            steal_ticks: vec![0, 0],
            threads: vec![
                thread(101, "udprx-1", 17, Some(2)), // order differs from `before`
                thread(100, "udprx-0", 8, Some(1)),
                thread(103, "udprx-9", 3, Some(0)),
                thread(104, "udprx-4", 500, Some(40)), // new since `before`
            ],
        };
        let n = trial_noise(&before, &after, &[0], 0.5);
        assert_eq!(n.involuntary, 3 + 10);
        assert_eq!(n.migrations, Some(2));
        assert_eq!(n.steal_ns, 0);
        assert_eq!(n.steal_share, 0.0);
        assert_eq!(n.window_s, 0.5);
    }

    #[test]
    fn trial_noise_migrations_unknown_without_sched_files() {
        let before = NoiseSample {
            steal_ticks: vec![],
            threads: vec![thread(1, "udprx-0", 1, None), thread(2, "udprx-1", 1, None)],
        };
        let after = NoiseSample {
            steal_ticks: vec![],
            threads: vec![thread(1, "udprx-0", 4, None), thread(2, "udprx-1", 2, Some(3))],
        };
        let n = trial_noise(&before, &after, &[], 1.0);
        assert_eq!(n.involuntary, 4);
        assert_eq!(n.migrations, None);
        // Counters that went backwards count as zero.
        let n = trial_noise(&after, &before, &[], 1.0);
        assert_eq!(n.involuntary, 0);
        // No common thread: nothing known about migrations.
        let n = trial_noise(&NoiseSample::default(), &after, &[], 1.0);
        assert_eq!((n.involuntary, n.migrations), (0, None));
    }

    fn quiet() -> TrialNoise {
        TrialNoise {
            steal_ns: 10_000_000,
            steal_share: 0.01,
            involuntary: 150,
            migrations: Some(0),
            window_s: 1.0,
        }
    }

    #[test]
    fn thresholds_defaults() {
        let t = Thresholds::default();
        assert_eq!(t.max_steal_share, 0.02);
        assert_eq!(t.max_involuntary_per_s, 400.0);
        assert_eq!(t.max_migrations, 0);
    }

    #[test]
    fn disturbed_is_none_when_quiet() {
        let t = Thresholds::default();
        assert_eq!(quiet().disturbed(&t), None);
        assert_eq!(TrialNoise::default().disturbed(&t), None);
        // Exactly at a threshold is still quiet; unknown migrations are not a disturbance.
        let edge = TrialNoise {
            steal_share: 0.02,
            involuntary: 800,
            migrations: None,
            window_s: 2.0,
            ..quiet()
        };
        assert_eq!(edge.disturbed(&t), None);
    }

    #[test]
    fn disturbed_gives_a_reason_per_threshold() {
        let t = Thresholds::default();
        let steal = TrialNoise { steal_share: 0.041, ..quiet() };
        assert_eq!(steal.disturbed(&t).as_deref(), Some("steal 4.1% of the receiver's cores"));

        let preempted = TrialNoise { involuntary: 1_200, window_s: 2.0, ..quiet() };
        assert_eq!(
            preempted.disturbed(&t).as_deref(),
            Some("1200 involuntary context switches of receive threads (600/s)")
        );
        // The same count in a longer window is within the rate.
        assert_eq!(TrialNoise { window_s: 3.0, ..preempted }.disturbed(&t), None);

        let moved = TrialNoise { migrations: Some(37), ..quiet() };
        assert_eq!(moved.disturbed(&t).as_deref(), Some("37 migrations of pinned receive threads"));
        let once = TrialNoise { migrations: Some(1), ..quiet() };
        assert_eq!(once.disturbed(&t).as_deref(), Some("1 migration of a pinned receive thread"));
        let lenient = Thresholds { max_migrations: 5, ..t };
        assert_eq!(moved.disturbed(&lenient).as_deref().map(|s| s.contains("37")), Some(true));
        assert_eq!(once.disturbed(&lenient), None);

        let all = TrialNoise {
            steal_ns: 0,
            steal_share: 0.5,
            involuntary: 1_000,
            migrations: Some(2),
            window_s: 0.0,
        };
        let reason = all.disturbed(&t).expect("disturbed");
        assert_eq!(
            reason,
            "steal 50.0% of the receiver's cores; 1000 involuntary context switches of receive \
             threads (1000/s); 2 migrations of pinned receive threads"
        );
    }

    #[test]
    fn trial_noise_and_thresholds_round_trip_through_json() {
        let n = quiet();
        let back: TrialNoise = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
        let t = Thresholds::default();
        let back: Thresholds = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
    }

    /// The calling thread's tid, from the `/proc/thread-self` link (`PID/task/TID`).
    fn own_tid() -> u32 {
        let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        link.file_name().and_then(|s| s.to_str()).and_then(|s| s.parse().ok()).expect("tid")
    }

    #[test]
    fn live_sample_finds_named_threads() {
        const N: usize = 2;
        let ready = Arc::new(Barrier::new(N + 1));
        let (tid_tx, tid_rx) = mpsc::channel();
        let mut stops = Vec::new();
        let mut handles = Vec::new();
        for i in 0..N {
            let ready = Arc::clone(&ready);
            let tid_tx = tid_tx.clone();
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            stops.push(stop_tx);
            let h = std::thread::Builder::new()
                .name(format!("noise-t-{i}"))
                .spawn(move || {
                    tid_tx.send(own_tid()).unwrap();
                    // Busy a little, then block: both kinds of switches happen.
                    let end = Instant::now() + Duration::from_millis(30);
                    let mut x = 0u64;
                    while Instant::now() < end {
                        x = std::hint::black_box(x.wrapping_add(1));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    ready.wait();
                    let _ = stop_rx.recv();
                    x
                })
                .unwrap();
            handles.push(h);
        }
        drop(tid_tx);
        let mut tids: Vec<u32> = tid_rx.iter().take(N).collect();
        tids.sort_unstable();
        ready.wait();

        let is_ours = |n: &str| n.starts_with("noise-t-");
        let before = NoiseSample::read_matching(&is_ours);
        std::thread::sleep(Duration::from_millis(20));
        let after = NoiseSample::read_matching(&is_ours);
        drop(stops);
        for h in handles {
            h.join().unwrap();
        }

        assert!(!before.steal_ticks.is_empty(), "no cpuN lines in /proc/stat");
        for s in [&before, &after] {
            let found: Vec<u32> = s.threads.iter().map(|t| t.tid).collect();
            assert_eq!(found, tids, "{s:?}");
            for t in &s.threads {
                assert!(is_ours(&t.name), "{t:?}");
                assert!(t.involuntary < 1_000_000, "{t:?}");
                let sched = format!("/proc/self/task/{}/sched", t.tid);
                if std::path::Path::new(&sched).exists() {
                    assert!(t.migrations.is_some_and(|m| m < 1_000_000), "{t:?}");
                }
            }
        }
        // The threads were blocked between the samples: counters only grow, and barely.
        let n = trial_noise(&before, &after, &[], 0.02);
        assert!(n.involuntary < 100, "{n:?}");
        for (b, a) in before.threads.iter().zip(&after.threads) {
            assert!(a.involuntary >= b.involuntary, "{b:?} -> {a:?}");
        }
        assert_eq!(after.steal_ticks.len(), before.steal_ticks.len());
    }

    #[test]
    fn read_finds_no_receiver_thread_when_none_runs() {
        // Decoys with names near the pattern, alive while the sample is read.
        let ready = Arc::new(Barrier::new(3));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let stop_rx = Arc::new(std::sync::Mutex::new(stop_rx));
        let decoys: Vec<_> = ["udpflood-0", "udprx-test"]
            .into_iter()
            .map(|name| {
                let ready = Arc::clone(&ready);
                let stop_rx = Arc::clone(&stop_rx);
                std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn(move || {
                        ready.wait();
                        let _ = stop_rx.lock().map(|rx| rx.recv());
                    })
                    .unwrap()
            })
            .collect();
        ready.wait();
        let s = NoiseSample::read();
        drop(stop_tx);
        for d in decoys {
            d.join().unwrap();
        }
        assert!(s.threads.is_empty(), "{:?}", s.threads);
        assert!(!s.steal_ticks.is_empty());
    }
}
