//! Shared test helpers: a fake executor that counts UDP datagrams per flow, and raw clients.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use udpctl::frame::{self, DeadlineReader};
use udpctl::msg;
use udpctl::{
    ClientConfig, ExecError, Ready, ReceiverReport, ReceiverSummary, RemoteRun, RunExecutor,
    RunHandle, RunRequest, SenderReport, SenderSummary, ServerConfig, ServerHandle, ServerMsg,
};
use udpprobe::{Clock, HEADER_LEN, Repr};

#[path = "../../../../testsupport/skip.rs"]
pub mod skip;
#[allow(unused_imports)]
pub use skip::{Need, root_or_skip, skip, skip_part};

/// Counts probe datagrams per flow on a real UDP socket; no udprx involved.
#[derive(Clone, Default)]
pub struct FakeExecutor {
    pub prepared: Arc<AtomicUsize>,
}

impl RunExecutor for FakeExecutor {
    fn methods(&self) -> Vec<String> {
        vec!["fake".into(), "recvmmsg".into()]
    }

    fn prepare(&self, req: &RunRequest, bind_ip: IpAddr) -> Result<Box<dyn RunHandle>, ExecError> {
        let sock = UdpSocket::bind(SocketAddr::new(bind_ip, req.data_port))
            .map_err(|e| ExecError(format!("bind: {e}")))?;
        // Room for a whole test flood even if the counting thread is descheduled for a while.
        let sock = socket2::Socket::from(sock);
        let _ = sock.set_recv_buffer_size(4 << 20);
        let sock = UdpSocket::from(sock);
        sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        self.prepared.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FakeRun {
            port: sock.local_addr().unwrap().port(),
            sock: Some(sock),
            clock: req.clock,
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
            started: Instant::now(),
        }))
    }
}

struct Counts {
    received: u64,
    bytes: u64,
    foreign: u64,
    per_flow: BTreeMap<u8, u64>,
}

struct FakeRun {
    port: u16,
    sock: Option<UdpSocket>,
    clock: Clock,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Counts>>,
    started: Instant,
}

impl RunHandle for FakeRun {
    fn data_port(&self) -> u16 {
        self.port
    }

    fn begin(&mut self) -> Result<(), ExecError> {
        let sock = self.sock.take().ok_or_else(|| ExecError("begun twice".into()))?;
        let stop = Arc::clone(&self.stop);
        self.started = Instant::now();
        self.thread = Some(std::thread::spawn(move || {
            let mut c = Counts { received: 0, bytes: 0, foreign: 0, per_flow: BTreeMap::new() };
            let mut buf = [0u8; 2048];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => match Repr::from_bytes(&buf[..n]) {
                        Ok(r) => {
                            c.received += 1;
                            c.bytes += n as u64;
                            *c.per_flow.entry(r.flow).or_default() += 1;
                        }
                        Err(_) => c.foreign += 1,
                    },
                    Err(_) => {
                        if stop.load(Ordering::SeqCst) {
                            return c;
                        }
                    }
                }
            }
        }));
        Ok(())
    }

    fn finish(
        self: Box<Self>,
        drain: Duration,
        _senders: &[SenderReport],
    ) -> Result<ReceiverReport, ExecError> {
        std::thread::sleep(drain);
        self.stop.store(true, Ordering::SeqCst);
        let c = self.thread.ok_or_else(|| ExecError("never begun".into()))?.join().unwrap();
        let per_flow: BTreeMap<String, u64> =
            c.per_flow.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Ok(ReceiverReport {
            summary: ReceiverSummary {
                datagrams: c.received + c.foreign,
                received: c.received,
                bytes: c.bytes,
                foreign: c.foreign,
                truncated: 0,
                seq_lost: 0,
                reordered: 0,
                duplicates: 0,
                kernel_drops: 0,
                elapsed_ns: self.started.elapsed().as_nanos() as u64,
                clock: self.clock,
                latency: None,
                clock_skew: 0,
            },
            detail: serde_json::json!({ "per_flow": per_flow }),
        })
    }
}

/// Fast settings for tests (generous where the machine is slow, short where we wait on purpose).
pub fn test_config() -> ServerConfig {
    ServerConfig {
        handshake_timeout: Duration::from_secs(5),
        join_timeout: Duration::from_secs(20),
        result_margin: Duration::from_secs(10),
        drain: Duration::from_millis(50),
        ..ServerConfig::default()
    }
}

pub fn start(cfg: ServerConfig) -> (ServerHandle, FakeExecutor) {
    let exec = FakeExecutor::default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    (udpctl::spawn(listener, cfg, exec.clone()).unwrap(), exec)
}

pub fn request() -> RunRequest {
    RunRequest {
        method: "fake".into(),
        sockets: 1,
        duration_ms: 200,
        data_port: 0,
        senders: 1,
        flows: 1,
        run_id: None,
        clock: Clock::Monotonic,
        buffer_size: None,
        flow_budget: None,
    }
}

/// Sends `count` probe datagrams per flow to `to`, flows `flow_base .. flow_base + flows`.
pub fn flood(ready: &Ready, to: SocketAddr, flows: u32, count: u64) -> SenderReport {
    let sock = UdpSocket::bind(if to.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; HEADER_LEN];
    let mut sent = 0;
    for seq in 0..count {
        for f in 0..flows {
            let repr = Repr {
                flow: (ready.flow_base + f) as u8,
                seq,
                sender: 0,
                tx_ns: udpprobe::now_ns(Clock::Monotonic),
                clock: Clock::Monotonic,
            };
            repr.emit_into(&mut buf).unwrap();
            sock.send_to(&buf, to).unwrap();
            sent += 1;
        }
        if seq % 25 == 24 {
            // Modest rate: loopback must not drop on a busy 2-core machine.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    SenderReport {
        summary: SenderSummary {
            sent,
            bytes: sent * HEADER_LEN as u64,
            send_errors: 0,
            elapsed_ns: t0.elapsed().as_nanos() as u64,
            flows,
            flow_base: ready.flow_base,
            clock: Clock::Monotonic,
        },
        detail: serde_json::json!({ "who": "test flood" }),
    }
}

/// A complete good run against `addr`: 1 sender, `count` datagrams.
pub fn good_run(addr: SocketAddr, token: Option<&str>, count: u64) -> RemoteRun {
    udpctl::run_remote(addr, &request(), token, &ClientConfig::default(), |ready, to| {
        Ok::<_, String>(flood(ready, to, 1, count))
    })
    .expect("a good run after bad input")
}

/// Writes `bytes`, optionally half-closes, and reads one reply (None when the server closed
/// without replying).
pub fn raw(addr: SocketAddr, bytes: &[u8], half_close: bool) -> Option<ServerMsg> {
    let s = TcpStream::connect(addr).unwrap();
    let mut w = &s;
    let _ = w.write_all(bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    read_reply(&s, Duration::from_secs(20))
}

pub fn read_reply(s: &TcpStream, wait: Duration) -> Option<ServerMsg> {
    let payload =
        frame::read_frame(&mut DeadlineReader::new(s, Instant::now() + wait), 1 << 20).ok()?;
    Some(msg::decode::<ServerMsg>(&payload).expect("server replies decode"))
}

pub fn framed(payload: &[u8]) -> Vec<u8> {
    frame::encode_frame(payload).unwrap()
}

pub fn error_code(reply: Option<ServerMsg>) -> udpctl::ErrorCode {
    match reply {
        Some(ServerMsg::Error(e)) => e.code,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

/// Reads until EOF (bounded), to check the server closed.
pub fn closed_within(s: &TcpStream, wait: Duration) -> bool {
    let mut r = DeadlineReader::new(s, Instant::now() + wait);
    let mut buf = [0u8; 256];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

pub type Shared<T> = Arc<Mutex<T>>;
