//! Counters the kernel keeps about UDP and packet backlogs, read from /proc.

pub mod snmp;
pub mod softnet;

pub use snmp::{SnmpError, UdpDelta, UdpSample};
pub use softnet::{SoftnetDelta, SoftnetSample};
