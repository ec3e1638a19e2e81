//! The control server: accepts run requests, drives a [`RunExecutor`], answers with results.
//!
//! Each connection gets its own thread (at most [`ServerConfig::max_connections`], and at most
//! [`ServerConfig::max_per_source`] from one source address; beyond that a connection is refused
//! at once with `too_many_connections`). Every read has a deadline, so a client that connects and
//! sends nothing is dropped after [`ServerConfig::handshake_timeout`] without holding anyone else
//! up.
//!
//! Authentication comes first: of the first message, only the frame header and the top-level
//! `token` are looked at before the token is checked (in constant time); a peer without the
//! right token gets a fixed `unauthorized` reply that echoes nothing it sent. Failed tokens slow
//! their source down ([`Backoff`]): a blocked source is refused (`throttled`) before anything is
//! read. Peer-supplied text in replies and [`ServerEvent`]s is [escaped](crate::text::escape),
//! and rejections reach the observer at a bounded rate (the rest are counted).
//!
//! One run at a time: a request while a run is armed or running gets `busy`, unless it joins an
//! N:1 run (same `run_id` and identical parameters) that still waits for senders.
//!
//! The server never executes anything a client sends: a request only selects among the receive
//! set-ups the executor offers, within [`Limits`]. It writes nothing but its own report file.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::auth::{AllowList, ct_eq};
use crate::frame::{self, DeadlineReader, FrameError, MAX_FRAME, MAX_REPLY_FRAME};
use crate::msg::{
    self, ClientMsg, ErrorCode, ErrorReply, PROTOCOL_VERSION, Ready, ReceiverReport, RunRequest,
    RunResult, SenderReport, ServerMsg,
};
use crate::sources::{Admit, Backoff, LogLimiter, SourceTable};
use crate::text::{LOG_LIMIT, escape_limited};
use crate::validate::{Limits, validate};

/// A receive set-up or run that failed on the server side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// What actually receives: the server calls it, tests substitute a fake.
pub trait RunExecutor: Send + Sync + 'static {
    /// Method names a request may ask for.
    fn methods(&self) -> Vec<String>;
    /// Binds the data socket(s) for `req` on `bind_ip` (the address the client connected to)
    /// without starting to measure yet. The request has been validated.
    fn prepare(&self, req: &RunRequest, bind_ip: IpAddr) -> Result<Box<dyn RunHandle>, ExecError>;
}

/// A prepared receive run.
pub trait RunHandle: Send {
    /// The bound UDP data port.
    fn data_port(&self) -> u16;
    /// Starts measuring: every sender has joined and is about to get `ready`.
    fn begin(&mut self) -> Result<(), ExecError>;
    /// Every sender is done: let in-flight datagrams land (up to `drain`), stop, and report.
    /// `senders` are the reports that reached the server (the receiver may record what was
    /// sent, e.g. for its loss accounting).
    fn finish(
        self: Box<Self>,
        drain: Duration,
        senders: &[SenderReport],
    ) -> Result<ReceiverReport, ExecError>;
}

/// Something the server did, for logging by the embedding program.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// A connection was answered with an error and closed (or refused at once).
    ///
    /// Rejections reach the observer at most [`REJECT_LOG_PER_SEC`] per second on average
    /// (bursts of [`REJECT_LOG_BURST`]); the others are only counted.
    Rejected {
        /// Peer address.
        peer: SocketAddr,
        /// Why; peer-supplied text in the message is already escaped.
        error: ErrorReply,
        /// Rejections held back by the rate limit since the previous `Rejected` event.
        suppressed: u64,
    },
    /// A run started (all senders joined).
    RunStarted {
        /// Run name (validated: `[A-Za-z0-9._-]`, or made up by the server).
        run_id: String,
        /// Data port.
        data_port: u16,
        /// The senders' control addresses.
        peers: Vec<SocketAddr>,
    },
    /// A run ended (successfully or not); the record is what the report file holds.
    RunFinished(Box<RunRecord>),
}

/// Average rate at which rejections are passed to the observer.
pub const REJECT_LOG_PER_SEC: f64 = 5.0;

/// Rejections passed to the observer at once before the rate limit applies.
pub const REJECT_LOG_BURST: u32 = 20;

/// Callback for [`ServerEvent`]s.
pub type Observer = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

/// Server settings.
#[derive(Clone)]
pub struct ServerConfig {
    /// Shared secret a request must carry (compared in constant time); `None`: no token.
    pub token: Option<String>,
    /// Source addresses allowed (empty: all).
    pub allow: AllowList,
    /// Bounds on requests.
    pub limits: Limits,
    /// Deadline for the first message after connecting.
    pub handshake_timeout: Duration,
    /// How long an N:1 run waits for all its senders to join.
    pub join_timeout: Duration,
    /// Extra time beyond the run's duration for a sender's `done` to arrive.
    pub result_margin: Duration,
    /// Deadline on every write.
    pub write_timeout: Duration,
    /// Time the receiver keeps draining after the last `done`.
    pub drain: Duration,
    /// Concurrent control connections; more are refused immediately.
    pub max_connections: usize,
    /// Concurrent control connections from one source (an IPv4 address or an IPv6 /64); more
    /// are refused immediately. Keep it at least [`Limits::max_senders`] if the senders of an
    /// N:1 run share a host.
    pub max_per_source: usize,
    /// How failed tokens slow their source down.
    pub auth_backoff: Backoff,
    /// Where to write each run's [`RunRecord`] (JSON, replaced atomically), if anywhere.
    pub report_path: Option<PathBuf>,
    /// Event callback.
    pub observer: Option<Observer>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            token: None,
            allow: AllowList::default(),
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(2),
            join_timeout: Duration::from_secs(30),
            result_margin: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            drain: Duration::from_millis(300),
            max_connections: 128,
            max_per_source: 20,
            auth_backoff: Backoff::default(),
            report_path: None,
            observer: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("allow", &self.allow)
            .field("limits", &self.limits)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("join_timeout", &self.join_timeout)
            .field("result_margin", &self.result_margin)
            .field("write_timeout", &self.write_timeout)
            .field("drain", &self.drain)
            .field("max_connections", &self.max_connections)
            .field("max_per_source", &self.max_per_source)
            .field("auth_backoff", &self.auth_backoff)
            .field("report_path", &self.report_path)
            .finish_non_exhaustive()
    }
}

/// What the server writes to its report file after each run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// Protocol version.
    pub v: u64,
    /// Run name.
    pub run_id: String,
    /// The request as validated.
    pub request: RunRequest,
    /// UDP data port.
    pub data_port: u16,
    /// Senders' control addresses, in join order.
    pub peers: Vec<String>,
    /// The receiver's report, when the run completed.
    pub receiver: Option<ReceiverReport>,
    /// The senders' reports that arrived.
    pub sender_reports: Vec<SenderReport>,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// Counters of what the server did (for tests and logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted (handled on a thread).
    pub accepted: u64,
    /// Connections refused because too many were open (in all, or from that source).
    pub refused: u64,
    /// Connections refused because their source is blocked after failed tokens.
    pub throttled: u64,
    /// Requests with a missing or wrong token.
    pub auth_failures: u64,
    /// Rejections not passed to the observer (log rate limit).
    pub log_suppressed: u64,
    /// Connections answered with an error.
    pub rejected: u64,
    /// Connections dropped for sending nothing (or too little) in time.
    pub timed_out: u64,
    /// Runs that completed with a receiver report.
    pub runs_completed: u64,
    /// Runs that failed.
    pub runs_failed: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    throttled: AtomicU64,
    auth_failures: AtomicU64,
    log_suppressed: AtomicU64,
    rejected: AtomicU64,
    timed_out: AtomicU64,
    runs_completed: AtomicU64,
    runs_failed: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ServerStats {
        ServerStats {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
            log_suppressed: self.log_suppressed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
            runs_completed: self.runs_completed.load(Ordering::Relaxed),
            runs_failed: self.runs_failed.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Joining,
    Running,
    Finishing,
    Done,
    Failed,
}

struct RunState {
    phase: Phase,
    joined: u32,
    /// Joined senders that have not yet sent `done` (or vanished) since the run started.
    outstanding: u32,
    handle: Option<Box<dyn RunHandle>>,
    peers: Vec<SocketAddr>,
    sender_reports: Vec<Option<SenderReport>>,
    receiver: Option<ReceiverReport>,
    error: Option<ErrorReply>,
}

struct Run {
    id: String,
    req: RunRequest,
    data_port: u16,
    join_deadline: Instant,
    state: Mutex<RunState>,
    cv: Condvar,
}

struct Shared<E> {
    cfg: ServerConfig,
    exec: E,
    methods: Vec<String>,
    slot: Mutex<Option<Arc<Run>>>,
    open: AtomicUsize,
    sources: Mutex<SourceTable>,
    log: Mutex<LogLimiter>,
    counters: Counters,
    run_seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves forever on `listener` (the `udprx serve` loop). Returns only on a listener error that
/// is not transient.
pub fn serve<E: RunExecutor>(
    listener: TcpListener,
    config: ServerConfig,
    executor: E,
) -> io::Result<()> {
    let shared = Arc::new(make_shared(config, executor));
    accept_loop(&listener, &shared, &AtomicBool::new(false))
}

/// Starts the server on a background thread; the handle stops it.
pub fn spawn<E: RunExecutor>(
    listener: TcpListener,
    config: ServerConfig,
    executor: E,
) -> io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(make_shared(config, executor));
    let stop = Arc::new(AtomicBool::new(false));
    let counters_of = {
        let shared = Arc::clone(&shared);
        Box::new(move || shared.counters.snapshot()) as Box<dyn Fn() -> ServerStats + Send + Sync>
    };
    let thread = {
        let stop = Arc::clone(&stop);
        thread::Builder::new().name("udpctl-accept".into()).spawn(move || {
            let _ = accept_loop(&listener, &shared, &stop);
        })?
    };
    Ok(ServerHandle { addr, stop, thread: Some(thread), stats: counters_of })
}

/// Sources the server keeps track of beyond those with open connections.
const SPARE_SOURCES: usize = 256;

fn make_shared<E: RunExecutor>(cfg: ServerConfig, exec: E) -> Shared<E> {
    let methods = exec.methods();
    // Every source with an open connection has a slot (at most max_connections of them), and
    // idle ones (failure counts) share the spare slots.
    let capacity = cfg.max_connections.saturating_add(SPARE_SOURCES).min(1 << 16);
    let sources = SourceTable::new(capacity, cfg.max_per_source, cfg.auth_backoff);
    Shared {
        sources: Mutex::new(sources),
        log: Mutex::new(LogLimiter::new(REJECT_LOG_PER_SEC, REJECT_LOG_BURST)),
        cfg,
        exec,
        methods,
        slot: Mutex::new(None),
        open: AtomicUsize::new(0),
        counters: Counters::default(),
        run_seq: AtomicU64::new(0),
    }
}

/// A server running on a background thread.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Box<dyn Fn() -> ServerStats + Send + Sync>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The control address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        (self.stats)()
    }

    /// Stops accepting and joins the accept thread (connection threads finish on their own).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// Releases a connection's global and per-source slots when its thread ends.
struct OpenGuard<'a, E> {
    shared: &'a Shared<E>,
    ip: IpAddr,
}
impl<E> Drop for OpenGuard<'_, E> {
    fn drop(&mut self) {
        lock(&self.shared.sources).release(self.ip);
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept_loop<E: RunExecutor>(
    listener: &TcpListener,
    shared: &Arc<Shared<E>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => match e.kind() {
                // Transient: a peer that reset before accept, or fd exhaustion (wait it out).
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock => continue,
                _ if e.raw_os_error().is_some_and(|c| {
                    c == libc_emfile() || c == libc_enfile() || c == libc_enomem()
                }) =>
                {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
                _ => return Err(e),
            },
        };
        // Per source first (a blocked source is refused before anything is read), then the
        // global limit.
        let ip = peer.ip();
        let admitted = lock(&shared.sources).admit(ip, Instant::now());
        let refusal = match admitted {
            Admit::Yes => None,
            Admit::Throttled(left) => {
                shared.counters.throttled.fetch_add(1, Ordering::Relaxed);
                Some(ErrorReply::new(
                    ErrorCode::Throttled,
                    format!(
                        "too many failed tokens from {ip}; refused for another {:.1} s",
                        left.as_secs_f64()
                    ),
                ))
            }
            Admit::PerSource => Some(ErrorReply::new(
                ErrorCode::TooManyConnections,
                format!(
                    "{ip} already has {} control connections open; try again later",
                    shared.cfg.max_per_source
                ),
            )),
            Admit::TableFull => Some(too_many(shared.cfg.max_connections)),
        };
        let refusal = refusal.or_else(|| {
            let open = shared.open.fetch_add(1, Ordering::SeqCst);
            if open < shared.cfg.max_connections {
                return None;
            }
            shared.open.fetch_sub(1, Ordering::SeqCst);
            lock(&shared.sources).release(ip);
            Some(too_many(shared.cfg.max_connections))
        });
        if let Some(reply) = refusal {
            if reply.code == ErrorCode::TooManyConnections {
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
            log_rejection(shared, peer, &reply);
            refuse_now(stream, &reply);
            continue;
        }
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let sh = Arc::clone(shared);
        let spawned = thread::Builder::new().name("udpctl-conn".into()).spawn(move || {
            let _guard = OpenGuard { shared: &*sh, ip };
            handle_conn(&sh, stream, peer);
        });
        if spawned.is_err() {
            // The closure (and its stream) was dropped; undo the counts it would have released.
            lock(&shared.sources).release(ip);
            shared.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

// Error numbers for fd/memory exhaustion on Linux (no libc dependency in this crate).
const fn libc_emfile() -> i32 {
    24
}
const fn libc_enfile() -> i32 {
    23
}
const fn libc_enomem() -> i32 {
    12
}

fn too_many(max: usize) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::TooManyConnections,
        format!("the server already has {max} control connections open; try again later"),
    )
}

/// Best-effort refusal without blocking the accept loop: one non-blocking write, then close.
fn refuse_now(stream: TcpStream, reply: &ErrorReply) {
    let reply = ServerMsg::Error(reply.clone());
    if stream.set_nonblocking(true).is_ok() {
        if let Some(frame) = frame::encode_frame(&msg::encode(&reply)) {
            let mut s = &stream;
            let _ = s.write(&frame);
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn send(stream: &TcpStream, msg: &ServerMsg) -> io::Result<()> {
    let mut s = stream;
    frame::write_frame(&mut s, &msg::encode(msg))
}

/// Answers with an error, then closes gracefully: half-close, and drain what the peer still sends
/// (bounded) so the kernel does not reset the connection before the reply is read.
fn reject<E>(shared: &Shared<E>, stream: &TcpStream, peer: SocketAddr, error: ErrorReply) {
    shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
    log_rejection(shared, peer, &error);
    let _ = send(stream, &ServerMsg::Error(error));
    close_gracefully(stream);
}

/// Tells the observer about a rejection, within the log rate limit.
fn log_rejection<E>(shared: &Shared<E>, peer: SocketAddr, error: &ErrorReply) {
    let Some(obs) = &shared.cfg.observer else { return };
    let Some(suppressed) = lock(&shared.log).admit(Instant::now()) else {
        shared.counters.log_suppressed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let error = ErrorReply::new(error.code, escape_limited(&error.message, LOG_LIMIT));
    notify(obs, &ServerEvent::Rejected { peer, error, suppressed });
}

fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut left = MAX_FRAME;
    let mut r = DeadlineReader::new(stream, deadline);
    while left > 0 {
        match r.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn frame_error_reply(e: &FrameError, what: &str, timeout: Duration) -> Option<ErrorReply> {
    Some(match e {
        FrameError::Closed | FrameError::Io(_) => return None,
        FrameError::Timeout => ErrorReply::new(
            ErrorCode::Timeout,
            format!("no complete {what} within {:.1} s", timeout.as_secs_f64()),
        ),
        FrameError::TooLarge { .. } => ErrorReply::new(ErrorCode::TooLarge, e.to_string()),
        FrameError::Truncated { .. } | FrameError::Empty => {
            ErrorReply::new(ErrorCode::BadFrame, e.to_string())
        }
    })
}

fn read_client_msg(stream: &TcpStream, deadline: Instant) -> Result<ClientMsg, ReadFailure> {
    let payload = frame::read_frame(&mut DeadlineReader::new(stream, deadline), MAX_FRAME)
        .map_err(ReadFailure::Frame)?;
    decode_client_msg(&payload).map_err(ReadFailure::Reply)
}

/// Decodes a message of an authenticated (or token-less) peer; the error's text quotes bits of
/// the input, so it is escaped and shortened.
fn decode_client_msg(payload: &[u8]) -> Result<ClientMsg, ErrorReply> {
    msg::decode::<ClientMsg>(payload)
        .map_err(|e| ErrorReply::new(e.code(), escape_limited(&e.to_string(), LOG_LIMIT)))
}

enum ReadFailure {
    Frame(FrameError),
    Reply(ErrorReply),
}

fn handle_conn<E: RunExecutor>(shared: &Shared<E>, stream: TcpStream, peer: SocketAddr) {
    let cfg = &shared.cfg;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(cfg.write_timeout));
    if !cfg.allow.allows(peer.ip()) {
        let e = ErrorReply::new(
            ErrorCode::Forbidden,
            format!("source address {} is not in the server's allow-list", peer.ip()),
        );
        return reject(shared, &stream, peer, e);
    }
    let deadline = Instant::now() + cfg.handshake_timeout;
    let payload = match frame::read_frame(&mut DeadlineReader::new(&stream, deadline), MAX_FRAME) {
        Ok(p) => p,
        Err(e) => {
            if matches!(e, FrameError::Timeout) {
                shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            match frame_error_reply(&e, "request", cfg.handshake_timeout) {
                Some(reply) => return reject(shared, &stream, peer, reply),
                None => return,
            }
        }
    };
    // Authenticate before decoding: only the top-level token is looked at, and a peer without
    // the right one hears a fixed answer that quotes nothing it sent.
    if let Some(expected) = &cfg.token {
        let given = msg::peek_token(&payload);
        if !given.is_some_and(|g| ct_eq(g.as_bytes(), expected.as_bytes())) {
            shared.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            let block = lock(&shared.sources).auth_failed(peer.ip(), Instant::now());
            let mut text = String::from("missing or wrong token");
            if let Some(block) = block {
                text.push_str(&format!(
                    "; after repeated failures, requests from {} are refused for {:.1} s",
                    peer.ip(),
                    block.as_secs_f64()
                ));
            }
            return reject(shared, &stream, peer, ErrorReply::new(ErrorCode::Unauthorized, text));
        }
        lock(&shared.sources).auth_ok(peer.ip());
    }
    let request = match decode_client_msg(&payload) {
        Ok(ClientMsg::Run { request, .. }) => request,
        Ok(_) => {
            let e =
                ErrorReply::new(ErrorCode::Unexpected, "the first message must be a run request");
            return reject(shared, &stream, peer, e);
        }
        Err(e) => return reject(shared, &stream, peer, e),
    };
    if let Err(why) = validate(&request, &cfg.limits, &shared.methods) {
        return reject(shared, &stream, peer, ErrorReply::new(ErrorCode::Invalid, why));
    }
    let local_ip = match stream.local_addr() {
        Ok(a) => a.ip().to_canonical(),
        Err(_) => return,
    };
    let (run, index) = match arm_or_join(shared, request, peer, local_ip) {
        Ok(x) => x,
        Err(e) => return reject(shared, &stream, peer, e),
    };
    participate(shared, &stream, peer, local_ip, &run, index);
}

fn same_host(peer: IpAddr, local: IpAddr) -> bool {
    let (peer, local) = (peer.to_canonical(), local.to_canonical());
    peer == local || (peer.is_loopback() && local.is_loopback())
}

/// Arms a new run, or joins the armed N:1 run with the same id and parameters.
fn arm_or_join<E: RunExecutor>(
    shared: &Shared<E>,
    req: RunRequest,
    peer: SocketAddr,
    local_ip: IpAddr,
) -> Result<(Arc<Run>, u32), ErrorReply> {
    let mut slot = lock(&shared.slot);
    if let Some(run) = slot.as_ref() {
        let mut st = lock(&run.state);
        let joinable = st.phase == Phase::Joining
            && run.req.run_id.is_some()
            && run.req == req
            && st.joined < run.req.senders;
        if !joinable {
            let detail = match st.phase {
                Phase::Joining => format!(
                    "run '{}' is waiting for its senders ({} of {} joined); a sender joins it only \
                     with the same run_id and identical parameters",
                    run.id, st.joined, run.req.senders
                ),
                _ => format!("run '{}' is in progress", run.id),
            };
            return Err(ErrorReply::new(ErrorCode::Busy, format!("busy: {detail}; try later")));
        }
        let index = st.joined;
        st.joined += 1;
        st.peers.push(peer);
        if st.joined == run.req.senders {
            start_locked(shared, run, &mut st);
        }
        return Ok((Arc::clone(run), index));
    }
    let handle = shared.exec.prepare(&req, local_ip).map_err(|e| {
        ErrorReply::new(ErrorCode::RunFailed, format!("receive set-up failed: {e}"))
    })?;
    let id = req.run_id.clone().unwrap_or_else(|| {
        let n = shared.run_seq.fetch_add(1, Ordering::Relaxed);
        format!("run-{}-{n}", std::process::id())
    });
    let run = Arc::new(Run {
        id,
        data_port: handle.data_port(),
        join_deadline: Instant::now() + shared.cfg.join_timeout,
        state: Mutex::new(RunState {
            phase: Phase::Joining,
            joined: 1,
            outstanding: 0,
            handle: Some(handle),
            peers: vec![peer],
            sender_reports: vec![None; req.senders as usize],
            receiver: None,
            error: None,
        }),
        cv: Condvar::new(),
        req,
    });
    {
        let mut st = lock(&run.state);
        if run.req.senders == 1 {
            start_locked(shared, &run, &mut st);
        }
        if st.phase == Phase::Failed {
            return Err(st.error.clone().unwrap_or_else(|| {
                ErrorReply::new(ErrorCode::RunFailed, "receive run failed to start")
            }));
        }
    }
    *slot = Some(Arc::clone(&run));
    Ok((run, 0))
}

/// All senders joined: begin measuring. Called with the slot and run locks held.
fn start_locked<E>(shared: &Shared<E>, run: &Run, st: &mut RunState) {
    let began = match st.handle.as_mut() {
        Some(h) => h.begin(),
        None => Err(ExecError("no receive handle".into())),
    };
    match began {
        Ok(()) => {
            st.phase = Phase::Running;
            st.outstanding = st.joined;
        }
        Err(e) => {
            st.phase = Phase::Failed;
            st.handle = None;
            st.error = Some(ErrorReply::new(
                ErrorCode::RunFailed,
                format!("receive run failed to start: {e}"),
            ));
            shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    run.cv.notify_all();
}

fn clear_slot<E>(shared: &Shared<E>, run: &Arc<Run>) {
    let mut slot = lock(&shared.slot);
    if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, run)) {
        *slot = None;
    }
}

/// One sender's life in a run: wait for the others, `ready`, `done`, `result`.
fn participate<E: RunExecutor>(
    shared: &Shared<E>,
    stream: &TcpStream,
    peer: SocketAddr,
    local_ip: IpAddr,
    run: &Arc<Run>,
    index: u32,
) {
    let cfg = &shared.cfg;
    // 1. Wait until every sender has joined (or the join deadline passes).
    {
        let mut st = lock(&run.state);
        loop {
            match st.phase {
                Phase::Joining => {}
                Phase::Failed => {
                    let e = st
                        .error
                        .clone()
                        .unwrap_or_else(|| ErrorReply::new(ErrorCode::RunFailed, "the run failed"));
                    drop(st);
                    clear_slot(shared, run);
                    return reject(shared, stream, peer, e);
                }
                _ => break,
            }
            let now = Instant::now();
            if now >= run.join_deadline {
                let e = ErrorReply::new(
                    ErrorCode::JoinTimeout,
                    format!(
                        "only {} of {} senders joined run '{}' within {:.0} s",
                        st.joined,
                        run.req.senders,
                        run.id,
                        cfg.join_timeout.as_secs_f64()
                    ),
                );
                st.phase = Phase::Failed;
                st.handle = None;
                st.error = Some(e.clone());
                shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
                run.cv.notify_all();
                let record = record_locked(run, &st);
                drop(st);
                finish_record(shared, record);
                clear_slot(shared, run);
                return reject(shared, stream, peer, e);
            }
            st = run
                .cv
                .wait_timeout(st, run.join_deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    // 2. Go. The sender that completed the run announces it (outside the locks: an observer
    // may block on its output).
    if index + 1 == run.req.senders {
        if let Some(obs) = &cfg.observer {
            let peers = lock(&run.state).peers.clone();
            let ev =
                ServerEvent::RunStarted { run_id: run.id.clone(), data_port: run.data_port, peers };
            notify(obs, &ev);
        }
    }
    let flow_base = index * run.req.flows;
    let ready = Ready {
        run_id: run.id.clone(),
        data_port: run.data_port,
        senders: run.req.senders,
        sender_index: index,
        flow_base,
        same_host: same_host(peer.ip(), local_ip),
    };
    let started = Instant::now();
    let mut reply_error = None;
    if send(stream, &ServerMsg::Ready(ready)).is_err() {
        depart(shared, run);
        return;
    }
    // 3. The sender floods, then reports.
    let done_deadline = started + Duration::from_millis(run.req.duration_ms) + cfg.result_margin;
    match read_client_msg(stream, done_deadline) {
        Ok(ClientMsg::Done { sender }) => {
            let mut st = lock(&run.state);
            if let Some(slot) = st.sender_reports.get_mut(index as usize) {
                *slot = Some(sender);
            }
        }
        Ok(ClientMsg::Abort { .. }) => {}
        Ok(ClientMsg::Run { .. }) => {
            reply_error =
                Some(ErrorReply::new(ErrorCode::Unexpected, "expected done or abort, got run"));
        }
        Err(ReadFailure::Reply(e)) => reply_error = Some(e),
        Err(ReadFailure::Frame(e)) => {
            if matches!(e, FrameError::Timeout) {
                shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            let budget = Duration::from_millis(run.req.duration_ms) + cfg.result_margin;
            reply_error = frame_error_reply(&e, "done report", budget);
            if reply_error.is_none() {
                depart(shared, run);
                return;
            }
        }
    }
    depart(shared, run);
    if let Some(e) = reply_error {
        return reject(shared, stream, peer, e);
    }
    // 4. Wait for the run's result and hand it over.
    let result_deadline = Instant::now()
        + Duration::from_millis(run.req.duration_ms)
        + cfg.result_margin
        + cfg.drain
        + Duration::from_secs(30);
    let mut st = lock(&run.state);
    loop {
        match st.phase {
            Phase::Done => {
                let result = RunResult {
                    run_id: run.id.clone(),
                    senders: st.joined,
                    receiver: st.receiver.clone().expect("Done implies a receiver report"),
                    sender_reports: st.sender_reports.iter().flatten().cloned().collect(),
                };
                drop(st);
                let _ = send(stream, &ServerMsg::Result(fit_reply(result)));
                close_gracefully(stream);
                return;
            }
            Phase::Failed => {
                let e = st
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorReply::new(ErrorCode::RunFailed, "the run failed"));
                drop(st);
                return reject(shared, stream, peer, e);
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= result_deadline {
            drop(st);
            let e = ErrorReply::new(ErrorCode::RunFailed, "the receiver did not produce a report");
            return reject(shared, stream, peer, e);
        }
        st = run.cv.wait_timeout(st, result_deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Keeps a result within what clients read ([`MAX_REPLY_FRAME`]): if the full reports do not
/// fit, their `detail` is replaced by a note (the summaries, which the combined report reads,
/// always stay; the server's own report file keeps everything).
fn fit_reply(mut result: RunResult) -> RunResult {
    if msg::encode(&ServerMsg::Result(result.clone())).len() + frame::LEN_PREFIX <= MAX_REPLY_FRAME
    {
        return result;
    }
    let note = serde_json::json!({
        "omitted": "the full report exceeded the reply limit; see the server's --json file"
    });
    result.receiver.detail = note.clone();
    for s in &mut result.sender_reports {
        s.detail = note.clone();
    }
    result
}

/// A sender is done (or gone). The last one finishes the run.
fn depart<E>(shared: &Shared<E>, run: &Arc<Run>) {
    let mut st = lock(&run.state);
    st.outstanding = st.outstanding.saturating_sub(1);
    if st.outstanding > 0 || st.phase != Phase::Running {
        return;
    }
    st.phase = Phase::Finishing;
    let handle = st.handle.take();
    let senders: Vec<SenderReport> = st.sender_reports.iter().flatten().cloned().collect();
    drop(st);
    let outcome = match handle {
        Some(h) => h.finish(shared.cfg.drain, &senders),
        None => Err(ExecError("no receive handle".into())),
    };
    // Record first (report file, observer), then wake the senders: a client that has its
    // result can rely on the server's report file being written.
    let mut st = lock(&run.state);
    let done = match outcome {
        Ok(report) => {
            st.receiver = Some(report);
            shared.counters.runs_completed.fetch_add(1, Ordering::Relaxed);
            Phase::Done
        }
        Err(e) => {
            st.error =
                Some(ErrorReply::new(ErrorCode::RunFailed, format!("receive run failed: {e}")));
            shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
            Phase::Failed
        }
    };
    let record = record_locked(run, &st);
    drop(st);
    finish_record(shared, record);
    let mut st = lock(&run.state);
    st.phase = done;
    run.cv.notify_all();
    drop(st);
    clear_slot(shared, run);
}

/// Calls the observer; a panicking observer (e.g. printing to a closed stdout) must not take
/// the run's bookkeeping down with it.
fn notify(obs: &Observer, ev: &ServerEvent) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obs(ev)));
}

fn record_locked(run: &Run, st: &RunState) -> RunRecord {
    RunRecord {
        v: PROTOCOL_VERSION,
        run_id: run.id.clone(),
        request: run.req.clone(),
        data_port: run.data_port,
        peers: st.peers.iter().map(|p| p.to_string()).collect(),
        receiver: st.receiver.clone(),
        sender_reports: st.sender_reports.iter().flatten().cloned().collect(),
        error: st.error.as_ref().map(|e| format!("{}: {}", e.code, e.message)),
    }
}

fn finish_record<E>(shared: &Shared<E>, record: RunRecord) {
    if let Some(path) = &shared.cfg.report_path {
        if let Err(e) = write_report(path, &record) {
            eprintln!("udpctl: cannot write report {}: {e}", path.display());
        }
    }
    if let Some(obs) = &shared.cfg.observer {
        notify(obs, &ServerEvent::RunFinished(Box::new(record)));
    }
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file beside it, then rename).
pub fn write_report<T: Serialize>(path: &std::path::Path, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{ReceiverSummary, SenderSummary};
    use udpprobe::Clock;

    #[test]
    fn oversized_results_keep_their_summaries() {
        let summary = ReceiverSummary {
            datagrams: 1,
            received: 1,
            bytes: 18,
            foreign: 0,
            truncated: 0,
            seq_lost: 0,
            reordered: 0,
            duplicates: 0,
            kernel_drops: 0,
            elapsed_ns: 1,
            clock: Clock::Monotonic,
            latency: None,
            clock_skew: 0,
        };
        let sender = SenderReport {
            summary: SenderSummary {
                sent: 1,
                bytes: 18,
                send_errors: 0,
                elapsed_ns: 1,
                flows: 1,
                flow_base: 0,
                clock: Clock::Monotonic,
            },
            detail: serde_json::json!({ "small": true }),
        };
        let small = RunResult {
            run_id: "r".into(),
            senders: 1,
            receiver: ReceiverReport { summary, detail: serde_json::json!({ "x": 1 }) },
            sender_reports: vec![sender],
        };
        assert_eq!(fit_reply(small.clone()), small);
        let mut big = small.clone();
        big.receiver.detail = serde_json::Value::String("x".repeat(MAX_REPLY_FRAME));
        let fitted = fit_reply(big);
        assert_eq!(fitted.receiver.summary, small.receiver.summary);
        assert!(fitted.receiver.detail["omitted"].is_string());
        assert!(msg::encode(&ServerMsg::Result(fitted)).len() < MAX_REPLY_FRAME);
    }
}
