//! SVG charts: bar and curve charts of a report ([`bars`]) and the livelock chart ([`livelock`]).

pub mod bars;
pub mod livelock;
pub mod overload;
