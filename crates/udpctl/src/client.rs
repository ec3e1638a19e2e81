//! The client side: ask a `udprx serve` for a run, flood, collect the receiver's report.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::frame::{self, DeadlineReader, FrameError, MAX_REPLY_FRAME};
use crate::msg::{
    self, ClientMsg, DecodeError, ErrorReply, Ready, RunRequest, RunResult, SenderReport, ServerMsg,
};
use crate::text::escape_limited;

/// Longest part of a server-supplied text a [`ClientError`] shows, in characters.
pub const REPLY_TEXT_LIMIT: usize = 1024;

/// Client timeouts and limits.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// How long to wait for `ready` (other senders of an N:1 run may still be joining).
    pub ready_timeout: Duration,
    /// Added to the run's duration when waiting for the `result` after `done`.
    pub result_grace: Duration,
    /// Deadline on every write.
    pub write_timeout: Duration,
    /// Largest reply accepted.
    pub max_reply: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            ready_timeout: Duration::from_secs(40),
            result_grace: Duration::from_secs(45),
            write_timeout: Duration::from_secs(5),
            max_reply: MAX_REPLY_FRAME,
        }
    }
}

/// Why a remote run failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect to the control port.
    #[error("cannot connect to the control port {addr}: {source}")]
    Connect {
        /// Server address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The control connection failed.
    #[error("control connection: {0}")]
    Io(#[from] io::Error),
    /// The server's reply was not a valid frame.
    #[error("bad reply frame: {0}")]
    Frame(#[from] FrameError),
    /// The server's reply was not a valid message (shown escaped: it may quote the reply).
    #[error("bad reply: {}", escape_limited(&.0.to_string(), REPLY_TEXT_LIMIT))]
    Decode(#[from] DecodeError),
    /// The server refused or failed the run (its message is shown escaped).
    #[error("server error ({}): {}", .0.code, escape_limited(&.0.message, REPLY_TEXT_LIMIT))]
    Server(ErrorReply),
    /// The server sent a message that does not fit the exchange.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The local flood failed (the server was told with `abort`).
    #[error("flood failed: {0}")]
    Flood(String),
}

/// A completed remote run: what this sender was told, what it sent, what the receiver saw.
#[derive(Debug, Clone)]
pub struct RemoteRun {
    /// Control address.
    pub server: SocketAddr,
    /// Where the datagrams went.
    pub data_addr: SocketAddr,
    /// The server's go-ahead.
    pub ready: Ready,
    /// This sender's own report.
    pub sender: SenderReport,
    /// The run's result: the receiver's report and every sender's.
    pub result: RunResult,
}

/// An open control session, for callers that want to drive the steps themselves.
#[derive(Debug)]
pub struct Session {
    stream: TcpStream,
    server: SocketAddr,
    cfg: ClientConfig,
}

impl Session {
    /// Connects to `server`.
    pub fn connect(server: SocketAddr, cfg: &ClientConfig) -> Result<Session, ClientError> {
        let stream = TcpStream::connect_timeout(&server, cfg.connect_timeout)
            .map_err(|source| ClientError::Connect { addr: server, source })?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(cfg.write_timeout))?;
        Ok(Session { stream, server, cfg: cfg.clone() })
    }

    /// Sends the run request and waits for `ready`.
    pub fn request(&mut self, req: &RunRequest, token: Option<&str>) -> Result<Ready, ClientError> {
        self.send(&ClientMsg::Run { token: token.map(str::to_owned), request: req.clone() })?;
        match self.recv(Instant::now() + self.cfg.ready_timeout)? {
            ServerMsg::Ready(r) => Ok(r),
            ServerMsg::Error(e) => Err(ClientError::Server(e)),
            ServerMsg::Result(_) => Err(ClientError::Protocol("got result before ready".into())),
        }
    }

    /// Reports what was sent and waits for the run's result.
    pub fn done(
        &mut self,
        sender: &SenderReport,
        duration: Duration,
    ) -> Result<RunResult, ClientError> {
        self.send(&ClientMsg::Done { sender: sender.clone() })?;
        match self.recv(Instant::now() + duration + self.cfg.result_grace)? {
            ServerMsg::Result(r) => Ok(r),
            ServerMsg::Error(e) => Err(ClientError::Server(e)),
            ServerMsg::Ready(_) => Err(ClientError::Protocol("got a second ready".into())),
        }
    }

    /// Tells the server this sender gives up.
    pub fn abort(&mut self, reason: &str) -> Result<(), ClientError> {
        self.send(&ClientMsg::Abort { reason: reason.chars().take(1000).collect() })
    }

    /// The server's control address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn send(&mut self, m: &ClientMsg) -> Result<(), ClientError> {
        let mut s = &self.stream;
        frame::write_frame(&mut s, &msg::encode(m))?;
        Ok(())
    }

    fn recv(&mut self, deadline: Instant) -> Result<ServerMsg, ClientError> {
        let payload = frame::read_frame(
            &mut DeadlineReader::new(&self.stream, deadline),
            self.cfg.max_reply,
        )?;
        Ok(msg::decode::<ServerMsg>(&payload)?)
    }
}

/// Runs one remote measurement: request, `flood` (given the go-ahead and the data address),
/// `done`, result.
///
/// The data address is the server's control IP with the data port from `ready`. If `flood`
/// fails, the server is told with `abort` and the error is returned.
pub fn run_remote<F, E>(
    server: SocketAddr,
    req: &RunRequest,
    token: Option<&str>,
    cfg: &ClientConfig,
    flood: F,
) -> Result<RemoteRun, ClientError>
where
    F: FnOnce(&Ready, SocketAddr) -> Result<SenderReport, E>,
    E: fmt::Display,
{
    let mut session = Session::connect(server, cfg)?;
    let ready = session.request(req, token)?;
    let data_addr = SocketAddr::new(server.ip(), ready.data_port);
    let sender = match flood(&ready, data_addr) {
        Ok(s) => s,
        Err(e) => {
            let reason = e.to_string();
            let _ = session.abort(&reason);
            return Err(ClientError::Flood(reason));
        }
    };
    let result = session.done(&sender, Duration::from_millis(req.duration_ms))?;
    Ok(RemoteRun { server, data_addr, ready, sender, result })
}
