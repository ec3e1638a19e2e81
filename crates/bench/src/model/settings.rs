//! Kernel settings as data: a named setting (sysctl values, NIC settings and socket options)
//! and the values in force while it ran. Loading, validating and applying them is `lab::sysctl`.

use crate::SockOpts;
use serde::{Deserialize, Serialize};

/// Where a sysctl takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Per network namespace: set inside the benchmark's namespaces, gone with them.
    Namespace,
    /// Global: set for the whole machine, restored afterwards.
    Global,
    /// On the receiving interface (`--nic`): the veth peer in the receiver's namespace, or
    /// the NIC of `--iface` with `--sender`; restored afterwards.
    Device,
}

/// One value in force, as recorded in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    /// The value read back.
    pub value: String,
    /// Where it applies.
    pub scope: Scope,
}

/// A named set of kernel settings and socket options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Name shown in the report.
    pub name: String,
    /// Sysctls to set, in order.
    pub sysctls: Vec<(String, String)>,
    /// Socket options for the receiving sockets.
    pub sockopts: SockOpts,
    /// GRO on the receiver's veth interface; `None` leaves it.
    pub veth_gro: Option<bool>,
    /// RPS on the receiver's veth interface; `None` takes the command line's choice.
    pub rps: Option<bool>,
    /// NIC and interrupt settings of the receiving interface (`--nic NAME=V`, `nic.NAME = V`
    /// in a settings file), in order: the `--nic` name (`gro`, `channels.combined`, ...) and
    /// the value. Applying them is `lab::nic`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nic: Vec<(String, String)>,
}
