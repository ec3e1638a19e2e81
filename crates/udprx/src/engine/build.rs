//! [`ReceiverBuilder::build`]: resolves the method, creates, binds and configures the sockets
//! (or attaches the XDP program) and hands back a [`Receiver`].

use super::builder::{DEFAULT_RING_BUFFERS, DEFAULT_RING_BUFFERS_GRO, GRO_BUFFER};
use super::cpus::assign_cpus;
use super::{Receiver, ReceiverBuilder, SetupInfo, Steer};
use crate::cbpf;
use crate::error::Error;
use crate::method::{self, uring};
use crate::method::{LoopConfig, Method};
use crate::sys;
use crate::xdp::{self, Attachment};

/// Why [`Method::Auto`] takes `recvmmsg` ([`SetupInfo::fallback_reason`]): the rule is
/// "recvmmsg unless io_uring is shown cheaper", and on every kernel this project measured it
/// was not.
pub(crate) const AUTO_REASON: &str = "it costs less CPU per datagram than io_uring multishot \
     recvmsg in every series this project measured (docs/results.md), and io_uring recv gives \
     no source address; name method uring to use io_uring";

impl ReceiverBuilder {
    /// Resolves the method, creates and binds every socket now (so port 0 resolves), and
    /// attaches the steering program.
    ///
    /// Refused with [`Error::Config`] (a one-line reason) before anything is created: sockets
    /// outside 1..=1024, batch outside 1..=1024, a ring size that is not a power of two up to
    /// 32768, a buffer size outside 1..=1 MiB, receive buffers over [`MAX_BUFFER_MEMORY`](super::MAX_BUFFER_MEMORY) in
    /// all, an SO_RCVBUF over [`MAX_RCVBUF`](super::MAX_RCVBUF), CPU steering with fewer than two sockets, or an
    /// offline CPU.
    ///
    /// [`Method::Auto`] resolves to `recvmmsg` ("recvmmsg unless io_uring is shown cheaper":
    /// io_uring multishot `recvmsg` cost more CPU per datagram in every series this project
    /// measured) and says why in [`SetupInfo::fallback_reason`]; it makes no io_uring call.
    /// A refusal the kernel gives is a downgrade, not an error, and is reported: UDP_GRO
    /// refused → the same method without GRO (appended to `fallback_reason`). An `auto` that
    /// had taken io_uring also downgrades at run time (the first multishot request refused
    /// with EINVAL → that socket's thread goes on with `recvmmsg`,
    /// [`ThreadResult::fallback`](super::ThreadResult::fallback)); today only the tests'
    /// fault injection makes `auto` take io_uring.
    pub fn build(mut self) -> Result<Receiver, Error> {
        self.validate()?;
        if self.method.is_xdp() {
            return self.build_xdp();
        }
        let (method, mut fallback_reason, uring_mode) = match self.method {
            // The fault-injection knob exercises the run-time io_uring → recvmmsg downgrade,
            // which `auto` keeps for a kernel where io_uring is the cheaper choice.
            Method::Auto if self.inject_multishot_einval => match uring::probe(self.uring_defer) {
                Ok(mode) => (Method::Uring, None, Some(mode.as_str().to_string())),
                Err(reason) => (Method::Recvmmsg, Some(reason), None),
            },
            Method::Auto => (Method::Recvmmsg, Some(AUTO_REASON.to_string()), None),
            m @ (Method::Uring | Method::UringRecv) => match uring::probe(self.uring_defer) {
                Ok(mode) => (m, None, Some(mode.as_str().to_string())),
                Err(reason) => return Err(Error::UringUnavailable(reason)),
            },
            m => (m, None, None),
        };
        let buffer_size =
            if self.gro { self.buffer_size.max(GRO_BUFFER) } else { self.buffer_size };
        let ring_buffers = self.ring_buffers.unwrap_or(if self.gro {
            DEFAULT_RING_BUFFERS_GRO
        } else {
            DEFAULT_RING_BUFFERS
        });
        let is_uring = matches!(method, Method::Uring | Method::UringRecv);
        // SO_BUSY_POLL 0 is "off" (a `--sockopt busy_poll=0` setting): no NAPI registration.
        let napi_busy_poll = self.busy_poll.filter(|&us| is_uring && us > 0);
        let uring_napi = napi_busy_poll.map(|us| uring::napi_probe(us).unwrap_or_else(|why| why));
        // epoll: busy-poll parameters on each instance; a refusal is reported, not an error.
        let epoll_params = self
            .busy_poll
            .filter(|&us| method == Method::Epoll && us > 0)
            .map(|us| method::epoll::params(us, self.busy_poll_budget, self.prefer_busy_poll));
        let epoll_busy_poll =
            epoll_params.as_ref().map(|p| method::epoll::probe(p).unwrap_or_else(|why| why));
        let other_cmsg = self.gro || self.timestamps || self.pktinfo || self.ecn;
        // SO_RXQ_OVFL rides on the methods that read control messages anyway; plain recvfrom
        // and uring-recv read none unless another option needs them.
        let uses_cmsg = !matches!(method, Method::Recvfrom | Method::UringRecv) || other_cmsg;
        let rxq_ovfl = uses_cmsg && !self.drops_per_interval;
        let names = self.source_addresses && method != Method::UringRecv;
        let blocking = !self.spin && !is_uring;
        let opts = sys::socket::SockOpts {
            reuse_port: self.sockets > 1 || self.share_port,
            rcvbuf: self.rcvbuf,
            busy_poll: self.busy_poll,
            prefer_busy_poll: self.prefer_busy_poll,
            busy_poll_budget: self.busy_poll_budget,
            timestamps: self.timestamps,
            gro: self.gro,
            rxq_ovfl,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            nonblocking: self.spin || is_uring,
            read_timeout: if blocking { Some(self.idle) } else { None },
        };
        let cpus = assign_cpus(self.sockets, self.steer, self.cpus.as_deref())?;

        // SO_REUSEPORT lets our first bind succeed on a port someone else holds (joining their
        // group); a probe without it tells. Port 0 always gets a fresh port.
        if opts.reuse_port
            && !self.share_port
            && self.addr.port() != 0
            && sys::socket::port_in_use(self.addr)?
        {
            return Err(Error::PortInUse { addr: self.addr });
        }
        let mut sockets = Vec::with_capacity(self.sockets);
        let mut rcvbuf = Vec::with_capacity(self.sockets);
        let mut opts = opts;
        let (first, granted) = match sys::socket::open_bound(self.addr, &opts) {
            // `auto` takes what the kernel gives: without GRO, reported.
            Err(Error::GroRefused(e)) if self.method == Method::Auto => {
                let why = format!("UDP_GRO refused by the kernel ({e}); receiving without GRO");
                fallback_reason = Some(match fallback_reason {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
                self.gro = false;
                opts.gro = false;
                sys::socket::open_bound(self.addr, &opts)?
            }
            r => r?,
        };
        let local_addr = sys::socket::local_addr(&first)?;
        sockets.push(first);
        rcvbuf.push(granted);
        for _ in 1..self.sockets {
            let (s, granted) = sys::socket::open_bound(local_addr, &opts)?;
            sockets.push(s);
            rcvbuf.push(granted);
        }
        if self.steer == Steer::Cpu {
            let prog = cbpf::steer_by_cpu(self.sockets as u32);
            sys::socket::attach_reuseport_cbpf(&sockets[0], &prog).map_err(Error::CbpfRefused)?;
        }
        let drops_source = if self.drops_per_interval {
            "SO_MEMINFO per interval, /proc/net/udp at end (drops_per_interval)"
        } else if uses_cmsg {
            "SO_RXQ_OVFL, /proc/net/udp at end"
        } else if method == Method::UringRecv {
            "/proc/net/udp at end (io_uring recv reads no control messages)"
        } else {
            "/proc/net/udp at end (plain recvfrom reads no control messages)"
        };
        let setup = SetupInfo {
            local_addr,
            requested_method: self.method,
            method,
            fallback_reason,
            uring_mode,
            uring_napi,
            epoll_busy_poll,
            sockets: self.sockets,
            steer: self.steer,
            cpus,
            rcvbuf,
            rcvbuf_requested: self.rcvbuf,
            batch: self.batch,
            full_batch: self.full_batch,
            ring_buffers,
            buffer_size,
            gro: self.gro,
            timestamps: self.timestamps,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            busy_poll: self.busy_poll,
            prefer_busy_poll: self.prefer_busy_poll,
            busy_poll_budget: self.busy_poll_budget,
            spin: self.spin,
            duration: self.duration,
            drops_source: drops_source.to_string(),
            source_addresses: names,
            xdp: None,
        };
        let cfg = LoopConfig {
            batch: self.batch,
            full_batch: self.full_batch,
            ring_buffers,
            buffer_size,
            gro: self.gro,
            timestamps: self.timestamps,
            pktinfo: self.pktinfo,
            ecn: self.ecn,
            spin: self.spin,
            idle_ns: self.idle.as_nanos().min(u64::MAX as u128) as u64,
            uring_defer: self.uring_defer,
            napi_busy_poll,
            epoll_params,
            fallback_on_refusal: self.method == Method::Auto,
            inject_multishot_einval: self.inject_multishot_einval,
            names,
            cmsg: rxq_ovfl || other_cmsg,
            meminfo_drops: self.drops_per_interval,
        };
        Ok(Receiver { sockets, setup, cfg, stop: self.stop.unwrap_or_default(), xdp: None })
    }

    /// `xdp` / `xdp-drop`: a plain UDP socket holds the port (and resolves port 0), then the
    /// program is loaded and attached, with one AF_XDP socket per queue for `xdp`.
    fn build_xdp(self) -> Result<Receiver, Error> {
        let method = self.method;
        let ring_buffers = self.ring_buffers.unwrap_or(DEFAULT_RING_BUFFERS);
        let opts = sys::socket::SockOpts {
            reuse_port: false,
            rcvbuf: None,
            busy_poll: None,
            prefer_busy_poll: false,
            busy_poll_budget: None,
            timestamps: false,
            gro: false,
            rxq_ovfl: false,
            pktinfo: false,
            ecn: false,
            nonblocking: true,
            read_timeout: None,
        };
        // The interface first: an address on no interface is an XDP error, not a bind error.
        xdp::resolve_iface(self.addr, self.iface.as_deref())?;
        let (holder, _) = sys::socket::open_bound(self.addr, &opts)?;
        let local_addr = sys::socket::local_addr(&holder)?;
        let queues = if method == Method::Xdp { self.sockets } else { 1 };
        let cpus = assign_cpus(queues, Steer::Hash, self.cpus.as_deref())?;
        let attachment = Attachment::attach(&xdp::Request {
            addr: local_addr,
            iface: self.iface.as_deref(),
            queues,
            frames: ring_buffers as u32,
            kind: if method == Method::Xdp { xdp::Kind::Redirect } else { xdp::Kind::Drop },
            force: self.force,
        })?;
        let drops_source = if method == Method::Xdp {
            "XDP_STATISTICS (rx_dropped + rx_ring_full) of each AF_XDP socket"
        } else {
            "none: the XDP program drops every matching datagram after counting it"
        };
        let setup = SetupInfo {
            local_addr,
            requested_method: method,
            method,
            fallback_reason: None,
            uring_mode: None,
            sockets: queues,
            steer: Steer::Hash,
            cpus,
            rcvbuf: Vec::new(),
            rcvbuf_requested: None,
            batch: self.batch,
            full_batch: false,
            ring_buffers,
            buffer_size: sys::xsk::FRAME_SIZE,
            gro: false,
            timestamps: false,
            pktinfo: false,
            ecn: false,
            busy_poll: None,
            prefer_busy_poll: false,
            busy_poll_budget: None,
            spin: self.spin,
            duration: self.duration,
            drops_source: drops_source.to_string(),
            source_addresses: true,
            uring_napi: None,
            epoll_busy_poll: None,
            xdp: Some(attachment.info.clone()),
        };
        let cfg = LoopConfig {
            batch: self.batch,
            full_batch: false,
            ring_buffers,
            buffer_size: sys::xsk::FRAME_SIZE,
            gro: false,
            timestamps: false,
            pktinfo: false,
            ecn: false,
            spin: self.spin,
            idle_ns: self.idle.as_nanos().min(u64::MAX as u128) as u64,
            uring_defer: false,
            napi_busy_poll: None,
            epoll_params: None,
            names: true,
            cmsg: false,
            meminfo_drops: false,
            fallback_on_refusal: false,
            inject_multishot_einval: false,
        };
        Ok(Receiver {
            sockets: vec![holder],
            setup,
            cfg,
            stop: self.stop.unwrap_or_default(),
            xdp: Some(attachment),
        })
    }
}
