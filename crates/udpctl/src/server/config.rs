//! Server settings.

use std::path::PathBuf;
use std::time::Duration;

use super::events::Observer;
use crate::auth::AllowList;
use crate::sources::Backoff;
use crate::validate::{FloodLimits, Limits};

/// Server settings.
#[derive(Clone)]
pub struct ServerConfig {
    /// Shared secret a request must carry (compared in constant time); `None`: no token.
    pub token: Option<String>,
    /// Source addresses allowed (empty: all).
    pub allow: AllowList,
    /// Bounds on requests.
    pub limits: Limits,
    /// Bounds on flood requests and the allowed targets (sender agents only).
    pub flood_limits: FloodLimits,
    /// How long an agent connection may sit idle between messages.
    pub agent_idle_timeout: Duration,
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
    /// Where to write each run's [`RunRecord`](super::RunRecord) (JSON, replaced atomically), if anywhere.
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
            flood_limits: FloodLimits::default(),
            agent_idle_timeout: Duration::from_secs(60),
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
            .field("flood_limits", &self.flood_limits)
            .field("agent_idle_timeout", &self.agent_idle_timeout)
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
