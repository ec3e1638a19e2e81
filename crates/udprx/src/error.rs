//! Errors of the receive engine. Each names the reason and, where one exists, the setting to use
//! instead, in the library's terms: builder calls in backticks, such as `` `share_port(true)` ``
//! (a command line translates them into its own flags).

use std::io;
use std::net::SocketAddr;

/// Why a receiver could not be built or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is out of range or inconsistent.
    #[error("invalid setting: {0}")]
    Config(String),
    /// Creating or binding a socket failed.
    #[error("cannot bind UDP socket to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The kernel's answer.
        source: io::Error,
    },
    /// The data port is already bound by another socket (another process, or another receiver
    /// of this one): joining its SO_REUSEPORT group would silently split its traffic.
    #[error(
        "{addr} is already bound by another socket (another process, or a receiver of this \
         process that is still open); refusing to join its SO_REUSEPORT group, which would \
         silently take a share of its datagrams: stop that socket or choose another port \
         (`share_port(true)` joins the group on purpose, sharing the datagrams)"
    )]
    PortInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A socket option was refused.
    #[error("socket option {option} refused: {source}{hint}")]
    SockOpt {
        /// The option's name as in socket(7)/udp(7).
        option: &'static str,
        /// The kernel's answer.
        source: io::Error,
        /// What to do instead (may be empty).
        hint: &'static str,
    },
    /// UDP_GRO is not available on this kernel or socket.
    #[error("UDP_GRO refused by the kernel: {0}; run without `gro`")]
    GroRefused(io::Error),
    /// The classic BPF program steering datagrams by CPU was refused.
    #[error(
        "SO_ATTACH_REUSEPORT_CBPF (steer by CPU) refused: {0}; use `steer(Steer::Hash)` (kernel 4-tuple hash)"
    )]
    CbpfRefused(io::Error),
    /// io_uring (or the multishot receive it needs) is not usable here.
    #[error(
        "io_uring receive unavailable: {0}; use `method(Method::Recvmmsg)` (or `method(Method::Auto)`)"
    )]
    UringUnavailable(String),
    /// The receive thread could not be pinned to its CPU.
    #[error("cannot pin the thread of socket {socket} to CPU {cpu}; choose other `cpus`")]
    Pin {
        /// Socket (and thread) index.
        socket: usize,
        /// The CPU asked for.
        cpu: usize,
    },
    /// A receive call failed with an unexpected error.
    #[error("receive on socket {socket} failed in {call}: {source}")]
    Recv {
        /// Socket (and thread) index.
        socket: usize,
        /// The system call or operation.
        call: &'static str,
        /// The kernel's answer.
        source: io::Error,
    },
    /// An XDP path (method `xdp` / `xdp-drop`) could not be set up: no permission, no
    /// AF_XDP, interface or address not found, queue busy, or a program already attached.
    #[error("{0}")]
    Xdp(String),
    /// A receive thread panicked (a bug, or a handler that panicked).
    #[error("receive thread of socket {0} panicked")]
    ThreadPanicked(usize),
}

impl Error {
    /// True when the error comes from bad settings (a command line maps it to exit status 2).
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_))
    }
}
