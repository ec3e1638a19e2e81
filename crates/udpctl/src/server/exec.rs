//! The executor interface: what actually receives. The server calls it; tests substitute a fake.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::msg::{FloodRequest, FloodResult, ReceiverReport, RunRequest, SenderReport};

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
    /// Whether this executor sends floods (a sender agent). A receive executor keeps the
    /// default (`false`) and the server answers `flood` with `unexpected`.
    fn floods(&self) -> bool {
        false
    }
    /// Sends one flood to `target` (already validated and chosen by the server, see
    /// [`validate_flood`](crate::validate::validate_flood)) and reports it. Must return
    /// within about a second of `stop` becoming true (the controller left or aborted).
    fn flood(
        &self,
        req: &FloodRequest,
        target: SocketAddr,
        stop: &AtomicBool,
    ) -> Result<FloodResult, ExecError> {
        let _ = (req, target, stop);
        Err(ExecError("this control server does not send floods".into()))
    }
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
