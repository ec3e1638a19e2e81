//! udpflood: a UDP flood sender whose every datagram carries flow, sequence and send time.
#![deny(missing_docs)]

pub use udpprobe;
