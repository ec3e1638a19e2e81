//! Counters the kernel keeps about UDP, read from /proc.

pub mod snmp;

pub use snmp::{SnmpError, UdpDelta, UdpSample};
