//! Two-host mode on loopback: the real engine behind the control server, `udpflood` (library or
//! binary) as the client, one combined report that agrees with both sides.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use common::{Need, root_or_skip, skip};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use udpctl::{
    ClientConfig, CombinedReport, RemoteRun, RunRequest, SenderReport, SenderSummary, ServerConfig,
    Session,
};
use udpprobe::{Clock, HEADER_LEN, Repr};
use udprx_cli::control::{EngineExecutor, ExecutorConfig};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udprx-control-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn executor() -> EngineExecutor {
    EngineExecutor::new(ExecutorConfig {
        cpus: Some(Vec::new()), // no pinning: the machine is shared
        rcvbuf: Some(8 << 20),
        ..ExecutorConfig::default()
    })
}

fn server(report: Option<PathBuf>) -> udpctl::ServerHandle {
    let cfg = ServerConfig {
        drain: Duration::from_millis(300),
        report_path: report,
        ..ServerConfig::default()
    };
    udpctl::spawn(TcpListener::bind("127.0.0.1:0").unwrap(), cfg, executor()).unwrap()
}

fn request(method: &str) -> RunRequest {
    RunRequest {
        method: method.into(),
        sockets: 1,
        duration_ms: 1000,
        data_port: 0,
        senders: 1,
        flows: 2,
        run_id: None,
        clock: Clock::Monotonic,
        buffer_size: None,
        flow_budget: None,
    }
}

/// The udpflood library as the client's flood, at a modest rate.
fn flood_lib(
    to: SocketAddr,
    flow_base: u32,
    clock: Clock,
) -> Result<SenderReport, udpflood::Error> {
    let r = udpflood::Flood::builder(to)
        .rate(Some(10_000))
        .count(Some(6_000))
        .flows(2)
        .clock(clock)
        .cpus(None)
        .interval(None)
        .build()?
        .run()?;
    Ok(SenderReport {
        summary: SenderSummary {
            sent: r.packets,
            bytes: r.bytes,
            send_errors: r.errors.total(),
            elapsed_ns: (r.duration_s * 1e9) as u64,
            flows: r.flows.len() as u32,
            flow_base,
            clock: r.clock,
        },
        detail: serde_json::to_value(&r).unwrap(),
    })
}

fn remote(addr: SocketAddr, req: &RunRequest) -> RemoteRun {
    udpctl::run_remote(addr, req, None, &ClientConfig::default(), |ready, to| {
        flood_lib(to, ready.flow_base, req.clock)
    })
    .expect("remote run")
}

/// The combined report agrees with the sender's report and with the receiver's own report.
fn check_agreement(report: &CombinedReport, receiver_detail: &serde_json::Value) {
    let totals = &receiver_detail["totals"];
    let flood_sent: u64 =
        report.sender_reports.iter().map(|s| s.detail["packets"].as_u64().unwrap()).sum();
    assert_eq!(report.sent, flood_sent, "sent = what the floods reported");
    assert_eq!(report.received, totals["received"].as_u64().unwrap(), "received = receiver's");
    assert_eq!(report.kernel_drops, totals["kernel_drops"].as_u64().unwrap());
    assert_eq!(report.lost, report.sent - report.received, "lost = sent − received");
    assert_eq!(
        receiver_detail["sent"].as_u64(),
        Some(report.sent),
        "receiver accounting knows sent"
    );
    assert!(report.received > 0 && report.received <= report.sent, "{report:?}");
    // Loss can happen on a loaded machine, but it is all accounted for on the receiver.
    assert!(report.received * 2 >= report.sent, "gross loss: {}", report.to_text());
}

#[test]
fn in_process_run_agrees_with_both_sides() {
    let dir = tmp("inproc");
    let path = dir.join("server.json");
    let srv = server(Some(path.clone()));
    for method in ["recvmmsg", "auto"] {
        let run = remote(srv.local_addr(), &request(method));
        let report = CombinedReport::from_run(&run);
        assert_eq!(report.sent, 6_000);
        check_agreement(&report, &run.result.receiver.detail);
        assert_eq!(report.clock, Clock::Monotonic);
        assert!(report.same_host);
        assert!(report.latency.is_some(), "same host, monotonic: latency is measured");
        // The server's own record says the same.
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(record["run_id"], report.run_id.as_str());
        assert_eq!(record["receiver"]["summary"]["received"].as_u64(), Some(report.received));
        assert_eq!(record["sender_reports"][0]["summary"]["sent"].as_u64(), Some(report.sent));
    }
    assert_eq!(srv.stats().runs_completed, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_senders_one_receiver() {
    let srv = server(None);
    let addr = srv.local_addr();
    let req = RunRequest { senders: 2, run_id: Some("pair".into()), ..request("recvmmsg") };
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let req = req.clone();
            std::thread::spawn(move || remote(addr, &req))
        })
        .collect();
    let runs: Vec<RemoteRun> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for run in &runs {
        let report = CombinedReport::from_run(run);
        assert_eq!(report.senders, 2);
        assert_eq!(report.senders_reported, 2);
        assert_eq!(report.sent, 12_000, "both senders' datagrams");
        check_agreement(&report, &run.result.receiver.detail);
        // Four flows from two senders (distinct source ports), none merged into another.
        let flows = run.result.receiver.detail["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 4, "{flows:?}");
    }
    assert_eq!(runs[0].result, runs[1].result, "both senders get the same result");
    assert_eq!(srv.stats().runs_completed, 1);
}

#[test]
fn negative_latency_is_flagged_not_recorded() {
    let srv = server(None);
    let req = RunRequest { clock: Clock::Realtime, flows: 1, ..request("recvmmsg") };
    let mut s = Session::connect(srv.local_addr(), &ClientConfig::default()).unwrap();
    let ready = s.request(&req, None).unwrap();
    // A sender whose realtime clock runs 10 s ahead of the receiver's.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = SocketAddr::new(srv.local_addr().ip(), ready.data_port);
    let mut buf = [0u8; HEADER_LEN];
    for seq in 0..200u64 {
        let tx_ns = udpprobe::now_ns(Clock::Realtime) + 10_000_000_000;
        Repr { flow: 0, seq, sender: 0, tx_ns, clock: Clock::Realtime }
            .emit_into(&mut buf)
            .unwrap();
        sock.send_to(&buf, to).unwrap();
        if seq % 50 == 49 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let sender = SenderReport {
        summary: SenderSummary {
            sent: 200,
            bytes: 200 * HEADER_LEN as u64,
            send_errors: 0,
            elapsed_ns: 1,
            flows: 1,
            flow_base: 0,
            clock: Clock::Realtime,
        },
        detail: serde_json::Value::Null,
    };
    let result = s.done(&sender, Duration::from_secs(1)).unwrap();
    let report = CombinedReport::build(
        &result.run_id,
        "test",
        &to.to_string(),
        1,
        ready.same_host,
        &result.sender_reports,
        &result.receiver,
    );
    assert_eq!(report.received, 200);
    assert_eq!(report.clock_skew, 200, "every datagram came from the future");
    assert!(report.latency.is_none_or(|l| l.samples == 0), "garbage not recorded: {report:?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("negative one-way latency") && w.contains("chrony/PTP")),
        "{:?}",
        report.warnings
    );
}

// ---- the binaries ----

/// Both binaries are built with this package's tests.
fn udpflood_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_udpflood"))
}

struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_udprx"))
        .args(["serve", "--control", "127.0.0.1:0", "--cpus", "none", "--rcvbuf", "8M"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn udprx serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let addr = first.rsplit(' ').next().unwrap().parse().expect("listening address");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Serve { child, addr }
}

#[test]
fn binaries_run_agrees_with_both_sides() {
    let flood = udpflood_bin();
    let dir = tmp("bins");
    let record_path = dir.join("server.json");
    let srv = serve(&["--json", record_path.to_str().unwrap(), "--token", "t0k"]);
    let t0 = Instant::now();
    let out = Command::new(&flood)
        .args(["127.0.0.1:0", "--server", &srv.addr.to_string(), "--token", "t0k"])
        .args(["-b", "10k", "-n", "6000", "--flows", "2", "--rx-method", "recvmmsg", "--json"])
        .output()
        .expect("run udpflood");
    assert!(out.status.success(), "{out:?}");
    assert!(t0.elapsed() < Duration::from_secs(60));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("combined JSON");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(report["run_id"], record["run_id"]);
    assert_eq!(report["sent"].as_u64(), Some(6000));
    assert_eq!(report["sent"], record["sender_reports"][0]["summary"]["sent"]);
    assert_eq!(report["received"], record["receiver"]["summary"]["received"]);
    assert_eq!(report["received"], record["receiver"]["detail"]["totals"]["received"]);
    let (sent, received) = (report["sent"].as_u64().unwrap(), report["received"].as_u64().unwrap());
    assert_eq!(report["lost"].as_u64(), Some(sent - received));
    assert!(received * 2 >= sent, "gross loss: {report}");

    // A wrong token is refused with a clear error and a non-zero exit; the server goes on.
    let out = Command::new(&flood)
        .args(["127.0.0.1:0", "--server", &srv.addr.to_string(), "--token", "nope", "-n", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"), "{out:?}");
    // A privileged data port is a bad argument (exit 2).
    let out = Command::new(&flood)
        .args(["127.0.0.1:80", "--server", &srv.addr.to_string(), "--token", "t0k", "-n", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("below 1024"), "{out:?}");
    // And a good run still works, in text form.
    let out = Command::new(&flood)
        .args(["127.0.0.1:0", "--server", &srv.addr.to_string(), "--token", "t0k"])
        .args(["-b", "5k", "-n", "500", "-i", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sent") && text.contains("received") && text.contains("lost"), "{text}");
    // The opt-in epoll method is offered over the control channel too.
    let out = Command::new(&flood)
        .args(["127.0.0.1:0", "--server", &srv.addr.to_string(), "--token", "t0k"])
        .args(["-b", "5k", "-n", "500", "--rx-method", "epoll", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("combined JSON");
    assert!(report["received"].as_u64().unwrap() * 2 >= 500, "gross loss: {report}");
    assert_eq!(report["receiver_report"]["detail"]["setup"]["method"], "epoll", "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_sender_binaries_join_one_run() {
    let flood = udpflood_bin();
    let srv = serve(&[]);
    let spawn = || {
        Command::new(&flood)
            .args(["127.0.0.1:0", "--server", &srv.addr.to_string(), "--senders", "2"])
            .args(["--run-id", "pair", "-b", "5k", "-n", "3000", "--json"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["senders"], 2);
        assert_eq!(report["sent"].as_u64(), Some(6000), "both senders counted");
        let received = report["received"].as_u64().unwrap();
        assert_eq!(report["lost"].as_u64(), Some(6000 - received));
        assert_eq!(
            Some(received),
            report["receiver_report"]["detail"]["totals"]["received"].as_u64()
        );
    }
}

#[test]
fn serve_bad_arguments_exit_2() {
    let cases: &[&[&str]] = &[
        &["serve", "--control", "nowhere"],
        &["serve", "--allow", "1.2.3.4/99"],
        &["serve", "--allow", "not-an-ip"],
        &["serve", "--max-connections", "0", "--control", "127.0.0.1:0"],
        &["serve", "--token", "", "--control", "127.0.0.1:0"],
    ];
    for args in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_udprx")).args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

// ---- two network namespaces joined by veth: really two "hosts" ----

struct Netns {
    rx: String,
    tx: String,
}

impl Netns {
    fn create() -> Result<Netns, String> {
        let id = std::process::id();
        let n = Netns { rx: format!("ctlrx-{id}"), tx: format!("ctltx-{id}") };
        let (vrx, vtx) = (format!("vcr{id}"), format!("vct{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &n.rx],
            vec!["netns", "add", &n.tx],
            vec!["link", "add", &vrx, "type", "veth", "peer", "name", &vtx],
            vec!["link", "set", &vrx, "netns", &n.rx],
            vec!["link", "set", &vtx, "netns", &n.tx],
            vec!["-n", &n.rx, "addr", "add", "198.18.0.2/30", "dev", &vrx],
            vec!["-n", &n.tx, "addr", "add", "198.18.0.1/30", "dev", &vtx],
            vec!["-n", &n.rx, "link", "set", &vrx, "up"],
            vec!["-n", &n.tx, "link", "set", &vtx, "up"],
            vec!["-n", &n.rx, "link", "set", "lo", "up"],
            vec!["-n", &n.tx, "link", "set", "lo", "up"],
        ];
        for args in steps {
            let out = Command::new("ip").args(&args).output().map_err(|e| format!("ip: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "ip {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        Ok(n)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespaces removes the veth pair with them.
        for ns in [&self.rx, &self.tx] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn two_namespaces_over_veth() {
    let flood = udpflood_bin();
    if !root_or_skip("creating network namespaces") {
        return;
    }
    let ns = match Netns::create() {
        Ok(ns) => ns,
        Err(e) => return skip(Need::Root, &format!("cannot create namespaces/veth: {e}")),
    };
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.rx, env!("CARGO_BIN_EXE_udprx"), "serve"])
        .args(["--control", "198.18.0.2:0", "--cpus", "none", "--allow", "198.18.0.0/30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn udprx serve in the namespace");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("readable");
    std::thread::spawn(move || for _ in lines {});
    let srv = Serve { addr: first.rsplit(' ').next().unwrap().parse().unwrap(), child };
    assert_eq!(srv.addr.ip().to_string(), "198.18.0.2");
    for clock in ["monotonic", "realtime"] {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.tx])
            .arg(&flood)
            .args(["198.18.0.2:0", "--server", &srv.addr.to_string(), "--clock", clock])
            .args(["-b", "10k", "-n", "5000", "--rx-method", "recvmmsg", "--json"])
            .output()
            .expect("run udpflood in the namespace");
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["same_host"], false, "another namespace is another host");
        assert_eq!(report["sent"].as_u64(), Some(5000));
        let received = report["received"].as_u64().unwrap();
        assert_eq!(
            Some(received),
            report["receiver_report"]["detail"]["totals"]["received"].as_u64()
        );
        assert_eq!(report["lost"].as_u64(), Some(5000 - received));
        assert!(received * 2 >= 5000, "{report}");
        let warnings = report["warnings"].to_string();
        if clock == "monotonic" {
            assert!(report["latency"].is_null(), "monotonic across hosts: no latency");
            assert!(warnings.contains("CLOCK_MONOTONIC"), "{warnings}");
        } else {
            assert!(report["latency"]["samples"].as_u64().unwrap() > 0);
            assert!(warnings.contains("chrony/PTP"), "{warnings}");
        }
    }
}

#[test]
fn udpflood_remote_argument_errors() {
    let flood = udpflood_bin();
    // A port nobody listens on (bound, then released).
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let usage: &[&[&str]] = &[
        &["127.0.0.1:0", "--token", "x"], // --token needs --server
        &["127.0.0.2:5000", "--server", "127.0.0.1:9001"], // DEST is not the server
        &["127.0.0.1:0", "--server", "127.0.0.1:9001", "--size", "5"], // flood setting invalid
        &["127.0.0.1:0", "--server", "nowhere"],
    ];
    for args in usage {
        let out = Command::new(&flood).args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    let out = Command::new(&flood).args(["127.0.0.1:0", "--server", &closed]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"), "{out:?}");
}
