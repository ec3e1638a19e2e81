//! Abuse of the receive side through the control channel and the CLI: a data port another
//! socket holds is refused (no silent SO_REUSEPORT join) unless `--share-port` asks for it,
//! a run may ask for a per-datagram buffer large enough for its datagrams, and `udprx serve`'s
//! log lines show peer-supplied text escaped.
//!
//! Loopback only; every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use udpctl::frame::{self, DeadlineReader};
use udpctl::msg::{self, ClientMsg};
use udpctl::{ClientConfig, ClientError, ErrorCode, RunRequest, ServerConfig, ServerMsg};
use udpprobe::{Clock, Repr};
use udprx::{Error, Method, Receiver};
use udprx_cli::control::{EngineExecutor, ExecutorConfig};

fn request(sockets: u32, data_port: u16) -> RunRequest {
    RunRequest {
        method: "recvmmsg".into(),
        sockets,
        duration_ms: 300,
        data_port,
        senders: 1,
        flows: 1,
        run_id: None,
        clock: Clock::Monotonic,
        buffer_size: None,
        flow_budget: None,
    }
}

/// A receiver holding an ephemeral loopback port with `sockets` SO_REUSEPORT sockets (bound,
/// not running: the sockets exist, which is what matters).
fn holder(sockets: usize) -> Receiver {
    Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(Method::Recvmmsg)
        .sockets(sockets)
        .cpus(Vec::new())
        .build()
        .expect("holder binds")
}

/// A loopback port held by a reuseport group of `sockets` sockets, or by a plain socket for 0;
/// the holder lives as long as the returned box.
fn held_port(sockets: usize) -> (Box<dyn std::any::Any>, u16) {
    if sockets > 0 {
        let h = holder(sockets);
        let port = h.local_addr().port();
        (Box::new(h), port)
    } else {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        (Box::new(u), port)
    }
}

#[test]
fn engine_refuses_a_port_another_socket_holds() {
    // (what holds the port, sockets asked for, share_port, expected outcome)
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Want {
        PortInUse,
        BindError,
        Joined,
    }
    let cases = [
        ("reuseport group", 2, 2, false, Want::PortInUse),
        ("reuseport group", 2, 4, false, Want::PortInUse),
        ("reuseport group", 2, 1, false, Want::BindError),
        ("reuseport group", 2, 2, true, Want::Joined),
        ("reuseport group", 2, 1, true, Want::Joined),
        ("plain socket", 0, 2, false, Want::PortInUse),
        ("plain socket", 0, 2, true, Want::BindError),
    ];
    for (what, held_by, sockets, share, want) in cases {
        let (_held, port) = held_port(held_by);
        let got = Receiver::builder(SocketAddr::from(([127, 0, 0, 1], port)))
            .method(Method::Recvmmsg)
            .sockets(sockets)
            .share_port(share)
            .cpus(Vec::new())
            .build();
        let name = format!("{what}, sockets {sockets}, share_port {share}");
        match (want, got) {
            (Want::Joined, Ok(rx)) => assert_eq!(rx.local_addr().port(), port, "{name}"),
            (Want::PortInUse, Err(e @ Error::PortInUse { .. })) => {
                let text = e.to_string();
                assert!(
                    text.contains("already bound") && text.contains("share_port(true)"),
                    "{text}"
                );
            }
            (Want::BindError, Err(Error::Bind { .. })) => {}
            (want, got) => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
    // A free port, and port 0, are not affected.
    let free = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for addr in [free, "127.0.0.1:0".parse().unwrap()] {
        Receiver::builder(addr)
            .method(Method::Recvmmsg)
            .sockets(2)
            .cpus(Vec::new())
            .build()
            .expect("a free port");
    }
}

fn engine_server() -> udpctl::ServerHandle {
    let exec = EngineExecutor::new(ExecutorConfig {
        cpus: Some(Vec::new()),
        rcvbuf: Some(4 << 20),
        ..ExecutorConfig::default()
    });
    let cfg = ServerConfig {
        drain: Duration::from_millis(100),
        limits: udpctl::Limits { allow_privileged_port: true, ..udpctl::Limits::default() },
        ..ServerConfig::default()
    };
    udpctl::spawn(TcpListener::bind("127.0.0.1:0").unwrap(), cfg, exec).unwrap()
}

#[test]
fn serve_refuses_a_data_port_another_receiver_holds() {
    let srv = engine_server();
    for (held_by, sockets) in [(2, 2), (2, 8), (2, 1), (0, 2)] {
        let (_held, port) = held_port(held_by);
        let r = udpctl::run_remote(
            srv.local_addr(),
            &request(sockets, port),
            None,
            &ClientConfig::default(),
            |_, _| Err::<udpctl::SenderReport, _>("must not get ready"),
        );
        match r {
            Err(ClientError::Server(e)) => {
                assert_eq!(e.code, ErrorCode::RunFailed, "{e:?}");
                assert!(
                    e.message.contains("already bound") || e.message.contains("in use"),
                    "held by {held_by}, {sockets} sockets: {}",
                    e.message
                );
            }
            other => panic!("held by {held_by}, {sockets} sockets: joined: {other:?}"),
        }
    }
}

#[test]
fn a_run_request_sets_its_flow_budget_within_the_servers_cap() {
    // The server's budget (`udprx serve --flow-budget 8`) is the default and the cap; a request
    // may ask for fewer flows; 0 or more than the cap is refused with a clear reason.
    const CAP: u32 = 8;
    let exec = EngineExecutor::new(ExecutorConfig {
        cpus: Some(Vec::new()),
        rcvbuf: Some(4 << 20),
        measure: udprx_stats::measure::Measure { flow_budget: CAP as usize, ..Default::default() },
        ..ExecutorConfig::default()
    });
    let cfg = ServerConfig {
        drain: Duration::from_millis(100),
        limits: udpctl::Limits { max_flow_budget: CAP, ..udpctl::Limits::default() },
        ..ServerConfig::default()
    };
    let srv = udpctl::spawn(TcpListener::bind("127.0.0.1:0").unwrap(), cfg, exec).unwrap();
    const PORTS: u64 = 12;
    // (requested budget, Ok(tracked flows) or Err(part of the refusal))
    let cases: [(Option<u32>, Result<u64, &str>); 5] = [
        (None, Ok(CAP as u64)),
        (Some(3), Ok(3)),
        (Some(CAP), Ok(CAP as u64)),
        (Some(0), Err("flow_budget must be 1..=8")),
        (Some(CAP + 1), Err("flow_budget must be 1..=8")),
    ];
    for (budget, want) in cases {
        let req = RunRequest { flow_budget: budget, ..request(2, 0) };
        let got =
            udpctl::run_remote(srv.local_addr(), &req, None, &ClientConfig::default(), |r, to| {
                // Each socket stands for one sender with its own sender id: the server's
                // receivers read no source address, so the id keeps their flows apart.
                let socks: Vec<UdpSocket> =
                    (0..PORTS).map(|_| UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
                for (i, sock) in socks.iter().enumerate() {
                    let mut buf = [0u8; 18];
                    for seq in 0..5u64 {
                        Repr {
                            flow: r.flow_base as u8,
                            seq,
                            sender: i as u16 + 1,
                            tx_ns: udpprobe::now_ns(Clock::Monotonic),
                            clock: Clock::Monotonic,
                        }
                        .emit_into(&mut buf)
                        .unwrap();
                        sock.send_to(&buf, to).unwrap();
                    }
                }
                Ok::<_, String>(udpctl::SenderReport {
                    summary: udpctl::SenderSummary {
                        sent: 5 * PORTS,
                        bytes: 5 * PORTS * 18,
                        elapsed_ns: 1,
                        flows: 1,
                        flow_base: r.flow_base,
                        clock: Clock::Monotonic,
                        send_errors: 0,
                    },
                    detail: serde_json::Value::Null,
                })
            });
        match (want, got) {
            (Ok(flows), Ok(run)) => {
                let t = &run.result.receiver.detail["totals"];
                assert_eq!(t["flows"].as_u64(), Some(flows), "{budget:?}: {t}");
                assert_eq!(t["flow_budget"].as_u64(), Some(budget.unwrap_or(CAP) as u64), "{t}");
                assert_eq!(t["untracked"].as_u64(), Some(5 * (PORTS - flows)), "{t}");
                assert_eq!(run.result.receiver.summary.datagrams, 5 * PORTS);
            }
            (Err(says), Err(ClientError::Server(e))) => {
                assert_eq!(e.code, ErrorCode::Invalid, "{budget:?}");
                assert!(e.message.contains(says), "{budget:?}: {}", e.message);
            }
            (want, got) => panic!("{budget:?}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn serve_takes_datagrams_larger_than_the_default_buffer_whole() {
    let srv = engine_server();
    // Without a buffer_size the server's 2048-byte buffers cut a 4000-byte datagram: counted
    // truncated (not foreign, as before issue 13), still received, bytes counted whole.
    for (size, buffer_size) in [(4000usize, Some(4000u32)), (9000, Some(9000)), (4000, None)] {
        let req = RunRequest { buffer_size, ..request(1, 0) };
        let run =
            udpctl::run_remote(srv.local_addr(), &req, None, &ClientConfig::default(), |r, to| {
                let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
                let mut buf = vec![0u8; size];
                for seq in 0..200u64 {
                    let repr = Repr {
                        flow: r.flow_base as u8,
                        seq,
                        sender: 0,
                        tx_ns: udpprobe::now_ns(Clock::Monotonic),
                        clock: Clock::Monotonic,
                    };
                    repr.emit_into(&mut buf).unwrap();
                    sock.send_to(&buf, to).unwrap();
                    if seq % 20 == 19 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok::<_, String>(udpctl::SenderReport {
                    summary: udpctl::SenderSummary {
                        sent: 200,
                        bytes: 200 * size as u64,
                        send_errors: 0,
                        elapsed_ns: 1,
                        flows: 1,
                        flow_base: r.flow_base,
                        clock: Clock::Monotonic,
                    },
                    detail: serde_json::Value::Null,
                })
            })
            .expect("a run with a larger buffer");
        let s = run.result.receiver.summary;
        assert_eq!(s.foreign, 0, "{size}-byte datagrams truncated: {s:?}");
        assert_eq!(s.received, 200, "{s:?}");
        assert_eq!(s.bytes, 200 * size as u64, "{s:?}");
        let cut = if buffer_size.is_none() { 200 } else { 0 };
        assert_eq!(s.truncated, cut, "{s:?}");
    }
    // Out of bounds: a clear refusal.
    for bad in [0u32, 17, 65_537, u32::MAX] {
        let req = RunRequest { buffer_size: Some(bad), ..request(1, 0) };
        let r =
            udpctl::run_remote(srv.local_addr(), &req, None, &ClientConfig::default(), |_, _| {
                Err::<udpctl::SenderReport, _>("must not get ready")
            });
        match r {
            Err(ClientError::Server(e)) => {
                assert_eq!(e.code, ErrorCode::Invalid);
                assert!(e.message.contains("buffer_size"), "{}", e.message);
            }
            other => panic!("buffer_size {bad}: {other:?}"),
        }
    }
}

#[test]
fn cli_refuses_to_split_a_port_unless_share_port() {
    let h = holder(2);
    let bind = h.local_addr().to_string();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_udprx"))
            .args(["run", "--bind", &bind, "--sockets", "2", "--method", "recvmmsg"])
            .args(["--cpus", "none", "--duration", "300ms"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "joined another receiver's port: {refused:?}");
    assert!(
        stderr.contains("already bound") && stderr.contains("--share-port"),
        "unclear error: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let shared = run(&["--share-port"]);
    assert!(shared.status.success(), "--share-port joins on purpose: {shared:?}");
}

// ---- `udprx serve` logs ----

/// Sends every payload to a `udprx serve` started with `extra`, then stops it and returns its
/// stderr.
fn serve_log(extra: &[&str], payloads: &[Vec<u8>]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_udprx"))
        .args(["serve", "--control", "127.0.0.1:0", "--cpus", "none"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn udprx serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").expect("readable");
    let addr: SocketAddr = first.rsplit(' ').next().unwrap().parse().expect("listening address");
    std::thread::spawn(move || for _ in lines {});
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    for p in payloads {
        let s = TcpStream::connect(addr).unwrap();
        let mut w = &s;
        let _ = w.write_all(p);
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Ok(reply) = frame::read_frame(&mut DeadlineReader::new(&s, deadline), 1 << 20) {
            assert!(matches!(msg::decode::<ServerMsg>(&reply), Ok(ServerMsg::Error(_))));
        }
    }
    // The log line is written before the reply; give the pipe a moment, then stop the server.
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    String::from_utf8(reader.join().unwrap()).expect("UTF-8 log")
}

#[test]
fn serve_logs_escape_peer_supplied_text() {
    let evil = r"\u001b[2J\u001b[H\nudprx serve: 198.18.0.1:1: forged\r\u009b31m";
    let payloads: Vec<Vec<u8>> = [
        format!(r#"{{"v":1,"type":"{evil}"}}"#),
        format!(r#"{{"v":1,"type":"run","{evil}":1}}"#),
        format!(r#"{{"v":"{evil}"}}"#),
        format!(r#"{{"v":1,"type":"run","token":"{evil}","request":{{}}}}"#),
    ]
    .iter()
    .map(|p| frame::encode_frame(p.as_bytes()).unwrap())
    .chain([
        frame::encode_frame(b"\x1b[2J\nudprx serve: 198.18.0.1:1: forged").unwrap(),
        frame::encode_frame(&msg::encode(&ClientMsg::Abort { reason: "\x1b[2J\n".into() }))
            .unwrap(),
    ])
    .collect();
    for extra in [&[][..], &["--token", "t0k"][..]] {
        let log = serve_log(extra, &payloads);
        let rejections: Vec<&str> =
            log.lines().filter(|l| !l.contains("stopped (") && !l.is_empty()).collect();
        assert_eq!(rejections.len(), payloads.len(), "{extra:?}: one line each:\n{log}");
        for line in &rejections {
            assert!(!line.chars().any(udpctl::text::is_unsafe), "{extra:?}: raw: {line:?}");
            assert!(line.starts_with("udprx serve: 127.0.0.1:"), "{extra:?}: forged: {line:?}");
        }
        if extra.is_empty() {
            assert!(log.contains("\\x1b[2J"), "escapes visible: {log}");
        } else {
            assert!(!log.contains("forged"), "unauthenticated input echoed: {log}");
        }
    }
}
