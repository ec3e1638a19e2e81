//! udprx: a fast UDP receive loop for Linux.
//!
//! Receives with `recvfrom`, batched `recvmmsg`, `SO_REUSEPORT` fan-out (kernel hash or by-CPU
//! BPF steering), io_uring multishot receive over a provided buffer ring, or past the socket
//! layer through AF_XDP ([`xdp`]), and hands each batch of datagrams, zero-copy, to the
//! application: either to a [`Handler`] on one pinned thread per socket ([`Receiver::run`]),
//! or through a [`PullReceiver`] the application drives from its own loop or event loop
//! ([`Receiver::into_pull`]).
//!
//! # Example
//!
//! A collector that counts datagrams and bytes on one thread per socket for a bounded time:
//!
//! ```
//! use std::net::UdpSocket;
//! use std::time::Duration;
//! use udprx::{Batch, Flow, Handler, Method, Receiver};
//!
//! /// One per receive thread: counts what its socket received.
//! #[derive(Default)]
//! struct Count {
//!     datagrams: u64,
//!     bytes: u64,
//! }
//!
//! impl Handler for Count {
//!     fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
//!         for d in batch.iter() {
//!             self.datagrams += d.segment_count() as u64; // a GRO buffer holds several
//!             self.bytes += d.payload.len() as u64;
//!         }
//!         // Stopping one thread stops them all; this one got everything that was sent.
//!         if self.datagrams == 100 { Flow::Stop } else { Flow::Continue }
//!     }
//! }
//!
//! let rx = Receiver::builder("127.0.0.1:0".parse()?)
//!     .method(Method::Recvmmsg)
//!     .sockets(2) // SO_REUSEPORT group, one thread each
//!     .cpus(vec![]) // no pinning (the default pins within the allowed CPUs)
//!     .duration(Some(Duration::from_secs(10))) // a bound, in case datagrams were lost
//!     .build()?;
//! let addr = rx.local_addr(); // bound already: datagrams sent now wait in the socket
//! let sender = UdpSocket::bind("127.0.0.1:0")?;
//! for i in 0..100u32 {
//!     sender.send_to(&i.to_be_bytes(), addr)?;
//! }
//! let out = rx.run(|_thread| Count::default())?;
//! let datagrams: u64 = out.handlers.iter().map(|h| h.datagrams).sum();
//! let bytes: u64 = out.handlers.iter().map(|h| h.bytes).sum();
//! assert_eq!((datagrams, bytes), (100, 400));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Platform and kernel requirements
//!
//! Linux only: on any other target the crate refuses to compile with a message saying so
//! (every method is a Linux interface; a crate that compiled elsewhere and failed at run time
//! would only move the surprise later).
//!
//! | Method | Needs |
//! |---|---|
//! | [`Method::Recvfrom`] | any Linux; `SO_RXQ_OVFL` drop counts since 2.6.33 |
//! | [`Method::Recvmmsg`] | Linux 2.6.33 (`recvmmsg`), `MSG_WAITFORONE` 2.6.35 |
//! | [`Method::Uring`], [`Method::UringRecv`] | Linux 6.0 (multishot `recvmsg`/`recv`, provided buffer rings); `SINGLE_ISSUER` + `DEFER_TASKRUN` 6.1 (else `COOP_TASKRUN`); NAPI busy polling 6.9; not disabled by `kernel.io_uring_disabled` or seccomp |
//! | [`Method::Epoll`] | `recvmmsg`'s needs and `epoll_create1` (2.6.27); epoll busy polling (`EPIOCSPARAMS`, with `busy_poll`) 6.9, without it the receiver runs and says so |
//! | [`Method::Auto`] | `recvmmsg`'s needs: `auto` takes `recvmmsg`, cheaper per datagram than io_uring in every series measured (the reason is in [`SetupInfo::fallback_reason`]) |
//! | [`Method::Xdp`], [`Method::XdpDrop`] | Linux 5.9 (BPF links for XDP), `CAP_NET_ADMIN` + `CAP_BPF` (root), a driver with XDP (or generic mode) |
//! | `steer(Steer::Cpu)` | `SO_ATTACH_REUSEPORT_CBPF`, Linux 4.5 |
//! | `gro(true)` | `UDP_GRO`, Linux 5.0 |
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for the setup types ([`Method`], [`Steer`],
//!   [`SetupInfo`], ...).
//! - `tokio`: an async receiver, `AsyncReceiver` (`Receiver::into_async`,
//!   `recv_batch().await`; `Send`, cancel-safe, one task per socket, always non-blocking; an
//!   opt-in receive coalescing window, `set_coalesce`). Adds tokio (with its `net` and `time`
//!   features) to the dependencies.
//!
//! # Defaults for services
//!
//! [`Method::Auto`] is `recvmmsg` unless io_uring is shown cheaper, and says why
//! ([`SetupInfo::fallback_reason`]). A [`PullReceiver`] is non-blocking unless asked
//! ([`PullReceiver::set_nonblocking`]), so an event loop is never stalled by a forgotten
//! setting; the threaded engine's own loop sleeps in the kernel. The drop counter comes with
//! every datagram (SO_RXQ_OVFL) unless
//! [`drops_per_interval`](ReceiverBuilder::drops_per_interval) reads it once per idle interval.
//!
//! Without features the crate depends on libc, socket2, io-uring and thiserror only.
//!
//! # Stability
//!
//! The public surface is recorded in `api.txt` (checked by a test). Enums and report structs
//! that will grow are `#[non_exhaustive]`. Items marked `#[doc(hidden)]` are plumbing for this
//! crate's own workspace (the statistics and benchmark crates) and may change in any release.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "udprx supports Linux only: it receives with recvmmsg, io_uring, SO_REUSEPORT BPF steering \
     and AF_XDP, which other systems do not have"
);

#[cfg(all(target_os = "linux", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod async_rx;
#[cfg(target_os = "linux")]
pub mod batch;
#[cfg(target_os = "linux")]
mod cbpf;
#[cfg(target_os = "linux")]
mod clock;
#[cfg(target_os = "linux")]
pub mod engine;
#[cfg(target_os = "linux")]
pub mod error;
#[cfg(target_os = "linux")]
pub mod fanout;
#[cfg(target_os = "linux")]
mod method;
#[cfg(target_os = "linux")]
pub mod pull;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(target_os = "linux")]
pub mod xdp;

#[cfg(all(target_os = "linux", feature = "tokio"))]
pub use async_rx::AsyncReceiver;
#[cfg(target_os = "linux")]
pub use batch::{Batch, Datagram, Flow, Handler, RecvMeta};
#[cfg(target_os = "linux")]
pub use engine::{
    Receiver, ReceiverBuilder, RunOutput, SetupInfo, Steer, StopHandle, ThreadInfo, ThreadResult,
};
#[cfg(target_os = "linux")]
pub use error::Error;
#[cfg(target_os = "linux")]
pub use fanout::Fanout;
#[cfg(target_os = "linux")]
pub use method::Method;
#[cfg(target_os = "linux")]
pub use pull::{PullReceiver, RecvCounters};
#[cfg(target_os = "linux")]
pub use sys::reply::{DEFAULT_REPLY_BATCH, DEFAULT_REPLY_SLOT, Replier};
