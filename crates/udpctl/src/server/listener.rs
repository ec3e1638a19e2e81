//! The listener: [`serve`] in the foreground, [`spawn`] on a thread with a [`ServerHandle`], and
//! the accept loop that admits connections and hands each to its own thread.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::config::ServerConfig;
use super::conn::handle_conn;
use super::exec::RunExecutor;
use super::limits::{OpenGuard, admit, release};
use super::log::log_rejection;
use super::reply::refuse_now;
use super::shared::{Shared, make_shared};
use super::stats::ServerStats;

/// Serves forever on `listener` (the `udprx serve` loop). Returns only on a listener error that
/// is not transient.
pub fn serve<E: RunExecutor>(
    listener: TcpListener,
    config: ServerConfig,
    executor: E,
) -> io::Result<()> {
    let shared = Arc::new(make_shared(config, executor));
    accept_loop(&listener, &shared, &AtomicBool::new(false))
}

/// Starts the server on a background thread; the handle stops it.
pub fn spawn<E: RunExecutor>(
    listener: TcpListener,
    config: ServerConfig,
    executor: E,
) -> io::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(make_shared(config, executor));
    let stop = Arc::new(AtomicBool::new(false));
    let counters_of = {
        let shared = Arc::clone(&shared);
        Box::new(move || shared.counters.snapshot()) as Box<dyn Fn() -> ServerStats + Send + Sync>
    };
    let thread = {
        let stop = Arc::clone(&stop);
        thread::Builder::new().name("udpctl-accept".into()).spawn(move || {
            let _ = accept_loop(&listener, &shared, &stop);
        })?
    };
    Ok(ServerHandle { addr, stop, thread: Some(thread), stats: counters_of })
}

/// A server running on a background thread.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    stats: Box<dyn Fn() -> ServerStats + Send + Sync>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The control address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has done so far.
    pub fn stats(&self) -> ServerStats {
        (self.stats)()
    }

    /// Stops accepting and joins the accept thread (connection threads finish on their own).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

fn accept_loop<E: RunExecutor>(
    listener: &TcpListener,
    shared: &Arc<Shared<E>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => match e.kind() {
                // Transient: a peer that reset before accept, or fd exhaustion (wait it out).
                io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
                | io::ErrorKind::WouldBlock => continue,
                _ if e.raw_os_error().is_some_and(|c| {
                    c == libc_emfile() || c == libc_enfile() || c == libc_enomem()
                }) =>
                {
                    thread::sleep(Duration::from_millis(50));
                    continue;
                }
                _ => return Err(e),
            },
        };
        let ip = peer.ip();
        if let Err(reply) = admit(shared, ip) {
            log_rejection(shared, peer, &reply);
            refuse_now(stream, &reply);
            continue;
        }
        shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
        let sh = Arc::clone(shared);
        let spawned = thread::Builder::new().name("udpctl-conn".into()).spawn(move || {
            let _guard = OpenGuard { shared: &*sh, ip };
            handle_conn(&sh, stream, peer);
        });
        if spawned.is_err() {
            // The closure (and its stream) was dropped; undo the counts it would have released.
            release(shared, ip);
        }
    }
}

// Error numbers for fd/memory exhaustion on Linux (no libc dependency in this crate).
const fn libc_emfile() -> i32 {
    24
}
const fn libc_enfile() -> i32 {
    23
}
const fn libc_enomem() -> i32 {
    12
}
