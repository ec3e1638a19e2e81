//! The XDP receive paths: [`Method::Xdp`](crate::Method::Xdp) (an AF_XDP socket per receive
//! queue, fed by a redirect program) and [`Method::XdpDrop`](crate::Method::XdpDrop) (a program
//! that counts and drops: the driver-level ceiling). Both need root (`CAP_NET_ADMIN` and
//! `CAP_BPF`) and Linux 5.9 or later; [`probe`] says whether this host offers AF_XDP.
//!
//! [`ReceiverBuilder::build`](crate::ReceiverBuilder::build) finds the interface
//! ([`iface`](crate::ReceiverBuilder::iface), else the one holding the bound address), refuses
//! a hook someone else holds (unless [`force`](crate::ReceiverBuilder::force)), loads the
//! program and attaches it with a BPF link owned by the [`Receiver`](crate::Receiver):
//! dropping it detaches the program, and because a BPF link dies with its last file
//! descriptor, the kernel detaches it too when the process exits in any way (end, error,
//! Ctrl-C, panic, even SIGKILL). A killed run therefore leaves nothing behind; the next run
//! still checks the hook and says what holds it. What was attached is reported in
//! [`XdpInfo`].

pub(crate) mod parse;
pub(crate) mod prog;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::Error;
use crate::sys::{bpf, netlink, xsk};

/// Name prefix of the programs udprx loads (`bpftool prog` shows it).
pub const PROG_PREFIX: &str = "udprx_";

/// Where and how the program is attached, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct XdpInfo {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Receive queues with an AF_XDP socket (empty for `xdp-drop`).
    pub queues: Vec<u32>,
    /// Receive queues the interface has.
    pub rx_queues: usize,
    /// `driver` (native XDP) or `generic` (skb mode).
    pub attach_mode: String,
    /// AF_XDP sockets: `zero-copy` or `copy` (`none` for `xdp-drop`).
    pub socket_mode: String,
    /// Need-wakeup flags in use.
    pub need_wakeup: bool,
    /// UMEM frames (and ring entries) per socket.
    pub frames: u32,
    /// What happened to an XDP program found on the interface (with `--force`), if any.
    pub replaced: Option<String>,
}

/// What the program does with matching datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Redirect to AF_XDP sockets.
    Redirect,
    /// Count and drop.
    Drop,
}

/// An attached XDP program and what it feeds: detached when dropped.
pub(crate) struct Attachment {
    /// The AF_XDP sockets, one per queue (`xdp`); empty for `xdp-drop`.
    pub xsks: Vec<xsk::Xsk>,
    /// The per-CPU counter map (`xdp-drop`).
    pub counter: Option<OwnedFd>,
    /// Report details.
    pub info: XdpInfo,
    link: OwnedFd,
    _map: OwnedFd,
    _prog: OwnedFd,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment").field("info", &self.info).finish()
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Explicit detach first; closing the link's fd (right after) would do it as well.
        let _ = bpf::link_detach(self.link.as_raw_fd());
    }
}

fn xdp_err(m: String) -> Error {
    Error::Xdp(m)
}

fn bpf_err(what: &str, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) if !what.starts_with("loading") => {
            xdp_err(format!("{what}: {e}: XDP needs CAP_BPF and CAP_NET_ADMIN (run as root)"))
        }
        Some(libc::ENOSYS) => xdp_err(format!("{what}: this kernel has no bpf() system call")),
        _ => xdp_err(format!("{what}: {e}")),
    }
}

/// Settings of one attachment.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub addr: SocketAddr,
    pub iface: Option<&'a str>,
    pub queues: usize,
    pub frames: u32,
    pub kind: Kind,
    pub force: bool,
}

/// Whether this process can use the XDP paths at all: creates an XSKMAP, loads the redirect
/// program and opens an AF_XDP socket, and closes them again (nothing is attached). The error
/// says what is missing, in one line.
pub fn probe() -> Result<(), String> {
    let map = bpf::map_create(bpf::MAP_XSKMAP, 4, 1, "udprx_probe")
        .map_err(|e| bpf_err("creating an XSKMAP", e).to_string())?;
    let insns = prog::assemble(
        std::net::Ipv4Addr::LOCALHOST.into(),
        9,
        prog::Action::Redirect,
        map.as_raw_fd(),
    );
    bpf::prog_load_xdp(&insns, "udprx_probe")
        .map_err(|e| bpf_err("loading an XDP program", e).to_string())?;
    xsk::probe().map_err(|e| xsk_err(xsk::XskError::Socket(e), "-", 0).to_string())
}

/// Resolves the interface: the one named, or the one holding the bound address.
pub(crate) fn resolve_iface(addr: SocketAddr, iface: Option<&str>) -> Result<(String, u32), Error> {
    let name = match iface {
        Some(n) => n.to_string(),
        None if addr.ip().is_unspecified() => {
            return Err(Error::Config(format!(
                "method xdp on the unspecified address {} needs `iface(Some(name))`",
                addr.ip()
            )));
        }
        None => match netlink::iface_of(addr.ip()) {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(xdp_err(format!(
                    "address {} is not on any interface of this network namespace: bind to an \
                     address of the receiving interface or name it with `iface(Some(name))`",
                    addr.ip()
                )));
            }
            Err(e) => return Err(xdp_err(format!("cannot list interface addresses: {e}"))),
        },
    };
    let index = netlink::ifindex(&name)
        .ok_or_else(|| xdp_err(format!("interface '{name}' not found (see `ip link`)")))?;
    Ok((name, index))
}

/// What holds the hook of `ifindex`, in words, or None when it is free.
pub(crate) fn holder(ifindex: u32) -> Result<Option<String>, Error> {
    let st = netlink::xdp_state(ifindex)
        .map_err(|e| xdp_err(format!("cannot query the interface's XDP hook (netlink): {e}")))?;
    if st.attached == 0 {
        return Ok(None);
    }
    let mode = match st.attached {
        1 => "driver",
        2 => "generic",
        3 => "offload",
        _ => "several modes",
    };
    let name = if st.prog_id == 0 {
        String::new()
    } else {
        match bpf::prog_name(st.prog_id) {
            Ok(n) if n.starts_with(PROG_PREFIX) => {
                format!(" '{n}' (another udprx run; a killed run's link goes with its process)")
            }
            Ok(n) => format!(" '{n}'"),
            Err(_) => String::new(),
        }
    };
    Ok(Some(format!("XDP program id {}{name} ({mode} mode)", st.prog_id)))
}

/// Removes whatever holds the hook of `ifindex`: BPF links (detached) and netlink attachments.
fn clear(ifindex: u32) -> Result<(), Error> {
    let st = netlink::xdp_state(ifindex)
        .map_err(|e| xdp_err(format!("cannot query the interface's XDP hook (netlink): {e}")))?;
    let links =
        bpf::xdp_links_on(ifindex, st.prog_id).map_err(|e| bpf_err("listing BPF links", e))?;
    for l in links {
        bpf::link_detach(l.as_raw_fd()).map_err(|e| bpf_err("detaching a BPF link", e))?;
    }
    for flags in [bpf::XDP_FLAGS_DRV_MODE, bpf::XDP_FLAGS_SKB_MODE] {
        // Refused when nothing is attached in that mode: fine.
        let _ = netlink::xdp_detach(ifindex, flags);
    }
    Ok(())
}

impl Attachment {
    /// Loads and attaches the program (and opens the AF_XDP sockets first for `xdp`).
    pub(crate) fn attach(r: &Request<'_>) -> Result<Attachment, Error> {
        let (iface, ifindex) = resolve_iface(r.addr, r.iface)?;
        let rx_queues = netlink::rx_queues(&iface);
        if r.kind == Kind::Redirect && r.queues > rx_queues {
            return Err(Error::Config(format!(
                "`sockets` {} asks for AF_XDP sockets on queues 0..{}, but {iface} has {rx_queues} \
                 receive queue(s)",
                r.queues,
                r.queues - 1
            )));
        }
        // Refused early when not forced (nothing is created); when forced, the hook is cleared
        // only below, once the program is loaded and every queue's socket is bound: a `force`
        // that cannot take the queues harms nothing.
        if let Some(h) = holder(ifindex)?
            && !r.force
        {
            return Err(xdp_err(format!(
                "{iface} already has an {h} attached; refusing to replace it (pass `force(true)` to \
                     detach it and take the hook)"
            )));
        }
        let (map, name) = match r.kind {
            Kind::Redirect => {
                (bpf::map_create(bpf::MAP_XSKMAP, 4, rx_queues as u32, "udprx_xsks"), "udprx_xdp")
            }
            Kind::Drop => {
                (bpf::map_create(bpf::MAP_PERCPU_ARRAY, 16, 1, "udprx_count"), "udprx_drop")
            }
        };
        let map = map.map_err(|e| bpf_err("creating the BPF map", e))?;
        let action = match r.kind {
            Kind::Redirect => prog::Action::Redirect,
            Kind::Drop => prog::Action::CountDrop,
        };
        let insns = prog::assemble(r.addr.ip(), r.addr.port(), action, map.as_raw_fd());
        let program =
            bpf::prog_load_xdp(&insns, name).map_err(|e| bpf_err("loading the XDP program", e))?;
        let mut xsks = Vec::new();
        if r.kind == Kind::Redirect {
            for q in 0..r.queues as u32 {
                let s = xsk::Xsk::open(ifindex, q, r.frames).map_err(|e| xsk_err(e, &iface, q))?;
                bpf::map_update_u32(&map, q, s.fd() as u32)
                    .map_err(|e| bpf_err("adding the AF_XDP socket to the XSKMAP", e))?;
                xsks.push(s);
            }
        }
        let mut replaced = None;
        if let Some(h) = holder(ifindex)? {
            if !r.force {
                return Err(busy(&iface, ifindex));
            }
            clear(ifindex)?;
            if let Some(still) = holder(ifindex)? {
                return Err(xdp_err(format!(
                    "`force(true)` could not detach the {still} from {iface}"
                )));
            }
            replaced = Some(format!("detached {h} (force)"));
        }
        let (link, attach_mode) =
            match bpf::link_create_xdp(&program, ifindex, bpf::XDP_FLAGS_DRV_MODE) {
                Ok(l) => (l, "driver"),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    return Err(busy(&iface, ifindex));
                }
                Err(_) => match bpf::link_create_xdp(&program, ifindex, bpf::XDP_FLAGS_SKB_MODE) {
                    Ok(l) => (l, "generic"),
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        return Err(busy(&iface, ifindex));
                    }
                    Err(e) => return Err(bpf_err("attaching the XDP program (BPF link)", e)),
                },
            };
        let first = xsks.first().map(|s| s.mode);
        let info = XdpInfo {
            iface,
            ifindex,
            queues: xsks.iter().map(|s| s.queue).collect(),
            rx_queues,
            attach_mode: attach_mode.into(),
            socket_mode: match first {
                Some(m) if m.zero_copy => "zero-copy".into(),
                Some(_) => "copy".into(),
                None => "none".into(),
            },
            need_wakeup: first.is_some_and(|m| m.need_wakeup),
            frames: if r.kind == Kind::Redirect { r.frames } else { 0 },
            replaced,
        };
        let counter = match r.kind {
            Kind::Drop => Some(map.try_clone().map_err(|e| bpf_err("dup of the map fd", e))?),
            Kind::Redirect => None,
        };
        Ok(Attachment { xsks, counter, info, link, _map: map, _prog: program })
    }
}

/// Watches whether an attachment's program is still on its hook (a second handle on its link).
#[derive(Debug)]
pub(crate) struct Watch {
    link: OwnedFd,
    iface: String,
}

impl Watch {
    /// `Some(error)` once the program was detached by someone else (another run's
    /// `force(true)`, `ip link set dev X xdp off` does not touch a link, `bpftool link detach`
    /// does): from then on this run receives nothing.
    pub(crate) fn lost(&self) -> Option<Error> {
        match bpf::xdp_link_ifindex(&self.link) {
            Ok(0) => Some(xdp_err(format!(
                "the XDP program of this run was detached from {} during the run (replaced by \
                 another program, e.g. a run with `--force`); the counts end there",
                self.iface
            ))),
            _ => None,
        }
    }
}

impl Attachment {
    /// A [`Watch`] on this attachment's program.
    pub(crate) fn watch(&self) -> std::io::Result<Watch> {
        Ok(Watch { link: self.link.try_clone()?, iface: self.info.iface.clone() })
    }
}

fn busy(iface: &str, ifindex: u32) -> Error {
    let who = holder(ifindex).ok().flatten().unwrap_or_else(|| "XDP program".into());
    xdp_err(format!(
        "{iface} already has an {who} attached (it appeared while this run set up); pass `force(true)` \
         to replace it"
    ))
}

fn xsk_err(e: xsk::XskError, iface: &str, queue: u32) -> Error {
    match e {
        xsk::XskError::Socket(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => xdp_err(
            "this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS); use another `method`".into(),
        ),
        xsk::XskError::Socket(e) if e.raw_os_error() == Some(libc::EPERM) => {
            xdp_err(format!("creating an AF_XDP socket: {e}: needs CAP_NET_RAW (run as root)"))
        }
        xsk::XskError::Socket(e) => xdp_err(format!("creating an AF_XDP socket: {e}")),
        xsk::XskError::Setup(what, e) => xdp_err(format!("AF_XDP set-up ({what}): {e}")),
        xsk::XskError::Bind(e) if e.raw_os_error() == Some(libc::EBUSY) => xdp_err(format!(
            "queue {queue} of {iface} is busy: another AF_XDP socket is bound to it"
        )),
        xsk::XskError::Bind(e) => {
            xdp_err(format!("binding the AF_XDP socket to {iface} queue {queue}: {e}"))
        }
    }
}
