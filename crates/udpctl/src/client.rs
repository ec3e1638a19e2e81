//! The client side: ask a `udprx serve` for a run, flood, collect the receiver's report.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::clock::{ClockSample, OffsetEstimate, estimate_offset};
use crate::frame::{self, DeadlineReader, FrameError, MAX_REPLY_FRAME};
use crate::msg::{
    self, AgentHello, ClientMsg, DecodeError, ErrorReply, FloodRequest, FloodResult, Ready,
    RunRequest, RunResult, SenderReport, ServerMsg,
};
use crate::text::escape_limited;
use udpprobe::Clock;

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
            _ => Err(ClientError::Protocol("expected ready".into())),
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
            _ => Err(ClientError::Protocol("expected the run's result".into())),
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

/// How long past a flood's duration the client waits for its result.
pub const FLOOD_RESULT_GRACE: Duration = Duration::from_secs(10);

/// An open, authenticated connection to a sender agent (`udpflood agent`): the bench's handle
/// on one sending host.
///
/// ```no_run
/// # use udpctl::client::{AgentClient, ClientConfig};
/// # use udpctl::FloodRequest;
/// let mut agent = AgentClient::connect("198.18.0.2:7400".parse().unwrap(), Some("s3cret"),
///     &ClientConfig::default())?;
/// let clock = agent.estimate_offset(udpprobe::Clock::Monotonic, 8)?;
/// # let req: FloodRequest = unimplemented!();
/// let result = agent.flood(&req)?;
/// # Ok::<(), udpctl::ClientError>(())
/// ```
/// Dropping the client closes the connection, which stops a running flood within about a
/// second on the agent.
#[derive(Debug)]
pub struct AgentClient {
    session: Session,
    hello: AgentHello,
}

impl AgentClient {
    /// Connects and authenticates with one `hello` (the agent checks the token on the first
    /// message); the agent's capabilities and limits are then in [`AgentClient::hello`].
    pub fn connect(
        agent: SocketAddr,
        token: Option<&str>,
        cfg: &ClientConfig,
    ) -> Result<AgentClient, ClientError> {
        let mut session = Session::connect(agent, cfg)?;
        let (hello, _) = hello_on(&mut session, token, Clock::Monotonic)?;
        Ok(AgentClient { session, hello })
    }

    /// The agent's first `hello` answer: capabilities, limits, the address it sees us at.
    pub fn hello(&self) -> &AgentHello {
        &self.hello
    }

    /// One clock sample of `clock` (four timestamps).
    pub fn clock_sample(&mut self, clock: Clock) -> Result<ClockSample, ClientError> {
        let (_, sample) = hello_on(&mut self.session, None, clock)?;
        Ok(sample)
    }

    /// `n` (at least 1) clock samples and the offset estimate from the tightest
    /// ([`estimate_offset`]). An error if no sample was consistent (a clock stepped).
    pub fn estimate_offset(
        &mut self,
        clock: Clock,
        n: usize,
    ) -> Result<OffsetEstimate, ClientError> {
        let mut samples = Vec::with_capacity(n.max(1));
        for _ in 0..n.max(1) {
            samples.push(self.clock_sample(clock)?);
        }
        estimate_offset(&samples).ok_or_else(|| {
            ClientError::Protocol("no consistent clock sample (did a clock step?)".into())
        })
    }

    /// Asks for a flood and waits for its result (the duration plus [`FLOOD_RESULT_GRACE`]).
    /// A refusal (`invalid`, `busy`, ...) is [`ClientError::Server`]; the agent then closes the
    /// connection, so connect again for the next request.
    pub fn flood(&mut self, req: &FloodRequest) -> Result<FloodResult, ClientError> {
        self.session.send(&ClientMsg::Flood { token: None, request: req.clone() })?;
        let deadline = Instant::now() + Duration::from_millis(req.duration_ms) + FLOOD_RESULT_GRACE;
        match self.session.recv(deadline)? {
            ServerMsg::FloodResult(r) => Ok(r),
            ServerMsg::Error(e) => Err(ClientError::Server(e)),
            _ => Err(ClientError::Protocol("expected a flood result".into())),
        }
    }

    /// Asks the agent to stop the running flood (its result still follows).
    pub fn abort(&mut self, reason: &str) -> Result<(), ClientError> {
        self.session.abort(reason)
    }
}

/// One `hello` exchange on `session`: the agent's answer and the four timestamps.
fn hello_on(
    session: &mut Session,
    token: Option<&str>,
    clock: Clock,
) -> Result<(AgentHello, ClockSample), ClientError> {
    let t1_ns = udpprobe::now_ns(clock);
    session.send(&ClientMsg::Hello { token: token.map(str::to_owned), clock, t1_ns })?;
    let reply = session.recv(Instant::now() + session.cfg.connect_timeout)?;
    let t4_ns = udpprobe::now_ns(clock);
    match reply {
        ServerMsg::Hello(h) if h.t1_ns == t1_ns && h.clock == clock => {
            let sample = ClockSample { t1_ns, t2_ns: h.t2_ns, t3_ns: h.t3_ns, t4_ns };
            Ok((h, sample))
        }
        ServerMsg::Hello(_) => {
            Err(ClientError::Protocol("hello answer for another request".into()))
        }
        ServerMsg::Error(e) => Err(ClientError::Server(e)),
        _ => Err(ClientError::Protocol("expected a hello answer".into())),
    }
}
