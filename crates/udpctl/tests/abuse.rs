//! The control channel under abuse: unauthenticated input is not decoded (nor echoed), every
//! peer-supplied string is escaped before anyone prints it, connection slots cannot be hogged
//! from one source, and wrong tokens are throttled per source (and logged at a bounded rate).
//!
//! Every wait is bounded; traffic goes to 127.0.0.0/8 only (127.0.0.2 plays the attacker: the
//! whole /8 is loopback on Linux).

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use udpctl::frame;
use udpctl::msg::{self, ClientMsg};
use udpctl::testing::{FakeServer, Script};
use udpctl::text::is_unsafe;
use udpctl::{
    Backoff, ClientConfig, ClientError, CombinedReport, ErrorCode, ErrorReply, RunRequest,
    ServerConfig, ServerEvent, ServerMsg,
};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to `to` from the source address `from` (any port).
fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(from, 0).into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(5))?;
    Ok(s.into())
}

/// Sends `bytes` from `from` and reads one reply (bounded).
fn raw_from(from: IpAddr, to: SocketAddr, bytes: &[u8]) -> Option<ServerMsg> {
    let s = connect_from(from, to).ok()?;
    let mut w = &s;
    let _ = w.write_all(bytes);
    read_reply(&s, Duration::from_secs(10))
}

fn run_msg(token: Option<&str>, req: RunRequest) -> Vec<u8> {
    framed(&msg::encode(&ClientMsg::Run { token: token.map(str::to_owned), request: req }))
}

/// Rejections an observer was given, with their `suppressed` counts.
type Seen = Arc<Mutex<Vec<(ErrorReply, u64)>>>;

/// An observer that keeps every rejection line it is given.
fn recording() -> (udpctl::server::Observer, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let obs: udpctl::server::Observer = Arc::new(move |ev: &ServerEvent| {
        if let ServerEvent::Rejected { error, suppressed, .. } = ev {
            log.lock().unwrap().push((error.clone(), *suppressed));
        }
    });
    (obs, seen)
}

fn clean(s: &str) -> bool {
    !s.chars().any(is_unsafe)
}

/// Payloads whose serde error text quotes the attacker's bytes (escape codes, forged lines).
fn malicious_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let evil = r"\u001b[2J\u001b[H\nudprx serve: 198.18.0.1: run ok\r";
    vec![
        ("unknown type", framed(format!(r#"{{"v":1,"type":"{evil}"}}"#).as_bytes())),
        (
            "unknown field",
            framed(
                format!(r#"{{"v":1,"type":"run","{evil}":1,"request":{{"method":"fake","sockets":1,"duration_ms":200}}}}"#)
                    .as_bytes(),
            ),
        ),
        (
            "bad clock",
            framed(
                format!(r#"{{"v":1,"type":"run","request":{{"method":"fake","sockets":1,"duration_ms":200,"clock":"{evil}"}}}}"#)
                    .as_bytes(),
            ),
        ),
        ("bad version", framed(format!(r#"{{"v":"{evil}","type":"run"}}"#).as_bytes())),
        ("raw escape bytes", framed(b"\x1b[2J\x1b[H\nudprx serve: forged\x9b31m")),
        ("token is an escape", framed(format!(r#"{{"v":1,"type":"run","token":"{evil}"}}"#).as_bytes())),
    ]
}

#[test]
fn unauthenticated_input_is_not_decoded_nor_echoed() {
    let (obs, seen) = recording();
    let cfg = ServerConfig {
        token: Some("s3cret".into()),
        observer: Some(obs),
        // This test is about decoding, not about the backoff.
        auth_backoff: Backoff { free_failures: 1000, ..Backoff::default() },
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    for (name, bytes) in malicious_payloads() {
        match raw(addr, &bytes, false) {
            Some(ServerMsg::Error(e)) => {
                assert_eq!(e.code, ErrorCode::Unauthorized, "case '{name}': {e:?}");
                assert_eq!(e.message, "missing or wrong token", "case '{name}': a fixed answer");
            }
            other => panic!("case '{name}': {other:?}"),
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), malicious_payloads().len());
    for (e, _) in &seen {
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(clean(&e.message) && !e.message.contains("forged"), "{e:?}");
    }
    assert_eq!(server.stats().auth_failures, malicious_payloads().len() as u64);
    good_run(addr, Some("s3cret"), 50);
}

#[test]
fn decode_errors_of_tokenless_peers_are_escaped() {
    let (obs, seen) = recording();
    let (server, _exec) = start(ServerConfig { observer: Some(obs), ..test_config() });
    let addr = server.local_addr();
    for (name, bytes) in malicious_payloads() {
        match raw(addr, &bytes, false) {
            Some(ServerMsg::Error(e)) => {
                assert!(
                    matches!(
                        e.code,
                        ErrorCode::BadJson | ErrorCode::BadMessage | ErrorCode::BadVersion
                    ),
                    "case '{name}': {e:?}"
                );
                assert!(clean(&e.message), "case '{name}': reply not escaped: {:?}", e.message);
                assert!(e.message.len() < 1024, "case '{name}': bounded");
            }
            other => panic!("case '{name}': {other:?}"),
        }
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), malicious_payloads().len());
    for (e, _) in &seen {
        assert!(clean(&e.message), "log line not escaped: {:?}", e.message);
    }
    assert!(
        seen.iter().any(|(e, _)| e.message.contains("\\x1b[2J")),
        "escapes are visible: {seen:?}"
    );
    good_run(addr, None, 50);
}

/// The right token from `from`: `Ok` if it got `ready` (the run is then aborted at once), else
/// the error reply's code.
fn authorised_attempt(from: IpAddr, to: SocketAddr) -> Result<(), ErrorCode> {
    let s = connect_from(from, to).expect("connect");
    let mut w = &s;
    let _ = w.write_all(&run_msg(Some("s3cret"), request()));
    match read_reply(&s, Duration::from_secs(10)) {
        Some(ServerMsg::Ready(_)) => {
            let abort = ClientMsg::Abort { reason: "test".into() };
            frame::write_frame(&mut w, &msg::encode(&abort)).unwrap();
            // The server answers with the (empty) run's result or an error; either ends it.
            let _ = read_reply(&s, Duration::from_secs(10));
            Ok(())
        }
        Some(ServerMsg::Error(e)) => Err(e.code),
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_tokens_are_throttled_per_source_and_logged_at_a_bounded_rate() {
    let (obs, seen) = recording();
    let backoff = Backoff {
        free_failures: 2,
        base: Duration::from_secs(1),
        max: Duration::from_secs(2),
        forget_after: Duration::from_secs(60),
    };
    let cfg = ServerConfig {
        token: Some("s3cret".into()),
        observer: Some(obs),
        auth_backoff: backoff,
        ..test_config()
    };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let t0 = Instant::now();
    // A guessing loop from one source, bounded in time and count: 2 free failures, the 3rd
    // starts a 1 s block, the 4th (once that block is over) a 2 s one.
    let mut codes = Vec::new();
    let count = |codes: &[ErrorCode], want| codes.iter().filter(|c| **c == want).count();
    while count(&codes, ErrorCode::Unauthorized) < 4 {
        assert!(codes.len() < 5000 && t0.elapsed() < Duration::from_secs(20), "{codes:?}");
        let reply = raw_from(ATTACKER, addr, &run_msg(Some("guess"), request()));
        codes.push(error_code(reply));
        thread::sleep(Duration::from_millis(2));
    }
    // Blocked, even the right token is refused from that source.
    assert_eq!(authorised_attempt(ATTACKER, addr), Err(ErrorCode::Throttled));
    let unauthorized = count(&codes, ErrorCode::Unauthorized);
    let throttled = count(&codes, ErrorCode::Throttled);
    assert_eq!(unauthorized + throttled, codes.len(), "{codes:?}");
    assert_eq!(&codes[..3], &[ErrorCode::Unauthorized; 3], "{codes:?}");
    assert_eq!(codes[3], ErrorCode::Throttled, "{codes:?}");
    assert!(throttled >= 2, "guessing was not slowed down: {codes:?}");
    let stats = server.stats();
    assert_eq!(stats.auth_failures, 4);
    assert_eq!(stats.throttled, throttled as u64 + 1);
    // Another source is not affected: a good run from 127.0.0.1 goes through.
    good_run(addr, Some("s3cret"), 50);
    // Once the block ends, the right token is served again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match authorised_attempt(ATTACKER, addr) {
            Ok(()) => break,
            Err(ErrorCode::Throttled) => {}
            Err(c) => panic!("{c}"),
        }
        assert!(Instant::now() < deadline, "the block never ended");
        thread::sleep(Duration::from_millis(100));
    }
    // The right token forgave the failures: one wrong guess is answered, not throttled.
    assert_eq!(
        error_code(raw_from(ATTACKER, addr, &run_msg(Some("guess"), request()))),
        ErrorCode::Unauthorized
    );
    // The log did not get a line per guess.
    let seen = seen.lock().unwrap().clone();
    let bound = udpctl::server::REJECT_LOG_BURST as f64
        + udpctl::server::REJECT_LOG_PER_SEC * t0.elapsed().as_secs_f64()
        + 1.0;
    assert!(seen.len() as f64 <= bound, "{} log lines for {} rejections", seen.len(), codes.len());
    let stats = server.stats();
    assert_eq!(
        seen.len() as u64 + stats.log_suppressed,
        stats.auth_failures + stats.throttled,
        "every rejection is logged or counted as suppressed"
    );
    let reported: u64 = seen.iter().map(|(_, n)| n).sum();
    assert!(reported <= stats.log_suppressed);
    for (e, _) in &seen {
        assert!(clean(&e.message), "{e:?}");
    }
}

#[test]
fn idle_connections_from_one_source_do_not_lock_others_out() {
    // The defaults: 128 connections, 20 per source, a short handshake deadline.
    let defaults = ServerConfig::default();
    assert!(defaults.max_per_source < defaults.max_connections);
    assert!(defaults.handshake_timeout <= Duration::from_secs(2));
    let cfg = ServerConfig {
        handshake_timeout: Duration::from_secs(1),
        join_timeout: Duration::from_secs(20),
        result_margin: Duration::from_secs(10),
        drain: Duration::from_millis(50),
        ..ServerConfig::default()
    };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    // The attacker holds 140 idle connections and keeps re-opening them.
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let t0 = Instant::now();
            let mut opened = 0u32;
            while !stop.load(Ordering::SeqCst) && t0.elapsed() < Duration::from_secs(30) {
                let conns: Vec<TcpStream> =
                    (0..140).filter_map(|_| connect_from(ATTACKER, addr).ok()).collect();
                opened += conns.len() as u32;
                thread::sleep(Duration::from_millis(300));
                drop(conns);
            }
            opened
        })
    };
    // Let the first wave land.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().refused < 100 {
        assert!(Instant::now() < deadline, "attacker never hit its limit: {:?}", server.stats());
        thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        let run = udpctl::run_remote(addr, &request(), None, &ClientConfig::default(), |r, to| {
            Ok::<_, String>(flood(r, to, 1, 50))
        });
        match run {
            Ok(run) => assert_eq!(run.result.receiver.summary.received, 50),
            Err(e) => panic!("a good client was locked out: {e} ({:?})", server.stats()),
        }
    }
    stop.store(true, Ordering::SeqCst);
    assert!(attacker.join().unwrap() >= 140);
    let stats = server.stats();
    assert!(stats.refused >= 100, "{stats:?}");
    assert_eq!(stats.runs_completed, 3);
}

#[test]
fn a_rejected_source_gets_the_per_source_reason() {
    let cfg = ServerConfig { max_per_source: 2, ..test_config() };
    let (server, _exec) = start(cfg);
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..2).map(|_| connect_from(ATTACKER, addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().accepted < 2 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(10));
    }
    match raw_from(ATTACKER, addr, &run_msg(None, request())) {
        Some(ServerMsg::Error(e)) => {
            assert_eq!(e.code, ErrorCode::TooManyConnections);
            assert!(e.message.contains("127.0.0.2"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    good_run(addr, None, 20);
    drop(idle);
}

// ---- the client side: a malicious server ----

const EVIL: &str = "\x1b[2J\x1b[H\nudpflood: all good\r\u{9b}31m\u{202e}";

#[test]
fn a_malicious_server_cannot_write_to_the_client_terminal() {
    let server = FakeServer::start(Script::run(EVIL)).unwrap();
    let run =
        udpctl::run_remote(server.addr(), &request(), None, &ClientConfig::default(), |r, to| {
            Ok::<_, String>(flood(r, to, 1, 5))
        })
        .unwrap();
    // The client played its part: a run request, then its done report.
    let sent: Vec<ClientMsg> =
        server.join().iter().map(|p| msg::decode::<ClientMsg>(p).unwrap()).collect();
    assert!(matches!(sent.as_slice(), [ClientMsg::Run { .. }, ClientMsg::Done { .. }]), "{sent:?}");
    let report = CombinedReport::from_run(&run);
    assert!(clean(&report.run_id), "{:?}", report.run_id);
    let text = report.to_text();
    for line in text.lines() {
        assert!(clean(line), "{line:?}");
        assert!(line.starts_with("run ") || line.starts_with("  "), "forged line {line:?}");
    }
    assert!(text.contains("\\x1b[2J"), "{text}");

    let cases = [
        ("error reply", ServerMsg::Error(ErrorReply::new(ErrorCode::Busy, EVIL))),
        ("invalid reply", ServerMsg::Error(ErrorReply::new(ErrorCode::Invalid, EVIL))),
    ];
    for (name, reply) in cases {
        let server = FakeServer::start(Script::Reply(reply)).unwrap();
        let err = udpctl::run_remote(
            server.addr(),
            &request(),
            None,
            &ClientConfig::default(),
            |_, _| Err::<udpctl::SenderReport, _>("must not flood"),
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::Server(_)), "case '{name}': {err:?}");
        let shown = err.to_string();
        assert!(clean(&shown), "case '{name}': {shown:?}");
        assert!(shown.contains("\\x1b[2J"), "case '{name}': {shown}");
        assert_eq!(server.join().len(), 1, "case '{name}': the server read one request");
    }
}
