//! Bounds of the `udprx` command line (issue 13): sizes and intervals refused with a one-line
//! reason and exit 2 before anything runs, a nanosecond interval no longer runs away, runs end
//! in time when flooded, `--json` fails up front, and `merge` refuses oversized or implausible
//! input and saturates its totals.
//!
//! Every child runs under a wall-clock limit (killed past it) and, where memory is the risk,
//! an address-space cap (RLIMIT_AS), so a regression fails the test instead of the machine.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Address-space cap for children that used to grow without bound.
const AS_CAP: u64 = 1 << 30;

fn udprx() -> Command {
    Command::new(env!("CARGO_BIN_EXE_udprx"))
}

/// `cmd` with its address space capped at `bytes`.
fn capped(mut cmd: Command, bytes: u64) -> Command {
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit(2)
    // (async-signal-safe) on a value on its stack.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Waits for `child` at most `limit`; kills it past that. Returns its output and whether it
/// ended by itself in time.
fn wait_bounded(mut child: Child, limit: Duration) -> (Output, bool) {
    let t0 = Instant::now();
    let mut in_time = true;
    while child.try_wait().expect("try_wait").is_none() {
        if t0.elapsed() > limit {
            in_time = false;
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("wait"), in_time)
}

fn run_bounded(mut cmd: Command, limit: Duration) -> (Output, bool) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn udprx");
    wait_bounded(child, limit)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("udprx-bounds-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_usage(args: &[&str], out: &Output, in_time: bool) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(in_time, "{args:?}: still running: {err}");
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: one-line reason, got {err}");
    assert!(err.starts_with("udprx: "), "{args:?}: {err}");
    for raw in ["panicked", "os error", "EINVAL", "Invalid argument"] {
        assert!(!err.contains(raw), "{args:?}: {err}");
    }
}

#[test]
fn out_of_bounds_arguments_exit_2_with_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--interval", "1ns"], "--interval"),
        (&["--interval", "9ms"], "--interval"),
        (&["--interval", "2h"], "--interval"),
        (&["--steer", "cpu", "--sockets", "1"], "--sockets 2"),
        (&["--steer", "cpu"], "--sockets 2"),
        (&["--batch", "0"], "--batch"),
        (&["--batch", "5000"], "--batch"),
        (&["--method", "recvmmsg", "--ring-buffers", "65536"], "--ring-buffers"),
        (&["--buffer-size", "0"], "--buffer-size"),
        (&["--buffer-size", "2000000"], "--buffer-size"),
        (&["--sockets", "2000"], "--sockets"),
        (&["--rcvbuf", "2G"], "--rcvbuf"),
        (&["--flow-budget", "0"], "--flow-budget"),
        (&["--flow-budget", "1048577"], "--flow-budget"),
        (&["--flow-budget", "18446744073709551615"], "--flow-budget"),
        // Control messages per datagram need a method that reads them.
        (&["--method", "uring-recv", "--gro"], "use uring (recvmsg)"),
        (&["--method", "epoll", "--busy-poll-budget", "70000"], "--busy-poll-budget"),
        // Issue 25 weak spots: said, not silently ignored.
        (&["--method", "recvmmsg", "--iface", "lo"], "--iface applies to --method xdp"),
        (&["--force"], "--force applies to --method xdp"),
        // The whole reason, not clap's first line alone (issue 25 row 7).
        (&["--profile-freq", "100"], "not provided: --profile"),
        (&["--method", "xdp", "--drops-per-datagram", "--gro"], "--gro"),
        // 32768 buffers of 1 MiB: 32 GiB of ring for one socket.
        (&["--ring-buffers", "32768", "--buffer-size", "1048576"], "MiB"),
        // 1024 sockets × 1024 × 4 KiB: 4 GiB of recvmmsg arenas.
        (
            &[
                "--method",
                "recvmmsg",
                "--sockets",
                "1024",
                "--batch",
                "1024",
                "--buffer-size",
                "4096",
            ],
            "MiB",
        ),
    ];
    for (args, says) in cases {
        let mut cmd = capped(udprx(), AS_CAP);
        cmd.args(["--bind", "127.0.0.1:0", "--duration", "300ms"]).args(*args);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
        assert_usage(args, &out, in_time);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: expected '{says}' in {err}");
    }
    // `udprx serve`: its own caps, refused before it listens.
    let serve_cases: &[(&[&str], &str)] = &[
        (&["--flow-budget", "0"], "--flow-budget"),
        (&["--flow-budget", "1048577"], "--flow-budget"),
        (&["--max-connections", "0"], "--max-connections"),
        // A file without end: read up to a cap, then refused (issue 25 row 9).
        (&["--token-file", "/dev/zero"], "--token-file"),
    ];
    for (args, says) in serve_cases {
        let mut cmd = capped(udprx(), AS_CAP);
        cmd.args(["serve", "--control", "127.0.0.1:0"]).args(*args);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
        assert_usage(args, &out, in_time);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "serve {args:?}: expected '{says}' in {err}");
    }
    // Multicast and broadcast binds receive nothing without a group join: refused.
    for bind in ["224.0.0.1:0", "255.255.255.255:0", "[ff02::1]:0"] {
        let mut cmd = capped(udprx(), AS_CAP);
        cmd.args(["--bind", bind, "--duration", "300ms"]);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
        assert_usage(&[bind], &out, in_time);
        assert!(String::from_utf8_lossy(&out.stderr).contains("multicast or broadcast"), "{bind}");
    }
    // A zero duration is refused like udpflood's `-t 0`, not run for an idle tick.
    let mut cmd = capped(udprx(), AS_CAP);
    cmd.args(["--bind", "127.0.0.1:0", "--duration", "0"]);
    let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
    assert_usage(&["--duration", "0"], &out, in_time);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration must be above 0"));
    // Size suffixes as on the other size flags.
    let mut cmd = capped(udprx(), AS_CAP);
    cmd.args(["--bind", "127.0.0.1:0", "--duration", "200ms", "--buffer-size", "4K"]);
    let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
    assert!(in_time && out.status.success(), "--buffer-size 4K: {out:?}");
    // `udprx bench`: bad values refused before anything is set up.
    let bench_cases: &[(&[&str], &str)] = &[
        (&["--settings", "/dev/zero"], "--settings"),
        // Used to panic in the argument parser, whatever the value (issue 25 row 6).
        (&["--receiver-cpus", "99999"], "core 99999 is not usable"),
        (&["--sender-cpus", "99999"], "core 99999 is not usable"),
        (&["--receiver-cpus", "x"], "--receiver-cpus"),
        (&["--sockets", "100000"], "--sockets must be at most 1024"),
    ];
    for (args, says) in bench_cases {
        let out_dir = temp_dir("bench-args");
        let mut cmd = capped(udprx(), AS_CAP);
        cmd.arg("bench").arg("--out").arg(&out_dir).args(*args);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(20));
        assert_usage(args, &out, in_time);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "bench {args:?}: expected '{says}' in {err}");
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    // `udpflood`: the same for its file arguments.
    let flood_cases: &[(&[&str], &str)] = &[
        (&["--server", "127.0.0.1:9", "--token-file", "/dev/zero"], "--token-file"),
        (&["--token", "x"], "not provided: --server"),
    ];
    for (args, says) in flood_cases {
        let mut cmd = capped(Command::new(env!("CARGO_BIN_EXE_udpflood")), AS_CAP);
        cmd.args(["127.0.0.1:9", "-t", "1s"]).args(*args);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(in_time, "udpflood {args:?}: still running: {err}");
        assert_eq!(out.status.code(), Some(2), "udpflood {args:?}: {out:?}");
        assert_eq!(err.trim().lines().count(), 1, "udpflood {args:?}: {err}");
        assert!(err.contains(says), "udpflood {args:?}: expected '{says}' in {err}");
    }
}

#[test]
fn more_flows_than_the_budget_stay_within_a_memory_cap() {
    // Issue 13, bug 2's shape on the CLI: 300 source ports × 256 flow ids (76,800 flows, one
    // datagram each) at a run with the default budget (65,536) and two sockets, under a 1 GiB
    // address-space cap: the run ends on time, tracks at most the budget, counts the rest, and
    // its report stays small enough for `udprx merge` to read back.
    const PORTS: usize = 300;
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let dir = temp_dir("many-flows");
    let json = dir.join("r.json");
    let mut cmd = capped(udprx(), AS_CAP);
    // `--sources`: the flows are the senders' source ports (all stamp sender id 0).
    cmd.args(["--bind", &bind, "--method", "recvmmsg", "--sockets", "2", "--rcvbuf", "8M"]);
    cmd.arg("--sources");
    cmd.args(["--duration", "4s", "--interval", "0", "--json"]).arg(&json);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    let dst: SocketAddr = bind.parse().unwrap();
    let t0 = Instant::now();
    // All kept open, so no source port is reused (a reused one would repeat flows).
    let mut senders = Vec::new();
    for _ in 0..PORTS {
        senders.push(common::sender_socket(dst));
        let s = senders.last().unwrap();
        let mut buf = [0u8; 18];
        for flow in 0..=255u8 {
            common::stamp(&mut buf, flow, 0);
            let _ = s.send(&buf);
        }
        std::thread::sleep(Duration::from_micros(500));
        if t0.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let (out, in_time) = wait_bounded(child, Duration::from_secs(15));
    assert!(in_time && out.status.success(), "{out:?}");
    let size = std::fs::metadata(&json).unwrap().len();
    assert!(size < 64 << 20, "report of {size} bytes");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let t = &r["totals"];
    let n = |k: &str| t[k].as_u64().unwrap();
    assert_eq!(n("flow_budget"), 65_536, "{t}");
    assert!(n("flows") <= 65_536, "{t}");
    assert_eq!(r["flows"].as_array().unwrap().len() as u64, n("flows"));
    // One datagram per flow: each is received (tracked) or untracked.
    assert_eq!(n("duplicates"), 0, "{t}");
    assert_eq!(n("received") + n("untracked"), n("datagrams"), "{t}");
    if n("datagrams") > 65_536 {
        assert_eq!(n("flows"), 65_536, "{t}");
        assert!(n("untracked") > 0, "{t}");
    }
    let (out, in_time) = merge(&[&json], &[]);
    assert!(in_time && out.status.success(), "merge reads it back: {out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flow_budget_bounds_the_flows_a_run_tracks() {
    // `--flow-budget 3`: of 6 flows (source ports, read with `--sources`), 3 are tracked, the
    // rest counted untracked.
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let dir = temp_dir("flow-budget");
    let json = dir.join("r.json");
    let mut cmd = capped(udprx(), AS_CAP);
    cmd.args(["--bind", &bind, "--method", "recvmmsg", "--duration", "800ms"]);
    cmd.args(["--flow-budget", "3", "--sources", "--json"]).arg(&json);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(200));
    let dst: SocketAddr = bind.parse().unwrap();
    for _ in 0..6 {
        let s = common::sender_socket(dst);
        let mut buf = [0u8; 18];
        for seq in 0..10 {
            common::stamp(&mut buf, 0, seq);
            s.send(&buf).unwrap();
        }
    }
    let (out, in_time) = wait_bounded(child, Duration::from_secs(10));
    assert!(in_time && out.status.success(), "{out:?}");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let t = &r["totals"];
    assert_eq!(t["flow_budget"], 3, "{t}");
    assert_eq!((t["flows"].as_u64(), t["received"].as_u64()), (Some(3), Some(30)), "{t}");
    assert_eq!(t["untracked"], 30, "{t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_smallest_interval_ends_in_time_with_bounded_memory() {
    // The case ran away (RSS past 10 GB, duration and SIGTERM ignored) at 1 ns; at the
    // smallest accepted interval a run under traffic ends on time within a 1 GiB address space.
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut cmd = capped(udprx(), AS_CAP);
    cmd.args(["--bind", &bind, "--method", "recvmmsg", "--duration", "800ms"]);
    cmd.args(["--interval", "10ms"]);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(200));
    common::join(common::send_flows(bind.parse().unwrap(), 0..2, 300, 18, None));
    let (out, in_time) = wait_bounded(child, Duration::from_secs(10));
    assert!(in_time, "did not end: {out:?}");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Interval"), "{text}");
    assert!(text.contains("datagrams 600 "), "{text}");
    // Lines for 10 ms intervals over 0.8 s: about 80, never one per nanosecond.
    assert!(text.lines().count() < 400, "{} lines", text.lines().count());
}

/// Sends as fast as one socket can to `dst` until `stop` (at most `limit`).
fn flood(dst: SocketAddr, stop: std::sync::Arc<std::sync::atomic::AtomicBool>, limit: Duration) {
    let s = common::sender_socket(dst);
    let mut buf = [0u8; 64];
    let t0 = Instant::now();
    let mut seq = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) && t0.elapsed() < limit {
        for _ in 0..256 {
            common::stamp(&mut buf, 0, seq);
            seq += 1;
            let _ = s.send(&buf);
        }
    }
}

#[test]
fn duration_and_sigterm_are_honoured_under_a_flood() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    for method in ["recvfrom", "recvmmsg", "epoll", "auto"] {
        for by_signal in [false, true] {
            let port = free_port();
            let bind = format!("127.0.0.1:{port}");
            let mut cmd = capped(udprx(), AS_CAP);
            cmd.args(["--bind", &bind, "--method", method, "--interval", "10ms"]);
            if !by_signal {
                cmd.args(["--duration", "700ms"]);
            }
            let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
            let stop = Arc::new(AtomicBool::new(false));
            let dst: SocketAddr = bind.parse().unwrap();
            let st = stop.clone();
            let sender = std::thread::spawn(move || flood(dst, st, Duration::from_secs(15)));
            let t0 = Instant::now();
            if by_signal {
                std::thread::sleep(Duration::from_millis(700));
                // SAFETY: kill(2) on our own child, not yet reaped.
                assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
            }
            let (out, in_time) = wait_bounded(child, Duration::from_secs(8));
            let took = t0.elapsed();
            stop.store(true, Ordering::Relaxed);
            sender.join().unwrap();
            assert!(in_time, "{method} signal={by_signal}: did not end under a flood: {out:?}");
            assert!(out.status.success(), "{method} signal={by_signal}: {out:?}");
            assert!(took < Duration::from_secs(5), "{method} signal={by_signal}: {took:?}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("udprx report"), "{method} signal={by_signal}: {text}");
        }
    }
}

#[test]
fn unwritable_json_path_fails_before_the_run() {
    let dir = temp_dir("json");
    let missing = dir.join("no-such-dir").join("r.json");
    let missing = missing.to_str().unwrap();
    let as_dir = dir.to_str().unwrap();
    for path in [missing, as_dir] {
        let args = ["--bind", "127.0.0.1:0", "--duration", "30s", "--json", path];
        let mut cmd = udprx();
        cmd.args(args);
        let (out, in_time) = run_bounded(cmd, Duration::from_secs(5));
        assert_usage(&args, &out, in_time);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--json") && err.contains(path), "{err}");
    }
    assert!(!Path::new(missing).exists());

    // A writable path gets the report, replacing what the file held.
    let good = dir.join("r.json");
    std::fs::write(&good, "x".repeat(1 << 20)).unwrap();
    let mut cmd = udprx();
    cmd.args(["--bind", "127.0.0.1:0", "--duration", "200ms", "--json"]).arg(&good);
    let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
    assert!(in_time && out.status.success(), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&good).unwrap()).expect("the report, only");
    assert_eq!(v["schema"], "udprx-report/1");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A minimal valid report (a 200 ms run with no traffic), as JSON.
fn sample_report(dir: &Path) -> serde_json::Value {
    let path = dir.join("sample.json");
    let mut cmd = udprx();
    cmd.args(["--bind", "127.0.0.1:0", "--duration", "100ms", "--interval", "0", "--json"]);
    cmd.arg(&path);
    let (out, in_time) = run_bounded(cmd, Duration::from_secs(10));
    assert!(in_time && out.status.success(), "{out:?}");
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn merge(args: &[&Path], extra: &[&str]) -> (Output, bool) {
    let mut cmd = capped(udprx(), AS_CAP);
    cmd.arg("merge").args(args).args(extra);
    run_bounded(cmd, Duration::from_secs(20))
}

#[test]
fn merge_refuses_oversized_and_implausible_input_and_saturates() {
    let dir = temp_dir("merge");
    let base = sample_report(&dir);
    let write = |name: &str, v: &serde_json::Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
        p
    };

    // Above the size limit (a sparse file: no disk used): refused without reading it.
    let huge = dir.join("huge.json");
    std::fs::File::create(&huge).unwrap().set_len(65 << 20).unwrap();
    let (out, in_time) = merge(&[&huge], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(in_time, "{err}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("larger than 67108864 bytes"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Negative elapsed time: refused.
    let mut neg = base.clone();
    neg["elapsed_s"] = serde_json::json!(-5.0);
    let neg = write("neg.json", &neg);
    let (out, _) = merge(&[&neg], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(err.contains("elapsed_s") && err.contains("-5"), "{err}");

    // A forged sent of 2^64 - 1 prints as it is, never as `lost elsewhere -1`.
    let mut forged = base.clone();
    forged["sent"] = serde_json::json!(u64::MAX);
    let forged = write("forged.json", &forged);
    let (out, in_time) = merge(&[&forged], &[]);
    assert!(in_time && out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("lost elsewhere -"), "{text}");
    assert!(text.contains(&format!("lost elsewhere {}", u64::MAX)), "{text}");

    // Totals that would wrap saturate.
    let mut big = base.clone();
    big["sent"] = serde_json::json!(1u64 << 63);
    big["totals"]["datagrams"] = serde_json::json!(u64::MAX - 1);
    big["totals"]["bytes"] = serde_json::json!(u64::MAX - 1);
    big["runs"] = serde_json::json!(u64::MAX);
    let big = write("big.json", &big);
    let (out, in_time) = merge(&[&big, &big], &["--json", "-"]);
    assert!(in_time && out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["sent"].as_u64(), Some(u64::MAX), "{v}");
    assert_eq!(v["totals"]["datagrams"].as_u64(), Some(u64::MAX), "{v}");
    assert_eq!(v["totals"]["bytes"].as_u64(), Some(u64::MAX), "{v}");
    assert_eq!(v["runs"].as_u64(), Some(u64::MAX), "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}
