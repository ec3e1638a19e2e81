//! The topology a run used, as data (built and torn down by `lab::topology`).

use serde::{Deserialize, Serialize};

/// Which topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// 127.0.0.1 in the current namespace; the receive softirq runs on the sender's core, so
    /// this set-up is sender-bound.
    Loopback,
    /// Two namespaces and a veth pair; with RPS, receiver-bound.
    Veth,
    /// Two hosts: the receiver on this host's interface, the floods from sender agents
    /// (`--sender`).
    Remote,
}

/// A veth pair between two namespaces of this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Veth {
    /// Sender namespace name.
    pub tx_ns: String,
    /// Receiver namespace name.
    pub rx_ns: String,
    /// Sender-side interface.
    pub tx_if: String,
    /// Receiver-side interface.
    pub rx_if: String,
}
