//! The control messages and their versioned JSON encoding.
//!
//! Every message is one JSON object with a protocol version `"v"` and a `"type"`:
//!
//! | direction        | type     | body                                                  |
//! |------------------|----------|-------------------------------------------------------|
//! | client → server  | `run`    | `token` (optional), `request`: [`RunRequest`]         |
//! | server → client  | `ready`  | [`Ready`]: the data port, this sender's flow base      |
//! | client → server  | `done`   | `sender`: [`SenderReport`] (what this sender sent)     |
//! | client → server  | `abort`  | `reason`: the flood failed; the server stops waiting   |
//! | server → client  | `result` | [`RunResult`]: the receiver's report and all senders' |
//! | server → client  | `error`  | [`ErrorReply`]: a [`ErrorCode`] and a message          |
//! | client → agent   | `hello`  | `token`, `clock`, `t1_ns`: capabilities and a clock sample |
//! | agent → client   | `hello`  | [`AgentHello`]: limits, `t1_ns` echoed, `t2_ns`, `t3_ns` |
//! | client → agent   | `flood`  | `token`, `request`: [`FloodRequest`]                  |
//! | agent → client   | `flood_result` | [`FloodResult`]: sent, send errors, CPU per datagram |
//!
//! The last four are the sender agent's (`udpflood agent`): the same server, framing, token and
//! limits as `udprx serve`, with a flood executor instead of a receive one. An agent connection
//! may carry several `hello`s and `flood`s in turn (the token is checked on the first message);
//! while a flood runs, a closed connection or an `abort` stops it.
//!
//! The version is checked before the rest of the message is interpreted, so a client of another
//! version gets a clear `bad_version` error rather than a confusing field error.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use udpprobe::Clock;

/// Version of the control protocol carried in every message's `"v"` field.
pub const PROTOCOL_VERSION: u64 = 1;

/// Serde helpers that write a [`Clock`] as its name (`"monotonic"`, `"realtime"`).
pub mod clock_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use udpprobe::Clock;

    /// Writes the clock's name.
    pub fn serialize<S: Serializer>(clock: &Clock, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(clock.as_str())
    }

    /// Reads a clock name; unknown names are an error.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Clock, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

fn one() -> u32 {
    1
}

/// What the sender asks the receiver to set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Receive method name (e.g. `recvmmsg`); must be one the server's executor offers.
    pub method: String,
    /// Number of receive sockets/threads (SO_REUSEPORT fan-out when > 1).
    pub sockets: u32,
    /// Planned duration of the flood in milliseconds; bounds the server's waits.
    pub duration_ms: u64,
    /// UDP data port; 0 lets the server pick a free one (reported in [`Ready`]).
    #[serde(default)]
    pub data_port: u16,
    /// Number of senders that join this run (N:1); the run starts when all have joined.
    #[serde(default = "one")]
    pub senders: u32,
    /// Flows (flow indices) each sender uses; the server hands each sender a distinct flow base.
    #[serde(default = "one")]
    pub flows: u32,
    /// Run name shared by all senders of an N:1 run; required when `senders > 1`.
    #[serde(default)]
    pub run_id: Option<String>,
    /// The clock the senders stamp `tx_ns` with; the receiver measures latency against it.
    #[serde(default, with = "clock_name")]
    pub clock: Clock,
    /// Largest datagram payload the receiver must take whole: its per-datagram receive buffer
    /// (`None`: the server's default, 2048 bytes). A larger datagram would be truncated and
    /// not measured. Omitted from the JSON when `None`, so requests that do not need it are
    /// understood by servers that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_size: Option<u32>,
    /// Most flows (source address, flow id) the receiver tracks in this run, over all its
    /// sockets (`None`: the server's own budget). Bounded by the server (`udprx serve
    /// --flow-budget`); omitted from the JSON when `None`, like `buffer_size`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_budget: Option<u32>,
}

/// The server's go-ahead: where to send and which flow indices to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The run's name (the request's, or one the server made up).
    pub run_id: String,
    /// UDP port the receiver listens on, at the address the client connected to.
    pub data_port: u16,
    /// Senders in this run.
    pub senders: u32,
    /// This sender's index, 0-based, in join order.
    pub sender_index: u32,
    /// First flow index this sender must use (`sender_index * flows`), so that flows of
    /// different senders never share a sequence space.
    pub flow_base: u32,
    /// The client connected from the server's own address (loopback or same IP): monotonic
    /// timestamps are comparable.
    pub same_host: bool,
}

/// What one sender sent: a typed summary the combined report reads, and the full report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SenderReport {
    /// The fields the combined report uses.
    pub summary: SenderSummary,
    /// The sender's own full report (whatever `udpflood --json` writes), carried verbatim.
    #[serde(default)]
    pub detail: Value,
}

/// The sender-side figures of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderSummary {
    /// Datagrams handed to the kernel successfully.
    pub sent: u64,
    /// Payload bytes of those datagrams.
    pub bytes: u64,
    /// Send calls that failed (ENOBUFS, ECONNREFUSED, ...).
    pub send_errors: u64,
    /// Wall time the flood ran, in ns.
    pub elapsed_ns: u64,
    /// Flow indices used (`flow_base .. flow_base + flows`).
    pub flows: u32,
    /// First flow index used.
    pub flow_base: u32,
    /// Clock that stamped `tx_ns`.
    #[serde(with = "clock_name")]
    pub clock: Clock,
}

/// What the receiver saw: a typed summary the combined report reads, and the full report.
///
/// The executor (in `udprx`) fills the summary from its stats report; `detail` is that report
/// as JSON, so this crate does not depend on `udprx`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverReport {
    /// The fields the combined report uses.
    pub summary: ReceiverSummary,
    /// The receiver's full report (the `udprx` JSON report), carried verbatim.
    #[serde(default)]
    pub detail: Value,
}

/// The receiver-side figures of a run, all senders together (`Default`: an empty run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReceiverSummary {
    /// Every datagram the receive threads got (GRO segments counted one by one), foreign,
    /// truncated and duplicates included.
    pub datagrams: u64,
    /// Distinct probe datagrams received (duplicates excluded): what the combined report
    /// compares with the senders' `sent`.
    pub received: u64,
    /// Payload bytes of those datagrams.
    pub bytes: u64,
    /// Datagrams without a valid probe header (counted, not measured); never the truncated ones.
    pub foreign: u64,
    /// Datagrams the receiver's buffer cut (larger than `buffer_size`) or too short for a probe
    /// header. A cut datagram whose header was whole is still counted in `received`. Absent
    /// (0) from servers older than this field.
    #[serde(default)]
    pub truncated: u64,
    /// Datagrams missing from the sequence space at the end of the run (gaps; reorder excluded).
    pub seq_lost: u64,
    /// Datagrams that arrived after a later one of the same flow.
    pub reordered: u64,
    /// Datagrams received more than once.
    pub duplicates: u64,
    /// Kernel drops during the run: SO_RXQ_OVFL plus the /proc/net/snmp RcvbufErrors delta.
    pub kernel_drops: u64,
    /// Wall time the receiver ran, in ns.
    pub elapsed_ns: u64,
    /// Clock the latency was measured against.
    #[serde(with = "clock_name")]
    pub clock: Clock,
    /// One-way latency (`rx - tx_ns`) over the non-negative samples, if any.
    pub latency: Option<LatencySummary>,
    /// Datagrams whose one-way latency came out negative (clock skew): counted, not recorded.
    pub clock_skew: u64,
}

/// One-way latency percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Samples in the histogram.
    pub samples: u64,
    /// Smallest.
    pub min_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest.
    pub max_ns: u64,
    /// Arithmetic mean.
    pub mean_ns: f64,
}

/// The outcome of a run, sent to every sender of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The run's name.
    pub run_id: String,
    /// Senders that joined.
    pub senders: u32,
    /// What the receiver saw.
    pub receiver: ReceiverReport,
    /// Every sender's report that reached the server, in join order (a sender that vanished
    /// without a `done` is missing).
    pub sender_reports: Vec<SenderReport>,
}

/// What a controller asks a sender agent to send.
///
/// There is no free destination address: the datagrams go to `target_port` at the address the
/// controller connected from, or at `target_ip` only if the agent's own command line allows it
/// (`--allow-target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloodRequest {
    /// UDP port of the receiver.
    pub target_port: u16,
    /// Receiver address; `None`: the controller's own address (as the agent sees it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ip: Option<std::net::IpAddr>,
    /// Total rate in datagrams per second (bounded by the agent; 0 is refused).
    pub rate_pps: u64,
    /// How long to send, ms (bounded by the agent).
    pub duration_ms: u64,
    /// Flows (distinct source ports).
    #[serde(default = "one")]
    pub flows: u32,
    /// UDP payload bytes per datagram.
    #[serde(default = "header_len")]
    pub payload_size: u32,
    /// Send with UDP GSO (falls back to sendmmsg if refused; the result says which).
    #[serde(default)]
    pub gso: bool,
    /// Sender threads.
    #[serde(default = "one")]
    pub threads: u32,
    /// CPUs to pin the sender threads to (`None`: the flood library's default placement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<u32>>,
    /// Clock stamped in each datagram.
    #[serde(default, with = "clock_name")]
    pub clock: Clock,
}

fn header_len() -> u32 {
    udpprobe::HEADER_LEN as u32
}

/// What an agent sent for one [`FloodRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloodResult {
    /// Where the datagrams went.
    pub target: std::net::SocketAddr,
    /// Datagrams handed to the kernel successfully.
    pub sent: u64,
    /// Payload bytes of those datagrams.
    pub bytes: u64,
    /// Send calls that failed (ENOBUFS, ECONNREFUSED, ...).
    pub send_errors: u64,
    /// Wall time the flood ran, ns.
    pub elapsed_ns: u64,
    /// Flows used (flow ids `0..flows`, from distinct source ports of the agent).
    pub flows: u32,
    /// The agent process's CPU time over the flood (all its threads) ÷ `sent`, ns.
    pub process_cpu_ns_per_datagram: f64,
    /// The sender threads' own CPU time ÷ `sent`, ns.
    pub thread_cpu_ns_per_datagram: f64,
    /// The flood ended before its duration (the controller left or aborted).
    pub stopped_early: bool,
    /// GSO was used.
    pub gso_active: bool,
    /// Clock that stamped `tx_ns`.
    #[serde(with = "clock_name")]
    pub clock: Clock,
    /// The agent's full flood report (the `udpflood --json` report), carried verbatim.
    #[serde(default)]
    pub detail: Value,
}

impl FloodResult {
    /// This flood as a [`SenderReport`] (what a receive run's accounting takes), with the
    /// flow base the receiver should attribute it to.
    pub fn to_sender_report(&self, flow_base: u32) -> SenderReport {
        SenderReport {
            summary: SenderSummary {
                sent: self.sent,
                bytes: self.bytes,
                send_errors: self.send_errors,
                elapsed_ns: self.elapsed_ns,
                flows: self.flows,
                flow_base,
                clock: self.clock,
            },
            detail: self.detail.clone(),
        }
    }
}

/// An agent's answer to `hello`: what it offers, and one clock sample (NTP-style: the client's
/// send time `t1_ns` echoed, the agent's receive time `t2_ns` and reply time `t3_ns`; the client
/// adds its receive time t4, see [`crate::clock::ClockSample`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHello {
    /// Agent software and version (e.g. `udpflood 0.1.0`).
    pub agent: String,
    /// What the agent does: `["flood"]`.
    pub capabilities: Vec<String>,
    /// The bounds the agent enforces on flood requests.
    pub limits: FloodLimitsMsg,
    /// Clock of the sample.
    #[serde(with = "clock_name")]
    pub clock: Clock,
    /// The client's send time, echoed.
    pub t1_ns: u64,
    /// The agent's clock when the hello arrived.
    pub t2_ns: u64,
    /// The agent's clock when the reply left.
    pub t3_ns: u64,
    /// The address the agent sees the controller at (where floods go by default).
    pub controller_ip: std::net::IpAddr,
}

/// The flood bounds an agent announces in [`AgentHello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloodLimitsMsg {
    /// Highest rate, datagrams/s.
    pub max_rate_pps: u64,
    /// Longest flood, ms.
    pub max_duration_ms: u64,
    /// Most sender threads.
    pub max_threads: u32,
}

/// Machine-readable reason of an [`ErrorReply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was malformed (truncated, empty).
    BadFrame,
    /// The length prefix exceeded the limit.
    TooLarge,
    /// The payload was not valid JSON.
    BadJson,
    /// The `"v"` field was missing or not a version this server speaks.
    BadVersion,
    /// Valid JSON, but not a message of this protocol (unknown type, missing/unknown fields).
    BadMessage,
    /// A message that is valid but not expected at this point of the exchange.
    Unexpected,
    /// Missing or wrong token.
    Unauthorized,
    /// The source address is not in the server's allow-list.
    Forbidden,
    /// The request failed validation (port, duration, sockets, method, ...).
    Invalid,
    /// Another run is in progress.
    Busy,
    /// Too many open control connections (in all, or from this source).
    TooManyConnections,
    /// This source gave wrong tokens too often; it is refused for a while.
    Throttled,
    /// The peer did not send in time.
    Timeout,
    /// Not all senders of an N:1 run joined in time.
    JoinTimeout,
    /// The receive set-up or run failed on the server.
    RunFailed,
}

impl ErrorCode {
    /// The wire name (`"busy"`, `"bad_json"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadJson => "bad_json",
            ErrorCode::BadVersion => "bad_version",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Busy => "busy",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::Throttled => "throttled",
            ErrorCode::Timeout => "timeout",
            ErrorCode::JoinTimeout => "join_timeout",
            ErrorCode::RunFailed => "run_failed",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: the server closes the connection after sending it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// Machine-readable reason.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
}

impl ErrorReply {
    /// Builds an error reply.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorReply { code, message: message.into() }
    }
}

/// Messages a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Ask for a run (or join an armed N:1 run with the same `run_id` and parameters).
    Run {
        /// Shared secret, when the server requires one.
        #[serde(default)]
        token: Option<String>,
        /// The receive set-up.
        request: RunRequest,
    },
    /// The flood is over; here is what was sent.
    Done {
        /// This sender's report.
        sender: SenderReport,
    },
    /// The flood failed; the server stops waiting for this sender. To an agent: stop the
    /// running flood.
    Abort {
        /// Why.
        reason: String,
    },
    /// To an agent: capabilities and a clock sample.
    Hello {
        /// Shared secret, when the agent requires one (first message of a connection).
        #[serde(default)]
        token: Option<String>,
        /// Clock to sample.
        #[serde(default, with = "clock_name")]
        clock: Clock,
        /// The client's clock when it sent this.
        t1_ns: u64,
    },
    /// To an agent: send a flood and answer with its [`FloodResult`].
    Flood {
        /// Shared secret, when the agent requires one (first message of a connection).
        #[serde(default)]
        token: Option<String>,
        /// What to send.
        request: FloodRequest,
    },
}

/// Messages the server sends.
// `Result` is much larger than the others, but a connection sees at most one of each: boxing
// it would save nothing worth an allocation and a `Box` in every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// All senders joined; start flooding.
    Ready(Ready),
    /// The run is over.
    Result(RunResult),
    /// The request failed; the connection is closed after this.
    Error(ErrorReply),
    /// An agent's answer to `hello`.
    Hello(AgentHello),
    /// An agent's answer to `flood`.
    FloodResult(FloodResult),
}

/// Why a payload is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Missing or unsupported `"v"`.
    #[error("{0}")]
    Version(String),
    /// JSON, but not a message of this protocol.
    #[error("not a valid message: {0}")]
    Message(String),
}

impl DecodeError {
    /// The error code the server answers with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::Json(_) => ErrorCode::BadJson,
            DecodeError::Version(_) => ErrorCode::BadVersion,
            DecodeError::Message(_) => ErrorCode::BadMessage,
        }
    }
}

/// Decodes one message payload: JSON object, version check, then the typed message.
///
/// Never panics on any input (property-tested); serde_json bounds nesting depth.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::Json(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(DecodeError::Message("expected a JSON object".into()));
    };
    match obj.remove("v") {
        None => {
            return Err(DecodeError::Version(format!(
                "missing protocol version field \"v\" (this side speaks {PROTOCOL_VERSION})"
            )));
        }
        Some(v) if v.as_u64() == Some(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(DecodeError::Version(format!(
                "protocol version {v} is not supported (this side speaks {PROTOCOL_VERSION})"
            )));
        }
    }
    serde_json::from_value(Value::Object(obj)).map_err(|e| DecodeError::Message(e.to_string()))
}

/// The top-level `"token"` of a payload, if it is a JSON object with a string there: all the
/// server looks at before the token is checked.
///
/// Nothing else is interpreted (other fields are skipped unread, whatever they hold), and a
/// payload that is not such an object gives `None` without saying why, so nothing of an
/// unauthenticated peer's input reaches an error message.
pub fn peek_token(payload: &[u8]) -> Option<String> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(payload) else {
        return None;
    };
    match obj.remove("token") {
        Some(Value::String(token)) => Some(token),
        _ => None,
    }
}

/// Encodes a message as a JSON object with `"v": PROTOCOL_VERSION` added.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut value = serde_json::to_value(msg).unwrap_or(Value::Null);
    if let Value::Object(obj) = &mut value {
        obj.insert("v".into(), Value::from(PROTOCOL_VERSION));
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RunRequest {
        RunRequest {
            method: "recvmmsg".into(),
            sockets: 2,
            duration_ms: 1000,
            data_port: 0,
            senders: 1,
            flows: 1,
            run_id: None,
            clock: Clock::Monotonic,
            buffer_size: None,
            flow_budget: None,
        }
    }

    #[test]
    fn round_trips() {
        let msg = ClientMsg::Run { token: Some("s3cret".into()), request: request() };
        let bytes = encode(&msg);
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.contains("\"v\":1"), "{text}");
        assert!(text.contains("\"type\":\"run\""), "{text}");
        assert_eq!(decode::<ClientMsg>(&bytes).unwrap(), msg);

        let err = ServerMsg::Error(ErrorReply::new(ErrorCode::Busy, "busy"));
        assert_eq!(decode::<ServerMsg>(&encode(&err)).unwrap(), err);
    }

    #[test]
    fn minimal_request_gets_defaults() {
        let json = br#"{"v":1,"type":"run","request":{"method":"recvfrom","sockets":1,"duration_ms":500}}"#;
        let ClientMsg::Run { token, request } = decode(json).unwrap() else { panic!() };
        assert_eq!(token, None);
        assert_eq!(request.senders, 1);
        assert_eq!(request.flows, 1);
        assert_eq!(request.clock, Clock::Monotonic);
    }

    #[test]
    fn classifies_errors() {
        assert_eq!(decode::<ClientMsg>(b"{nope").unwrap_err().code(), ErrorCode::BadJson);
        assert_eq!(decode::<ClientMsg>(b"[1,2]").unwrap_err().code(), ErrorCode::BadMessage);
        assert_eq!(
            decode::<ClientMsg>(br#"{"type":"abort","reason":"x"}"#).unwrap_err().code(),
            ErrorCode::BadVersion
        );
        assert_eq!(
            decode::<ClientMsg>(br#"{"v":2,"type":"abort","reason":"x"}"#).unwrap_err().code(),
            ErrorCode::BadVersion
        );
        assert_eq!(
            decode::<ClientMsg>(br#"{"v":1,"type":"shell","cmd":"ls"}"#).unwrap_err().code(),
            ErrorCode::BadMessage
        );
        assert_eq!(
            decode::<ClientMsg>(br#"{"v":1,"type":"abort","reason":"x","extra":1}"#)
                .unwrap_err()
                .code(),
            ErrorCode::BadMessage
        );
        let bad_clock = br#"{"v":1,"type":"run","request":{"method":"recvfrom","sockets":1,"duration_ms":500,"clock":"tai"}}"#;
        assert_eq!(decode::<ClientMsg>(bad_clock).unwrap_err().code(), ErrorCode::BadMessage);
        let unknown_field = br#"{"v":1,"type":"run","request":{"method":"recvfrom","sockets":1,"duration_ms":500,"exec":"rm"}}"#;
        assert_eq!(decode::<ClientMsg>(unknown_field).unwrap_err().code(), ErrorCode::BadMessage);
    }

    #[test]
    fn peeks_only_the_top_level_token() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (br#"{"v":1,"type":"run","token":"s3cret","request":{}}"#, Some("s3cret")),
            (br#"{"token":"s3cret"}"#, Some("s3cret")),
            (br#"{"v":1,"type":"run","request":{"token":"s3cret"}}"#, None),
            (br#"{"token":null}"#, None),
            (br#"{"token":7}"#, None),
            (br#"{"token":"a","token":"b"}"#, Some("b")),
            (br#"["s3cret"]"#, None),
            (br#""s3cret""#, None),
            (br#"{"token":"s3cret""#, None),
            (b"\x1b[2J\nudprx serve: forged", None),
            (br#"{"type":"\u001b[2J","token":"t"}"#, Some("t")),
        ];
        for (payload, want) in cases {
            assert_eq!(peek_token(payload).as_deref(), *want, "{}", payload.escape_ascii());
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert_eq!(decode::<ClientMsg>(deep.as_bytes()).unwrap_err().code(), ErrorCode::BadJson);
    }
}
