//! SVG charts: bar and curve charts of a report ([`bars`]), the livelock chart ([`livelock`])
//! and the fan-out sweep ([`fanout`]).

pub mod bars;
pub mod fanout;
pub mod livelock;
pub mod overload;

/// A drawing error on `file`, as the bench's I/O error.
fn err(file: &std::path::Path, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::io(format!("drawing {}", file.display()), std::io::Error::other(e.to_string()))
}
