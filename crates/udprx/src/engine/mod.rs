//! The public receive engine: a builder that creates and binds the sockets, and a `run` that
//! drives one pinned thread per socket, each feeding its own [`Handler`].
//!
//! The engine is split by concern: [`builder`](ReceiverBuilder) holds the options and their
//! checks, `build` creates the sockets, `cpus` places the threads, `setup` holds the types a run
//! reports, and `thread` is one receive thread's body.

mod build;
mod builder;
mod cpus;
mod setup;
mod thread;

pub use builder::{MAX_BUFFER_MEMORY, MAX_RCVBUF, ReceiverBuilder};
pub use cpus::Steer;
pub use setup::{RunOutput, SetupInfo, ThreadInfo, ThreadResult};

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::clock::{Clock, now_ns};
use socket2::Socket;

use crate::batch::Handler;
use crate::error::Error;
use crate::method::LoopConfig;
use crate::pull::PullReceiver;
use crate::xdp::Attachment;
use thread::{Source, thread_main};

/// Stops a run from any thread (or a signal handler's flag watcher). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A fresh, not-stopped handle.
    pub fn new() -> StopHandle {
        StopHandle::default()
    }

    /// Asks every receive thread to stop (each notices within one batch or idle wait).
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// True once [`StopHandle::stop`] was called, a handler returned `Flow::Stop` or the
    /// duration ran out.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A bound receiver, ready to [`run`](Receiver::run).
#[derive(Debug)]
pub struct Receiver {
    sockets: Vec<Socket>,
    setup: SetupInfo,
    cfg: LoopConfig,
    stop: StopHandle,
    /// The XDP paths: the attached program and its sockets (detached when dropped).
    xdp: Option<Attachment>,
}

impl Receiver {
    /// The address the sockets are bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.setup.local_addr
    }

    /// What the run is set up with.
    pub fn setup(&self) -> &SetupInfo {
        &self.setup
    }

    /// A handle that stops the run.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Turns the receiver into one [`PullReceiver`] per socket, for an application that runs
    /// its own loop (or event loop) instead of [`run`](Self::run)'s threads. io_uring rings
    /// are created here; with DEFER_TASKRUN (the default) a ring serves its creating thread
    /// only, so call it on the thread that will receive, or build with
    /// `uring_defer_taskrun(false)` for receivers that move (see [`PullReceiver`]). Nothing is
    /// pinned, and `duration` and the stop handle do not apply (the caller's loop decides when
    /// to stop).
    ///
    /// The receivers are **non-blocking**: `recv_batch` returns `WouldBlock` at once when
    /// nothing is queued, so an event loop that forgets a setting is never stalled by it. Call
    /// [`PullReceiver::set_nonblocking(false)`](PullReceiver::set_nonblocking) for a dedicated
    /// thread that should sleep in the kernel (up to the idle interval per call) instead.
    ///
    /// Refused ([`Error::Config`]) for the XDP paths, which receive through AF_XDP rings.
    ///
    /// ```
    /// let rx = udprx::Receiver::builder("127.0.0.1:0".parse()?).sockets(2).build()?;
    /// let pulls = rx.into_pull()?;
    /// assert_eq!(pulls.len(), 2);
    /// assert_eq!(pulls[1].index(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_pull(self) -> Result<Vec<PullReceiver>, Error> {
        if self.xdp.is_some() {
            return Err(Error::Config(format!(
                "method {} has no pull receiver: its datagrams arrive in AF_XDP rings, not on a \
                 UDP socket; use Receiver::run",
                self.setup.method
            )));
        }
        let Receiver { sockets, setup, cfg, .. } = self;
        sockets
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let mut p = PullReceiver::new(s, i, setup.method, &cfg)?;
                p.set_nonblocking(true);
                Ok(p)
            })
            .collect()
    }

    /// Turns the receiver into one [`AsyncReceiver`](crate::AsyncReceiver) per socket,
    /// registered with the current tokio runtime (call it from within one). Each is `Send`:
    /// spawn one task per socket and the runtime spreads them over its worker threads, as
    /// `SO_REUSEPORT` spreads the datagrams over the sockets. io_uring rings are set up without
    /// DEFER_TASKRUN here (whatever [`uring_defer_taskrun`](ReceiverBuilder::uring_defer_taskrun)
    /// said), because a task may move between threads and a DEFER_TASKRUN ring serves one
    /// thread only. Refused ([`Error::Config`]) for the XDP paths.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rx = udprx::Receiver::builder("127.0.0.1:0".parse()?).build()?;
    /// let addr = rx.local_addr();
    /// let mut r = rx.into_async()?.remove(0);
    /// std::net::UdpSocket::bind("127.0.0.1:0")?.send_to(b"hi", addr)?;
    /// let batch = r.recv_batch().await?;
    /// assert_eq!(batch.get(0).unwrap().payload, b"hi");
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn into_async(mut self) -> Result<Vec<crate::AsyncReceiver>, Error> {
        self.cfg.uring_defer = false;
        self.into_pull()?
            .into_iter()
            .map(|p| {
                crate::AsyncReceiver::new(p).map_err(|e| {
                    Error::Config(format!(
                        "cannot register with the tokio reactor (into_async must be called \
                         within a tokio runtime with I/O enabled): {e}"
                    ))
                })
            })
            .collect()
    }

    /// Runs one pinned thread per socket until the stop handle fires, a handler returns
    /// `Flow::Stop`, the duration runs out, or a thread fails (then the others are stopped and
    /// the first error is returned). `factory` makes each thread's handler on that thread.
    pub fn run<H, F>(self, factory: F) -> Result<RunOutput<H>, Error>
    where
        H: Handler,
        F: Fn(&ThreadInfo) -> H + Sync,
    {
        let start = Instant::now();
        let deadline_ns = self.setup.duration.map(|d| {
            now_ns(Clock::Monotonic).saturating_add(d.as_nanos().min(u64::MAX as u128) as u64)
        });
        let Receiver { sockets, setup, cfg, stop, mut xdp } = self;
        let flag: &AtomicBool = &stop.0;
        // XDP: a program taken off the hook by someone else stops the run with an error.
        let watch = xdp.as_ref().and_then(|a| a.watch().ok());
        let lost: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        // Set once every receive thread has ended, whatever ended them: ends the watch.
        let done = AtomicBool::new(false);
        let factory = &factory;
        let setup = &setup;
        let cfg = &cfg;
        let sources: Vec<Source<'_>> = match xdp.as_mut() {
            Some(a) => match &a.counter {
                Some(c) => vec![Source::Counter(c)],
                None => a.xsks.iter_mut().map(Source::Xsk).collect(),
            },
            None => sockets.into_iter().map(Source::Socket).collect(),
        };
        let results: Vec<Result<(H, ThreadResult), Error>> = std::thread::scope(|s| {
            if let Some(w) = &watch {
                let (lost, done) = (&lost, &done);
                s.spawn(move || {
                    while !flag.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        if let Some(e) = w.lost() {
                            *lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                            flag.store(true, Ordering::Relaxed);
                        }
                    }
                });
            }
            let handles: Vec<_> = sources
                .into_iter()
                .enumerate()
                .map(|(i, sock)| {
                    let socket_fd = match &sock {
                        Source::Socket(s) => s.try_clone().ok().map(|s| Arc::new(OwnedFd::from(s))),
                        _ => None,
                    };
                    let info = ThreadInfo {
                        socket: i,
                        cpu: setup.cpus[i],
                        method: setup.method,
                        timestamps: setup.timestamps,
                        gro: setup.gro,
                        socket_fd,
                        batch: cfg.batch,
                    };
                    std::thread::Builder::new().name(format!("udprx-{i}")).spawn_scoped(
                        s,
                        move || {
                            // A panic (the factory's or the handler's) is this thread's error
                            // too: caught here, it stops the other threads like any error
                            // instead of leaving them running with nothing to stop them.
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                thread_main(sock, info, cfg, factory, flag, deadline_ns)
                            }))
                            .unwrap_or(Err(Error::ThreadPanicked(i)));
                            if r.is_err() {
                                flag.store(true, Ordering::Relaxed);
                            }
                            r
                        },
                    )
                })
                .collect();
            let results = handles
                .into_iter()
                .enumerate()
                .map(|(i, h)| match h {
                    Ok(h) => h.join().unwrap_or(Err(Error::ThreadPanicked(i))),
                    Err(e) => {
                        flag.store(true, Ordering::Relaxed);
                        Err(Error::Recv { socket: i, call: "thread spawn", source: e })
                    }
                })
                .collect();
            done.store(true, Ordering::Relaxed);
            results
        });
        // Detach the XDP program now, before the results are looked at (dropping the receiver
        // on any other way out, a panic included, detaches it too).
        drop(xdp);
        if let Some(e) = lost.into_inner().unwrap_or_else(|p| p.into_inner()) {
            return Err(e);
        }
        let mut handlers = Vec::with_capacity(results.len());
        let mut threads = Vec::with_capacity(results.len());
        for r in results {
            let (h, t) = r?;
            handlers.push(h);
            threads.push(t);
        }
        Ok(RunOutput { handlers, threads, elapsed: start.elapsed() })
    }
}
