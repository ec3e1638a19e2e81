//! Fan-out: how many sockets receive, and how the kernel steers datagrams between them.

use crate::engine::{ReceiverBuilder, Steer};

/// How many `SO_REUSEPORT` sockets (one thread each) receive, and how datagrams are steered
/// between them. One socket is [`Fanout::ONE`]; its steering does not matter.
///
/// ```
/// use udprx::{Fanout, Steer};
/// let f: Fanout = "4xcpu".parse().unwrap();
/// assert_eq!(f, Fanout::new(4, Steer::Cpu));
/// assert_eq!((f.name(), f.to_string()), ("cpu", "4×cpu".to_string()));
/// assert_eq!(Fanout::ONE.to_string(), "1×");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fanout {
    /// Number of sockets (and receive threads), at least 1.
    pub sockets: usize,
    /// Steering between the sockets (ignored for one socket).
    pub steer: Steer,
}

impl Default for Fanout {
    fn default() -> Fanout {
        Fanout::ONE
    }
}

impl Fanout {
    /// One socket, one thread.
    pub const ONE: Fanout = Fanout { sockets: 1, steer: Steer::Hash };

    /// `sockets` sockets steered by `steer`.
    pub fn new(sockets: usize, steer: Steer) -> Fanout {
        Fanout { sockets, steer }
    }

    /// True for a single socket.
    pub fn is_one(self) -> bool {
        self.sockets <= 1
    }

    /// The fan-out's kind as command lines and reports name it: `one`, `hash` or `cpu`.
    pub fn name(self) -> &'static str {
        if self.is_one() { "one" } else { self.steer.as_str() }
    }

    /// A kind named on a command line (`one`, `1`, `single`, `hash`, `cpu`) with `sockets`
    /// sockets for the steered kinds.
    pub fn from_name(name: &str, sockets: usize) -> Result<Fanout, String> {
        match name {
            "one" | "1" | "single" => Ok(Fanout::ONE),
            other => match other.parse::<Steer>() {
                Ok(steer) => Ok(Fanout::new(sockets, steer)),
                Err(_) => {
                    Err(format!("unknown fan-out '{other}' (expected one of: one, hash, cpu)"))
                }
            },
        }
    }
}

/// `1×` for one socket, else `N×steer`, e.g. `4×hash`.
impl std::fmt::Display for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_one() {
            f.write_str("1×")
        } else {
            write!(f, "{}×{}", self.sockets, self.steer)
        }
    }
}

/// Parses what `Display` writes: `1×` (or `one`), `N×hash`, `N×cpu` (`x` for `×` is fine).
impl std::str::FromStr for Fanout {
    type Err = String;
    fn from_str(s: &str) -> Result<Fanout, String> {
        let Some((n, kind)) = s.split_once('×').or_else(|| s.split_once('x')) else {
            return match s {
                "one" | "1" | "single" => Ok(Fanout::ONE),
                _ => Err(format!("fan-out '{s}': expected 1×, N×hash or N×cpu")),
            };
        };
        let n = n.parse::<usize>().map_err(|_| format!("fan-out '{s}': bad socket count"))?;
        match (n, kind) {
            (0, _) => Err(format!("fan-out '{s}': at least one socket")),
            (1, "") => Ok(Fanout::ONE),
            _ => Fanout::from_name(kind, n),
        }
    }
}

impl ReceiverBuilder {
    /// Number of sockets and the steering between them in one call (default [`Fanout::ONE`]):
    /// the same as [`sockets`](ReceiverBuilder::sockets) and [`steer`](ReceiverBuilder::steer).
    pub fn fanout(self, f: Fanout) -> Self {
        self.sockets(f.sockets).steer(f.steer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        assert_eq!(Fanout::from_name("one", 4), Ok(Fanout::ONE));
        assert_eq!(Fanout::from_name("hash", 4), Ok(Fanout::new(4, Steer::Hash)));
        assert_eq!(Fanout::from_name("cpu", 2).unwrap().to_string(), "2×cpu");
        assert!(Fanout::from_name("rss", 2).is_err());
        for f in [Fanout::ONE, Fanout::new(3, Steer::Hash), Fanout::new(2, Steer::Cpu)] {
            assert_eq!(f.to_string().parse::<Fanout>(), Ok(f));
            assert_eq!(Fanout::from_name(f.name(), f.sockets), Ok(f));
        }
        assert!("0×hash".parse::<Fanout>().is_err());
        assert!("hash".parse::<Fanout>().is_err());
        assert!("ax".parse::<Fanout>().is_err());
    }
}
