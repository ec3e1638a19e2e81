//! The control protocol against a fake executor: good runs, N:1, and every kind of bad input.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use udpctl::frame::MAX_FRAME;
use udpctl::msg::{self, ClientMsg};
use udpctl::{
    AllowList, ClientConfig, ClientError, CombinedReport, ErrorCode, RunRequest, ServerConfig,
    ServerMsg, Session,
};

#[test]
fn good_run_combines_both_sides_and_writes_the_server_report() {
    let dir = std::env::temp_dir().join(format!("udpctl-test-{}-good", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.json");
    let (server, exec) = start(ServerConfig { report_path: Some(path.clone()), ..test_config() });
    let run = good_run(server.local_addr(), None, 500);
    assert_eq!(run.ready.sender_index, 0);
    assert_eq!(run.ready.flow_base, 0);
    assert!(run.ready.same_host);
    assert_eq!(run.data_addr.ip(), server.local_addr().ip());
    assert_eq!(run.sender.summary.sent, 500);
    assert_eq!(run.result.receiver.summary.received, 500, "loopback at a modest rate: no loss");
    assert_eq!(run.result.sender_reports, vec![run.sender.clone()]);
    let report = CombinedReport::from_run(&run);
    assert_eq!(report.sent, 500);
    assert_eq!(report.received, 500);
    assert_eq!(report.lost, 0);
    assert_eq!(report.senders, 1);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(report.to_text().contains("received"));
    assert_eq!(exec.prepared.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The server wrote its own record, and nothing else.
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(record["run_id"], run.result.run_id.as_str());
    assert_eq!(record["receiver"]["summary"]["received"], 500);
    assert_eq!(record["sender_reports"][0]["summary"]["sent"], 500);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "only the report file");
    assert_eq!(server.stats().runs_completed, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn run_msg(token: Option<&str>, req: RunRequest) -> Vec<u8> {
    framed(&msg::encode(&ClientMsg::Run { token: token.map(str::to_owned), request: req }))
}

#[test]
fn bad_input_is_answered_and_the_next_good_request_is_served() {
    let (server, _exec) = start(ServerConfig { token: Some("s3cret".into()), ..test_config() });
    let addr = server.local_addr();
    let good_json = String::from_utf8(msg::encode(&ClientMsg::Run {
        token: Some("s3cret".into()),
        request: request(),
    }))
    .unwrap();

    let mut oversized = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
    oversized.extend_from_slice(b"{}");
    let mut truncated = 100u32.to_be_bytes().to_vec();
    truncated.extend_from_slice(b"{\"v\":1,");
    let cases: Vec<(&str, Vec<u8>, bool, ErrorCode)> = vec![
        ("http garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), false, ErrorCode::TooLarge),
        // Without the token, nothing but the token is looked at: one fixed answer.
        (
            "binary garbage",
            vec![0, 0, 0, 8, 0xff, 0xfe, 0, 1, 2, 3, 4, 5],
            false,
            ErrorCode::Unauthorized,
        ),
        ("truncated frame", truncated, true, ErrorCode::BadFrame),
        ("truncated prefix", vec![0, 0], true, ErrorCode::BadFrame),
        ("oversized length prefix", oversized, false, ErrorCode::TooLarge),
        ("max length prefix", vec![0xff; 4], false, ErrorCode::TooLarge),
        ("empty frame", vec![0, 0, 0, 0], false, ErrorCode::BadFrame),
        ("invalid json", framed(b"{\"v\":1,\"type\":\"run\""), false, ErrorCode::Unauthorized),
        ("not an object", framed(b"[1,2,3]"), false, ErrorCode::Unauthorized),
        (
            "wrong version",
            framed(good_json.replace("\"v\":1", "\"v\":7").as_bytes()),
            false,
            ErrorCode::BadVersion,
        ),
        (
            "missing version",
            framed(good_json.replace("\"v\":1,", "").replace(",\"v\":1", "").as_bytes()),
            false,
            ErrorCode::BadVersion,
        ),
        (
            "unknown type",
            framed(br#"{"v":1,"type":"exec","cmd":"id"}"#),
            false,
            ErrorCode::Unauthorized,
        ),
        (
            "unknown type with the token",
            framed(br#"{"v":1,"type":"exec","cmd":"id","token":"s3cret"}"#),
            false,
            ErrorCode::BadMessage,
        ),
        (
            "unknown field",
            framed(good_json.replace("\"sockets\"", "\"command\":\"id\",\"sockets\"").as_bytes()),
            false,
            ErrorCode::BadMessage,
        ),
        (
            "done first",
            framed(br#"{"v":1,"type":"abort","reason":"x"}"#),
            false,
            ErrorCode::Unauthorized,
        ),
        ("wrong token", run_msg(Some("s3creT"), request()), false, ErrorCode::Unauthorized),
        ("no token", run_msg(None, request()), false, ErrorCode::Unauthorized),
        (
            "privileged port",
            run_msg(Some("s3cret"), RunRequest { data_port: 80, ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "unknown method",
            run_msg(Some("s3cret"), RunRequest { method: "/bin/sh".into(), ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "zero sockets",
            run_msg(Some("s3cret"), RunRequest { sockets: 0, ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "endless run",
            run_msg(Some("s3cret"), RunRequest { duration_ms: u64::MAX, ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "huge buffer",
            run_msg(Some("s3cret"), RunRequest { buffer_size: Some(u32::MAX), ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "zero flow budget",
            run_msg(Some("s3cret"), RunRequest { flow_budget: Some(0), ..request() }),
            false,
            ErrorCode::Invalid,
        ),
        (
            "flow budget over the server's",
            run_msg(Some("s3cret"), RunRequest { flow_budget: Some(u32::MAX), ..request() }),
            false,
            ErrorCode::Invalid,
        ),
    ];
    for (name, bytes, half_close, want) in cases {
        let got = error_code(raw(addr, &bytes, half_close));
        assert_eq!(got, want, "case '{name}'");
        let run = good_run(addr, Some("s3cret"), 100);
        assert_eq!(run.result.receiver.summary.received, 100, "good run after '{name}'");
    }
    let stats = server.stats();
    assert_eq!(stats.rejected, 24);
    assert_eq!(stats.runs_completed, 24);
}

#[test]
fn tokenless_server_classifies_bad_messages() {
    let (server, _exec) = start(test_config());
    let addr = server.local_addr();
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("binary garbage", vec![0, 0, 0, 8, 0xff, 0xfe, 0, 1, 2, 3, 4, 5], ErrorCode::BadJson),
        ("invalid json", framed(b"{\"v\":1,\"type\":\"run\""), ErrorCode::BadJson),
        ("not an object", framed(b"[1,2,3]"), ErrorCode::BadMessage),
        ("unknown type", framed(br#"{"v":1,"type":"exec","cmd":"id"}"#), ErrorCode::BadMessage),
        ("done first", framed(br#"{"v":1,"type":"abort","reason":"x"}"#), ErrorCode::Unexpected),
    ];
    for (name, bytes, want) in cases {
        let got = error_code(raw(addr, &bytes, false));
        assert_eq!(got, want, "case '{name}'");
        good_run(addr, None, 20);
    }
}

#[test]
fn privileged_port_allowed_only_when_configured() {
    let cfg = ServerConfig {
        limits: udpctl::Limits { allow_privileged_port: true, ..udpctl::Limits::default() },
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    // Validation passes; as a non-root user the bind itself may fail, which is a run_failed.
    let reply =
        raw(server.local_addr(), &run_msg(None, RunRequest { data_port: 7, ..request() }), false);
    match reply {
        Some(ServerMsg::Ready(r)) => assert_eq!(r.data_port, 7),
        Some(ServerMsg::Error(e)) => assert_eq!(e.code, ErrorCode::RunFailed, "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn silent_client_times_out_without_blocking_others() {
    let cfg = ServerConfig { handshake_timeout: Duration::from_millis(700), ..test_config() };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let silent = TcpStream::connect(addr).unwrap();
    // A slow-loris client: one byte, then nothing; the deadline covers the whole frame.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(&[0]).unwrap();
    // Meanwhile a good client is served at once.
    let run = good_run(addr, None, 100);
    assert_eq!(run.result.receiver.summary.received, 100);
    for s in [&silent, &slow] {
        let t0 = Instant::now();
        let reply = read_reply(s, Duration::from_secs(20));
        assert_eq!(error_code(reply), ErrorCode::Timeout);
        assert!(t0.elapsed() < Duration::from_secs(15));
        assert!(closed_within(s, Duration::from_secs(10)), "server closes after the timeout");
    }
    assert_eq!(server.stats().timed_out, 2);
    good_run(addr, None, 10);
}

#[test]
fn busy_while_a_run_is_in_progress() {
    let (server, _exec) = start(test_config());
    let addr = server.local_addr();
    let cfg = ClientConfig::default();
    let mut first = Session::connect(addr, &cfg).unwrap();
    let req = RunRequest { duration_ms: 5000, ..request() };
    let ready = first.request(&req, None).unwrap();
    // A second request while the first run is going: a clear busy reply.
    let reply = raw(addr, &run_msg(None, request()), false);
    match reply {
        Some(ServerMsg::Error(e)) => {
            assert_eq!(e.code, ErrorCode::Busy);
            assert!(e.message.contains(&ready.run_id), "{}", e.message);
        }
        other => panic!("expected busy, got {other:?}"),
    }
    let err = udpctl::run_remote(addr, &request(), None, &cfg, |_, _| {
        Ok::<_, String>(unreachable_report())
    });
    assert!(matches!(err, Err(ClientError::Server(ref e)) if e.code == ErrorCode::Busy), "{err:?}");
    // The first run completes normally; then the server is free again.
    let data_addr = SocketAddr::new(addr.ip(), ready.data_port);
    let sender = flood(&ready, data_addr, 1, 100);
    let result = first.done(&sender, Duration::from_millis(req.duration_ms)).unwrap();
    assert_eq!(result.receiver.summary.received, 100);
    good_run(addr, None, 10);
}

fn unreachable_report() -> udpctl::SenderReport {
    panic!("flood must not be called when the server refuses")
}

#[test]
fn a_run_whose_sender_vanishes_ends_by_duration() {
    let cfg = ServerConfig { result_margin: Duration::from_millis(300), ..test_config() };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let mut s = Session::connect(addr, &ClientConfig::default()).unwrap();
    let _ready = s.request(&RunRequest { duration_ms: 200, ..request() }, None).unwrap();
    // Never sends done: the server times the sender out after duration + margin, finishes the
    // run, and serves the next one.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if server.stats().runs_completed == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "run never ended: {:?}", server.stats());
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.stats().timed_out, 1);
    good_run(addr, None, 10);
}

#[test]
fn hundred_concurrent_connections() {
    // All from 127.0.0.1: the per-source limit is lifted for this test (abuse.rs tests it).
    let (server, exec) = start(ServerConfig { max_per_source: 1000, ..test_config() });
    let addr = server.local_addr();
    // 100 idle connections held open: the server still serves a good client.
    let idle: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let run = good_run(addr, None, 100);
    assert_eq!(run.result.receiver.summary.received, 100);
    drop(idle);

    // 100 clients ask for a run at the same instant: exactly one wins, 99 hear busy.
    let barrier = Arc::new(Barrier::new(100));
    let threads: Vec<_> = (0..100)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut s = Session::connect(addr, &ClientConfig::default()).unwrap();
                barrier.wait();
                match s.request(&request(), None) {
                    Ok(ready) => {
                        let to = SocketAddr::new(addr.ip(), ready.data_port);
                        let sender = flood(&ready, to, 1, 50);
                        let r = s.done(&sender, Duration::from_millis(200)).unwrap();
                        assert_eq!(r.receiver.summary.received, 50);
                        true
                    }
                    Err(ClientError::Server(e)) => {
                        assert_eq!(e.code, ErrorCode::Busy, "{e:?}");
                        false
                    }
                    Err(e) => panic!("{e}"),
                }
            })
        })
        .collect();
    let winners = threads.into_iter().map(|t| t.join().unwrap()).filter(|w| *w).count();
    assert_eq!(winners, 1);
    assert_eq!(exec.prepared.load(std::sync::atomic::Ordering::SeqCst), 2);
    good_run(addr, None, 10);
}

#[test]
fn beyond_the_connection_limit_is_refused_at_once() {
    let cfg = ServerConfig {
        max_connections: 4,
        handshake_timeout: Duration::from_secs(2),
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Let the accept loop count them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().accepted < 4 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    let t0 = Instant::now();
    let reply = raw(addr, b"", false);
    assert_eq!(error_code(reply), ErrorCode::TooManyConnections);
    assert!(t0.elapsed() < Duration::from_millis(1500), "refused before any timeout");
    assert_eq!(server.stats().refused, 1);
    drop(idle);
    // Once the idle ones are gone (closed by us; the server notices at once), it serves again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r =
            udpctl::run_remote(addr, &request(), None, &ClientConfig::default(), |ready, to| {
                Ok::<_, String>(flood(ready, to, 1, 10))
            });
        match r {
            Ok(run) => {
                assert_eq!(run.result.receiver.summary.received, 10);
                break;
            }
            Err(ClientError::Server(e)) if e.code == ErrorCode::TooManyConnections => {}
            Err(e) => panic!("{e}"),
        }
        assert!(Instant::now() < deadline, "server never freed its connection slots");
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn allow_list_refuses_other_sources() {
    let cfg = ServerConfig {
        allow: AllowList::new(vec!["198.18.0.0/15".parse().unwrap()]),
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    let reply = raw(server.local_addr(), &run_msg(None, request()), false);
    assert_eq!(error_code(reply), ErrorCode::Forbidden);

    let cfg = ServerConfig {
        allow: AllowList::new(vec!["127.0.0.0/8".parse().unwrap()]),
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    good_run(server.local_addr(), None, 10);
}

#[test]
fn two_senders_join_one_run() {
    let (server, exec) = start(test_config());
    let addr = server.local_addr();
    let req = RunRequest { senders: 2, flows: 2, run_id: Some("pair".into()), ..request() };
    let spawn_sender = |req: RunRequest| {
        thread::spawn(move || {
            udpctl::run_remote(addr, &req, None, &ClientConfig::default(), |ready, to| {
                Ok::<_, String>(flood(ready, to, 2, 150))
            })
            .unwrap()
        })
    };
    let a = spawn_sender(req.clone());
    // While the run waits for its second sender, a different run is busy...
    let deadline = Instant::now() + Duration::from_secs(10);
    while exec.prepared.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    let other = RunRequest { run_id: Some("other".into()), ..req.clone() };
    assert_eq!(error_code(raw(addr, &run_msg(None, other), false)), ErrorCode::Busy);
    // ... and so is the same run_id with different parameters.
    let mismatched = RunRequest { sockets: 2, ..req.clone() };
    assert_eq!(error_code(raw(addr, &run_msg(None, mismatched), false)), ErrorCode::Busy);
    let b = spawn_sender(req);
    let (ra, rb) = (a.join().unwrap(), b.join().unwrap());

    let mut bases = [ra.ready.flow_base, rb.ready.flow_base];
    bases.sort();
    assert_eq!(bases, [0, 2], "distinct flow ranges");
    assert_eq!(ra.ready.data_port, rb.ready.data_port);
    assert_eq!(exec.prepared.load(std::sync::atomic::Ordering::SeqCst), 1, "one receive run");
    for run in [&ra, &rb] {
        assert_eq!(run.result.run_id, "pair");
        assert_eq!(run.result.senders, 2);
        assert_eq!(run.result.sender_reports.len(), 2);
        assert_eq!(run.result.receiver.summary.received, 600);
        let per_flow = &run.result.receiver.detail["per_flow"];
        for f in ["0", "1", "2", "3"] {
            assert_eq!(per_flow[f], 150, "flow {f}: {per_flow}");
        }
        let report = CombinedReport::from_run(run);
        assert_eq!(report.sent, 600, "both senders' figures");
        assert_eq!(report.received, 600);
        assert_eq!(report.lost, 0);
        assert_eq!(report.senders_reported, 2);
    }
    good_run(addr, None, 10);
}

#[test]
fn join_timeout_when_a_sender_never_comes() {
    let cfg = ServerConfig { join_timeout: Duration::from_millis(400), ..test_config() };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let req = RunRequest { senders: 2, run_id: Some("lonely".into()), ..request() };
    let r = udpctl::run_remote(addr, &req, None, &ClientConfig::default(), |_, _| {
        Ok::<_, String>(unreachable_report())
    });
    match r {
        Err(ClientError::Server(e)) => {
            assert_eq!(e.code, ErrorCode::JoinTimeout);
            assert!(e.message.contains("1 of 2"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.stats().runs_failed, 1);
    good_run(addr, None, 10);
}

#[test]
fn flood_failure_aborts_cleanly() {
    let (server, _exec) = start(test_config());
    let addr = server.local_addr();
    let r = udpctl::run_remote(addr, &request(), None, &ClientConfig::default(), |_, _| {
        Err::<udpctl::SenderReport, _>("no route")
    });
    assert!(matches!(r, Err(ClientError::Flood(ref m)) if m == "no route"), "{r:?}");
    // The server finished the (empty) run without waiting for the duration margin.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().runs_completed < 1 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(20));
    }
    good_run(addr, None, 10);
}

#[test]
fn ipv6_loopback_run() {
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        return skip(Need::Feature, "no IPv6 loopback here");
    };
    let server = udpctl::spawn(listener, test_config(), FakeExecutor::default()).unwrap();
    let run = good_run(server.local_addr(), None, 100);
    assert!(run.data_addr.is_ipv6());
    assert!(run.ready.same_host);
    assert_eq!(run.result.receiver.summary.received, 100);
}

#[test]
fn observer_sees_events_and_a_panicking_one_does_no_harm() {
    use std::sync::Mutex;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    let cfg = ServerConfig {
        observer: Some(Arc::new(move |ev: &udpctl::ServerEvent| {
            let name = match ev {
                udpctl::ServerEvent::Rejected { error, .. } => format!("rejected:{}", error.code),
                udpctl::ServerEvent::RunStarted { .. } => "started".to_string(),
                udpctl::ServerEvent::RunFinished(r) => format!("finished:{}", r.error.is_none()),
                udpctl::ServerEvent::FloodStarted { .. } => "flood".to_string(),
                udpctl::ServerEvent::FloodFinished { .. } => "flood-done".to_string(),
            };
            log.lock().unwrap().push(name);
            panic!("observer panics on purpose");
        })),
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    assert_eq!(error_code(raw(addr, &framed(b"{}"), false)), ErrorCode::BadVersion);
    good_run(addr, None, 50);
    good_run(addr, None, 50);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["rejected:bad_version", "started", "finished:true", "started", "finished:true"]
    );
}
