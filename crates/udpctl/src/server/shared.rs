//! What every connection thread of one server shares: settings, executor, the run slot, the
//! connection and per-source counts, the log limiter and the counters.

use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};

use super::config::ServerConfig;
use super::events::{REJECT_LOG_BURST, REJECT_LOG_PER_SEC};
use super::exec::RunExecutor;
use super::run_state::Run;
use super::stats::Counters;
use crate::sources::{LogLimiter, SourceTable};

/// One server's state, shared by its accept loop and connection threads.
pub(super) struct Shared<E> {
    pub(super) cfg: ServerConfig,
    pub(super) exec: E,
    pub(super) methods: Vec<String>,
    /// The run armed or in progress (one at a time).
    pub(super) slot: Mutex<Option<Arc<Run>>>,
    /// Open control connections.
    pub(super) open: AtomicUsize,
    pub(super) sources: Mutex<SourceTable>,
    pub(super) log: Mutex<LogLimiter>,
    pub(super) counters: Counters,
    pub(super) run_seq: AtomicU64,
    /// The controller whose flood is running (an agent runs one at a time).
    pub(super) flooding: Mutex<Option<std::net::SocketAddr>>,
}

/// Locks `m`, ignoring poisoning: a panicked connection thread must not stop the server.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sources the server keeps track of beyond those with open connections.
const SPARE_SOURCES: usize = 256;

/// The state of a new server with settings `cfg` and executor `exec`.
pub(super) fn make_shared<E: RunExecutor>(cfg: ServerConfig, exec: E) -> Shared<E> {
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
        flooding: Mutex::new(None),
    }
}
