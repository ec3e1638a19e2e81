//! SVG charts: bar and curve charts of a report ([`bars`]), the livelock chart ([`livelock`])
//! and the fan-out sweep ([`fanout`]).

pub mod bars;
pub mod fanout;
pub mod livelock;
pub mod overload;
