//! Test doubles for the control channel (cargo feature `testing`, off by default).
//!
//! [`FakeServer`] stands in for `udprx serve` when a test checks how a *client* copes with a
//! malicious or broken server: it answers one connection from a fixed [`Script`], whatever the
//! client sends, and can put anything (escape codes, forged lines) into the run id, the report
//! or an error message. It listens on 127.0.0.1 only, and every wait it does is bounded.
//!
//! Enable it for tests only:
//! ```toml
//! [dev-dependencies]
//! udpctl = { workspace = true, features = ["testing"] }
//! ```
//!
//! ```
//! use udpctl::testing::{FakeServer, Script};
//! use udpctl::{ClientConfig, ClientError, ErrorCode, ErrorReply, ServerMsg};
//! # fn request() -> udpctl::RunRequest {
//! #     udpctl::RunRequest {
//! #         method: "fake".into(), sockets: 1, duration_ms: 100, data_port: 0, senders: 1,
//! #         flows: 1, run_id: None, clock: udpprobe::Clock::Monotonic, buffer_size: None,
//! #         flow_budget: None,
//! #     }
//! # }
//!
//! let busy = ServerMsg::Error(ErrorReply::new(ErrorCode::Busy, "\x1b[2Jbusy"));
//! let server = FakeServer::start(Script::Reply(busy)).unwrap();
//! let err = udpctl::run_remote(server.addr(), &request(), None, &ClientConfig::default(), |_, _| {
//!     Err::<udpctl::SenderReport, _>("must not flood")
//! })
//! .unwrap_err();
//! assert!(matches!(err, ClientError::Server(_)));
//! assert!(!err.to_string().contains('\x1b'));
//! assert_eq!(server.join().len(), 1, "the server read the run request");
//! ```

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::frame::{self, DeadlineReader, MAX_FRAME, MAX_REPLY_FRAME};
use crate::msg::{self, Ready, ReceiverReport, ReceiverSummary, RunResult, ServerMsg};

/// How long a [`FakeServer`] waits for its client to connect, and for each of its messages.
pub const FAKE_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a [`FakeServer`] keeps the connection open after its last reply, so the client
/// reads it before the close.
pub const FAKE_SERVER_LINGER: Duration = Duration::from_millis(200);

/// What a [`FakeServer`] answers.
#[derive(Debug, Clone)]
pub enum Script {
    /// Read the run request, answer with this message (typically an `error`), close.
    Reply(ServerMsg),
    /// Play a whole run: read the run request, answer `ready` (one sender, flow base 0, a UDP
    /// data port bound on 127.0.0.1 that nobody reads), read the client's `done`, answer a
    /// `result` with an empty receiver summary (`elapsed_ns` 1) and `detail` as the receiver's
    /// detail; `ready` and `result` both carry `run_id`.
    Run {
        /// The run id in `ready` and `result` (need not be valid: that is the point).
        run_id: String,
        /// The receiver report's `detail`.
        detail: serde_json::Value,
    },
}

impl Script {
    /// [`Script::Run`] with `run_id` and an empty detail (`{}`).
    pub fn run(run_id: impl Into<String>) -> Script {
        Script::Run { run_id: run_id.into(), detail: serde_json::json!({}) }
    }
}

/// A one-connection fake control server on 127.0.0.1 that plays a [`Script`] (see the module
/// docs). Dropping it leaves the server thread to finish on its own (within its deadlines).
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl FakeServer {
    /// Binds 127.0.0.1 on a free port and serves one connection with `script` on a thread.
    pub fn start(script: Script) -> io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let data = UdpSocket::bind("127.0.0.1:0")?;
        let thread = thread::Builder::new()
            .name("udpctl-fake-server".into())
            .spawn(move || play(&listener, &data, script))?;
        Ok(FakeServer { addr, thread })
    }

    /// The control address to give the client.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server is done (its deadlines bound the wait) and returns the payloads
    /// of the frames the client sent, in order (the run request, then `done` or `abort`);
    /// empty if no client connected in time.
    pub fn join(self) -> Vec<Vec<u8>> {
        self.thread.join().unwrap_or_default()
    }
}

/// Accepts one connection (within [`FAKE_SERVER_TIMEOUT`]) and plays `script` on it.
fn play(listener: &TcpListener, data: &UdpSocket, script: Script) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let Some(s) = accept_within(listener, FAKE_SERVER_TIMEOUT) else { return got };
    let deadline = Instant::now() + FAKE_SERVER_TIMEOUT;
    if let Ok(p) = frame::read_frame(&mut DeadlineReader::new(&s, deadline), MAX_FRAME) {
        got.push(p);
    }
    let mut w = &s;
    match script {
        Script::Reply(reply) => {
            let _ = frame::write_frame(&mut w, &msg::encode(&reply));
        }
        Script::Run { run_id, detail } => {
            let data_port = data.local_addr().map(|a| a.port()).unwrap_or(0);
            let ready = Ready {
                run_id: run_id.clone(),
                data_port,
                senders: 1,
                sender_index: 0,
                flow_base: 0,
                same_host: true,
            };
            let _ = frame::write_frame(&mut w, &msg::encode(&ServerMsg::Ready(ready)));
            let deadline = Instant::now() + FAKE_SERVER_TIMEOUT;
            if let Ok(p) =
                frame::read_frame(&mut DeadlineReader::new(&s, deadline), MAX_REPLY_FRAME)
            {
                got.push(p);
            }
            let summary = ReceiverSummary { elapsed_ns: 1, ..ReceiverSummary::default() };
            let result = RunResult {
                run_id,
                senders: 1,
                receiver: ReceiverReport { summary, detail },
                sender_reports: Vec::new(),
            };
            let _ = frame::write_frame(&mut w, &msg::encode(&ServerMsg::Result(result)));
        }
    }
    thread::sleep(FAKE_SERVER_LINGER);
    got
}

/// One connection from `listener`, or `None` if none arrives within `wait`.
fn accept_within(listener: &TcpListener, wait: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).ok()?;
                return Some(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::ClientMsg;

    #[test]
    fn accept_gives_up_after_its_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let t0 = Instant::now();
        assert!(accept_within(&listener, Duration::from_millis(50)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_reply_script_answers_the_first_frame_with_its_message() {
        let reply = ServerMsg::Error(crate::ErrorReply::new(crate::ErrorCode::Busy, "x"));
        let server = FakeServer::start(Script::Reply(reply.clone())).unwrap();
        let s = TcpStream::connect(server.addr()).unwrap();
        let abort = ClientMsg::Abort { reason: "hello".into() };
        frame::write_frame(&mut &s, &msg::encode(&abort)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = frame::read_frame(&mut DeadlineReader::new(&s, deadline), MAX_REPLY_FRAME);
        assert_eq!(msg::decode::<ServerMsg>(&got.unwrap()).unwrap(), reply);
        assert_eq!(server.join(), vec![msg::encode(&abort)]);
    }
}
