//! The sender-agent side of the control server, with a fake flood executor (no datagrams):
//! hello and the clock sample, a flood's result, and the abuse cases — wrong token, a target
//! outside the allowed set, absurd rates and durations, two controllers at once, a controller
//! that vanishes mid-flood, and a receive server asked for a flood.

mod common;

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{error_code, framed, read_reply, start, test_config};
use udpctl::client::AgentClient;
use udpctl::msg::{self, ClientMsg};
use udpctl::{
    ClientConfig, ClientError, ErrorCode, ExecError, FloodLimits, FloodRequest, FloodResult,
    RunExecutor, RunHandle, RunRequest, ServerConfig, ServerHandle,
};
use udpprobe::Clock;

/// Pretends to flood: "sends" `rate × elapsed` datagrams until the duration passes or `stop`.
#[derive(Clone, Default)]
struct FakeFlooder {
    /// Targets it was given.
    targets: Arc<Mutex<Vec<SocketAddr>>>,
    /// Time from `stop` being set to the flood returning, µs (u64::MAX: never stopped).
    stopped_after_us: Arc<AtomicU64>,
    /// Floods that ended.
    finished: Arc<AtomicU64>,
}

impl RunExecutor for FakeFlooder {
    fn methods(&self) -> Vec<String> {
        Vec::new()
    }
    fn prepare(&self, _: &RunRequest, _: IpAddr) -> Result<Box<dyn RunHandle>, ExecError> {
        Err(ExecError("an agent does not receive".into()))
    }
    fn floods(&self) -> bool {
        true
    }
    fn flood(
        &self,
        req: &FloodRequest,
        target: SocketAddr,
        stop: &AtomicBool,
    ) -> Result<FloodResult, ExecError> {
        self.targets.lock().unwrap().push(target);
        let t0 = Instant::now();
        let end = t0 + Duration::from_millis(req.duration_ms);
        let mut stop_seen = None;
        while Instant::now() < end {
            if stop.load(Ordering::SeqCst) {
                stop_seen = Some(Instant::now());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(_at) = stop_seen {
            self.stopped_after_us.store(t0.elapsed().as_micros() as u64, Ordering::SeqCst);
        }
        let elapsed = t0.elapsed();
        let sent = (req.rate_pps as f64 * elapsed.as_secs_f64()) as u64;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(FloodResult {
            target,
            sent,
            bytes: sent * u64::from(req.payload_size),
            send_errors: 0,
            elapsed_ns: elapsed.as_nanos() as u64,
            flows: req.flows,
            process_cpu_ns_per_datagram: 1.0,
            thread_cpu_ns_per_datagram: 1.0,
            stopped_early: stop_seen.is_some(),
            gso_active: false,
            clock: req.clock,
            detail: serde_json::Value::Null,
        })
    }
}

fn agent(cfg: ServerConfig) -> (ServerHandle, FakeFlooder) {
    let exec = FakeFlooder::default();
    exec.stopped_after_us.store(u64::MAX, Ordering::SeqCst);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    (udpctl::spawn(listener, cfg, exec.clone()).unwrap(), exec)
}

fn req(duration_ms: u64) -> FloodRequest {
    FloodRequest {
        target_port: 9,
        target_ip: None,
        rate_pps: 1000,
        duration_ms,
        flows: 1,
        payload_size: 18,
        gso: false,
        threads: 1,
        cpus: None,
        clock: Clock::Monotonic,
    }
}

fn with_token() -> ServerConfig {
    ServerConfig { token: Some("s3cret".into()), ..test_config() }
}

#[test]
fn hello_and_a_flood_to_the_controller() {
    let (srv, exec) = agent(with_token());
    let mut c =
        AgentClient::connect(srv.local_addr(), Some("s3cret"), &ClientConfig::default()).unwrap();
    assert_eq!(c.hello().capabilities, vec!["flood".to_string()]);
    assert_eq!(c.hello().controller_ip, IpAddr::from([127, 0, 0, 1]));
    assert_eq!(c.hello().limits.max_rate_pps, FloodLimits::default().max_rate_pps);
    // Same host, same clock: the offset is within its bound of zero.
    let est = c.estimate_offset(Clock::Monotonic, 5).unwrap();
    assert_eq!(est.samples, 5);
    assert!(est.offset_ns.unsigned_abs() <= est.error_bound_ns, "{est:?}");
    // Two floods on one connection, both to the controller's own address.
    for _ in 0..2 {
        let r = c.flood(&req(100)).unwrap();
        assert_eq!(r.target, "127.0.0.1:9".parse().unwrap());
        assert!(!r.stopped_early);
        assert!(r.sent > 0);
    }
    assert_eq!(exec.finished.load(Ordering::SeqCst), 2);
}

#[test]
fn wrong_or_missing_token_is_refused_before_anything_runs() {
    let (srv, exec) = agent(with_token());
    for token in [Some("wrong"), None] {
        let e =
            AgentClient::connect(srv.local_addr(), token, &ClientConfig::default()).unwrap_err();
        assert!(matches!(&e, ClientError::Server(r) if r.code == ErrorCode::Unauthorized), "{e}");
    }
    // A flood as first message with a wrong token: refused, nothing flooded.
    let s = TcpStream::connect(srv.local_addr()).unwrap();
    let m = ClientMsg::Flood { token: Some("nope".into()), request: req(100) };
    (&s).write_all(&framed(&msg::encode(&m))).unwrap();
    assert_eq!(error_code(read_reply(&s, Duration::from_secs(10))), ErrorCode::Unauthorized);
    assert_eq!(exec.finished.load(Ordering::SeqCst), 0);
    assert!(exec.targets.lock().unwrap().is_empty());
}

#[test]
fn targets_outside_the_allowed_set_are_refused() {
    let cfg = ServerConfig {
        flood_limits: FloodLimits {
            allow_target: vec!["198.18.0.0/30".parse().unwrap()],
            ..FloodLimits::default()
        },
        ..test_config()
    };
    let (srv, exec) = agent(cfg);
    let cc = ClientConfig::default();
    for ip in ["198.18.0.9", "192.0.2.1", "8.8.8.8", "127.0.0.2", "224.0.0.1"] {
        let mut c = AgentClient::connect(srv.local_addr(), None, &cc).unwrap();
        let r = FloodRequest { target_ip: Some(ip.parse().unwrap()), ..req(100) };
        let e = c.flood(&r).unwrap_err();
        assert!(matches!(&e, ClientError::Server(r) if r.code == ErrorCode::Invalid), "{ip}: {e}");
    }
    assert!(exec.targets.lock().unwrap().is_empty());
    // Inside --allow-target: allowed.
    let mut c = AgentClient::connect(srv.local_addr(), None, &cc).unwrap();
    let r = FloodRequest { target_ip: Some("198.18.0.2".parse().unwrap()), ..req(50) };
    assert_eq!(c.flood(&r).unwrap().target, "198.18.0.2:9".parse().unwrap());
}

#[test]
fn absurd_rates_and_durations_are_refused() {
    let (srv, exec) = agent(test_config());
    let cc = ClientConfig::default();
    let cases = [
        FloodRequest { rate_pps: u64::MAX, ..req(100) },
        FloodRequest { rate_pps: 0, ..req(100) },
        FloodRequest { duration_ms: u64::MAX, ..req(100) },
        FloodRequest { duration_ms: 0, ..req(100) },
        FloodRequest { threads: 100_000, flows: 100_000, ..req(100) },
    ];
    for r in cases {
        let mut c = AgentClient::connect(srv.local_addr(), None, &cc).unwrap();
        let e = c.flood(&r).unwrap_err();
        assert!(matches!(&e, ClientError::Server(x) if x.code == ErrorCode::Invalid), "{r:?}: {e}");
    }
    assert_eq!(exec.finished.load(Ordering::SeqCst), 0);
}

#[test]
fn a_second_controller_is_refused_while_a_flood_runs() {
    let (srv, exec) = agent(test_config());
    let addr = srv.local_addr();
    let first = std::thread::spawn(move || {
        let mut c = AgentClient::connect(addr, None, &ClientConfig::default()).unwrap();
        c.flood(&req(1500)).unwrap()
    });
    // Wait until the first flood runs.
    let t0 = Instant::now();
    while exec.targets.lock().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "first flood never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut c = AgentClient::connect(addr, None, &ClientConfig::default()).unwrap();
    let e = c.flood(&req(100)).unwrap_err();
    match &e {
        ClientError::Server(r) => {
            assert_eq!(r.code, ErrorCode::Busy);
            assert!(r.message.contains("one flood at a time"), "{}", r.message);
        }
        other => panic!("expected busy, got {other}"),
    }
    assert!(!first.join().unwrap().stopped_early);
    assert_eq!(exec.finished.load(Ordering::SeqCst), 1);
}

#[test]
fn a_vanished_controller_stops_the_flood_within_a_second() {
    let (srv, exec) = agent(test_config());
    let s = TcpStream::connect(srv.local_addr()).unwrap();
    let m = ClientMsg::Flood { token: None, request: req(20_000) };
    (&s).write_all(&framed(&msg::encode(&m))).unwrap();
    let t0 = Instant::now();
    while exec.targets.lock().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "flood never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let gone = Instant::now();
    drop(s);
    while exec.finished.load(Ordering::SeqCst) == 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(1),
            "the flood outlived its controller by 1 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_ne!(exec.stopped_after_us.load(Ordering::SeqCst), u64::MAX, "stopped by the flag");
    // The slot is free again.
    let mut c = AgentClient::connect(srv.local_addr(), None, &ClientConfig::default()).unwrap();
    c.flood(&req(50)).unwrap();
}

#[test]
fn an_abort_stops_the_flood_and_the_result_still_comes() {
    let (srv, exec) = agent(test_config());
    let s = TcpStream::connect(srv.local_addr()).unwrap();
    let m = ClientMsg::Flood { token: None, request: req(20_000) };
    (&s).write_all(&framed(&msg::encode(&m))).unwrap();
    let t0 = Instant::now();
    while exec.targets.lock().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(10), "flood never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let abort = ClientMsg::Abort { reason: "enough".into() };
    (&s).write_all(&framed(&msg::encode(&abort))).unwrap();
    match read_reply(&s, Duration::from_secs(5)) {
        Some(udpctl::ServerMsg::FloodResult(r)) => assert!(r.stopped_early),
        other => panic!("expected a flood result, got {other:?}"),
    }
}

#[test]
fn a_receive_server_refuses_floods_and_an_agent_refuses_runs() {
    let (rx, _) = start(test_config());
    let e = AgentClient::connect(rx.local_addr(), None, &ClientConfig::default()).unwrap_err();
    assert!(matches!(&e, ClientError::Server(r) if r.code == ErrorCode::Unexpected), "{e}");
    let (ag, _) = agent(test_config());
    let m = ClientMsg::Run { token: None, request: common::request() };
    let reply = common::raw(ag.local_addr(), &framed(&msg::encode(&m)), false);
    assert_eq!(error_code(reply), ErrorCode::Unexpected);
}
