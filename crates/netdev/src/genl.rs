//! A small generic netlink client for the kernel's `netdev` family: the per-NAPI settings
//! (`napi-get`, `napi-set`, Linux 6.13+), which have no sysfs or ethtool interface. IRQ
//! suspension (`irq-suspend-timeout`) is set only here.
//!
//! The messages are built and parsed by pure functions ([`family_request`],
//! [`napi_get_dump_request`], [`napi_set_request`], [`parse_messages`], [`parse_napi`],
//! [`parse_family_id`], [`ack_result`]), tested on recorded bytes; [`NetdevSocket`] does the
//! socket I/O, in the calling thread's network namespace. Numbers from
//! `uapi/linux/netlink.h`, `uapi/linux/genetlink.h` and `uapi/linux/netdev.h` (Linux 6.18).
//!
//! This and [`crate::ethtool`] are the crate's modules that talk to the kernel with `unsafe`.

use std::io;

const NETLINK_GENERIC: libc::c_int = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// The generic netlink family of network devices.
pub const NETDEV_FAMILY: &str = "netdev";
/// `NETDEV_FAMILY_VERSION`.
const NETDEV_VERSION: u8 = 1;
/// `NETDEV_CMD_NAPI_GET`.
pub const NETDEV_CMD_NAPI_GET: u8 = 11;
/// `NETDEV_CMD_NAPI_SET`.
pub const NETDEV_CMD_NAPI_SET: u8 = 14;
const NAPI_IFINDEX: u16 = 1;
const NAPI_ID: u16 = 2;
const NAPI_IRQ: u16 = 3;
const NAPI_PID: u16 = 4;
const NAPI_DEFER_HARD_IRQS: u16 = 5;
const NAPI_GRO_FLUSH_TIMEOUT: u16 = 6;
const NAPI_IRQ_SUSPEND_TIMEOUT: u16 = 7;
const NAPI_THREADED: u16 = 8;

/// How long a reply may take before the exchange fails (instead of blocking for ever).
const RECV_TIMEOUT_SECS: libc::time_t = 5;

/// Largest reply buffer read at once (the kernel sizes dump skbs below this).
const RECV_BYTES: usize = 64 * 1024;

/// A per-NAPI parameter `napi-set` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NapiParam {
    /// `defer-hard-irqs` (u32, at most `i32::MAX`).
    DeferHardIrqs,
    /// `gro-flush-timeout`, ns (uint).
    GroFlushTimeout,
    /// `irq-suspend-timeout`, ns (uint; Linux 6.13+).
    IrqSuspendTimeout,
}

impl NapiParam {
    /// Every parameter.
    pub const ALL: [NapiParam; 3] =
        [NapiParam::DeferHardIrqs, NapiParam::GroFlushTimeout, NapiParam::IrqSuspendTimeout];

    /// The attribute's name in the netdev family spec (`irq-suspend-timeout`).
    pub fn name(self) -> &'static str {
        match self {
            NapiParam::DeferHardIrqs => "defer-hard-irqs",
            NapiParam::GroFlushTimeout => "gro-flush-timeout",
            NapiParam::IrqSuspendTimeout => "irq-suspend-timeout",
        }
    }

    /// The parameter of a spec name.
    pub fn from_name(name: &str) -> Option<NapiParam> {
        NapiParam::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The largest value the kernel takes.
    pub fn max(self) -> u64 {
        match self {
            NapiParam::DeferHardIrqs => i32::MAX as u64,
            _ => u64::MAX,
        }
    }

    fn attr(self) -> u16 {
        match self {
            NapiParam::DeferHardIrqs => NAPI_DEFER_HARD_IRQS,
            NapiParam::GroFlushTimeout => NAPI_GRO_FLUSH_TIMEOUT,
            NapiParam::IrqSuspendTimeout => NAPI_IRQ_SUSPEND_TIMEOUT,
        }
    }

    /// Its value in a reply (`None` when the reply lacks the attribute: an older kernel).
    pub fn of(self, n: &Napi) -> Option<u64> {
        match self {
            NapiParam::DeferHardIrqs => n.defer_hard_irqs.map(u64::from),
            NapiParam::GroFlushTimeout => n.gro_flush_timeout,
            NapiParam::IrqSuspendTimeout => n.irq_suspend_timeout,
        }
    }
}

/// One NAPI instance as `napi-get` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Napi {
    /// NAPI id (system-wide).
    pub id: u32,
    /// Interface index.
    pub ifindex: Option<u32>,
    /// IRQ raised by the instance, if it has one.
    pub irq: Option<u32>,
    /// Pid of its kthread when threaded.
    pub pid: Option<u32>,
    /// `defer-hard-irqs`.
    pub defer_hard_irqs: Option<u32>,
    /// `gro-flush-timeout`, ns.
    pub gro_flush_timeout: Option<u64>,
    /// `irq-suspend-timeout`, ns (absent before Linux 6.13).
    pub irq_suspend_timeout: Option<u64>,
    /// Threaded mode (`0` disabled, `1` enabled, ...).
    pub threaded: Option<u32>,
}

/// Why a netlink exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum GenlError {
    /// A socket call failed.
    #[error("netlink socket: {0}")]
    Io(#[from] io::Error),
    /// The kernel answered with an error (errno, extended-ack message if any).
    #[error("{}{}", io::Error::from_raw_os_error(*.errno), .msg.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kernel {
        /// Positive errno.
        errno: i32,
        /// The kernel's extended-ack message.
        msg: Option<String>,
    },
    /// A reply did not parse.
    #[error("malformed netlink reply: {0}")]
    Malformed(String),
    /// The generic netlink family is not registered.
    #[error("the generic netlink family '{0}' is not offered by this kernel")]
    NoFamily(String),
}

/// One netlink message of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// What follows the 16-byte header.
    pub payload: &'a [u8],
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn put_attr(buf: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(align4(buf.len()), 0);
}

/// A request: netlink header, genetlink header (`cmd`, `version`), attributes.
fn request(ty: u16, flags: u16, seq: u32, cmd: u8, version: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b.extend_from_slice(&[cmd, version, 0, 0]);
    for (t, d) in attrs {
        put_attr(&mut b, *t, d);
    }
    let len = b.len() as u32;
    b[0..4].copy_from_slice(&len.to_ne_bytes());
    b[4..6].copy_from_slice(&ty.to_ne_bytes());
    b[6..8].copy_from_slice(&flags.to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b
}

/// `CTRL_CMD_GETFAMILY` for `name`.
pub fn family_request(seq: u32, name: &str) -> Vec<u8> {
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    request(GENL_ID_CTRL, NLM_F_REQUEST, seq, CTRL_CMD_GETFAMILY, 1, &[(CTRL_ATTR_FAMILY_NAME, &n)])
}

/// `napi-get` dump of the NAPI instances of interface `ifindex`.
pub fn napi_get_dump_request(family: u16, seq: u32, ifindex: u32) -> Vec<u8> {
    request(
        family,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        NETDEV_CMD_NAPI_GET,
        NETDEV_VERSION,
        &[(NAPI_IFINDEX, &ifindex.to_ne_bytes())],
    )
}

/// `napi-set` of one parameter on NAPI `id`, asking for an ack.
pub fn napi_set_request(family: u16, seq: u32, id: u32, param: NapiParam, value: u64) -> Vec<u8> {
    let v32;
    let v64;
    let data: &[u8] = match param {
        NapiParam::DeferHardIrqs => {
            v32 = (value.min(param.max()) as u32).to_ne_bytes();
            &v32
        }
        _ => {
            v64 = value.to_ne_bytes();
            &v64
        }
    };
    request(
        family,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        NETDEV_CMD_NAPI_SET,
        NETDEV_VERSION,
        &[(NAPI_ID, &id.to_ne_bytes()), (param.attr(), data)],
    )
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Splits a buffer read from the socket into its netlink messages.
pub fn parse_messages(buf: &[u8]) -> Result<Vec<Message<'_>>, GenlError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        if buf.len() - i < 16 {
            return Err(GenlError::Malformed(format!("{} trailing bytes", buf.len() - i)));
        }
        let len = u32_at(buf, i) as usize;
        if len < 16 || len > buf.len() - i {
            return Err(GenlError::Malformed(format!("message length {len} at offset {i}")));
        }
        out.push(Message {
            ty: u16_at(buf, i + 4),
            flags: u16_at(buf, i + 6),
            seq: u32_at(buf, i + 8),
            payload: &buf[i + 16..i + len],
        });
        i += align4(len).min(buf.len() - i);
    }
    Ok(out)
}

/// The attributes of a payload: (type without the nested/byte-order flags, data).
fn attrs(mut b: &[u8]) -> Result<Vec<(u16, &[u8])>, GenlError> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16_at(b, 0) as usize;
        if len < 4 || len > b.len() {
            return Err(GenlError::Malformed(format!("attribute length {len}")));
        }
        out.push((u16_at(b, 2) & NLA_TYPE_MASK, &b[4..len]));
        b = &b[align4(len).min(b.len())..];
    }
    Ok(out)
}

fn get_u32(name: &str, d: &[u8]) -> Result<u32, GenlError> {
    match d.len() {
        4 => Ok(u32_at(d, 0)),
        n => Err(GenlError::Malformed(format!("{name}: {n} bytes for a u32"))),
    }
}

/// An `NLA_UINT`: 4 or 8 bytes.
fn get_uint(name: &str, d: &[u8]) -> Result<u64, GenlError> {
    match d.len() {
        4 => Ok(u64::from(u32_at(d, 0))),
        8 => Ok(u64::from_ne_bytes(d.try_into().unwrap_or([0; 8]))),
        n => Err(GenlError::Malformed(format!("{name}: {n} bytes for a uint"))),
    }
}

/// The result an `NLMSG_ERROR` payload carries: `Ok` for an ack (error 0), else the errno and
/// the extended-ack message.
pub fn ack_result(flags: u16, payload: &[u8]) -> Result<(), GenlError> {
    if payload.len() < 4 {
        return Err(GenlError::Malformed("short error message".into()));
    }
    let err = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if err == 0 {
        return Ok(());
    }
    // struct nlmsgerr: the error, then the request's header (capped) or the whole request.
    let mut msg = None;
    if flags & NLM_F_ACK_TLVS != 0 && payload.len() >= 20 {
        let skip = if flags & NLM_F_CAPPED != 0 { 16 } else { align4(u32_at(payload, 4) as usize) };
        if let Some(tlvs) = payload.get(4 + skip..) {
            for (t, d) in attrs(tlvs).unwrap_or_default() {
                if t == NLMSGERR_ATTR_MSG {
                    let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
                    msg = Some(String::from_utf8_lossy(&d[..end]).into_owned());
                }
            }
        }
    }
    Err(GenlError::Kernel { errno: err.saturating_neg(), msg })
}

/// The family id of a `CTRL_CMD_GETFAMILY` reply.
pub fn parse_family_id(msgs: &[Message<'_>], name: &str) -> Result<u16, GenlError> {
    for m in msgs {
        if m.ty == NLMSG_ERROR {
            return match ack_result(m.flags, m.payload) {
                Err(GenlError::Kernel { errno: libc::ENOENT, .. }) => {
                    Err(GenlError::NoFamily(name.into()))
                }
                Err(e) => Err(e),
                Ok(()) => continue,
            };
        }
        if m.ty != GENL_ID_CTRL || m.payload.len() < 4 {
            continue;
        }
        for (t, d) in attrs(&m.payload[4..])? {
            if t == CTRL_ATTR_FAMILY_ID && d.len() == 2 {
                return Ok(u16_at(d, 0));
            }
        }
    }
    Err(GenlError::Malformed(format!("no family id for '{name}' in the reply")))
}

/// One `napi-get` reply message (after the genetlink header) as a [`Napi`].
pub fn parse_napi(payload: &[u8]) -> Result<Napi, GenlError> {
    if payload.len() < 4 {
        return Err(GenlError::Malformed("short napi-get reply".into()));
    }
    let mut n = Napi::default();
    let mut id = None;
    for (t, d) in attrs(&payload[4..])? {
        match t {
            NAPI_IFINDEX => n.ifindex = Some(get_u32("ifindex", d)?),
            NAPI_ID => id = Some(get_u32("id", d)?),
            NAPI_IRQ => n.irq = Some(get_u32("irq", d)?),
            NAPI_PID => n.pid = Some(get_u32("pid", d)?),
            NAPI_DEFER_HARD_IRQS => n.defer_hard_irqs = Some(get_u32("defer-hard-irqs", d)?),
            NAPI_GRO_FLUSH_TIMEOUT => n.gro_flush_timeout = Some(get_uint("gro-flush-timeout", d)?),
            NAPI_IRQ_SUSPEND_TIMEOUT => {
                n.irq_suspend_timeout = Some(get_uint("irq-suspend-timeout", d)?)
            }
            NAPI_THREADED => n.threaded = Some(get_u32("threaded", d)?),
            _ => {} // attributes of newer kernels
        }
    }
    n.id = id.ok_or_else(|| GenlError::Malformed("napi-get reply without an id".into()))?;
    Ok(n)
}

/// The NAPI instances of a dump's messages; `Some(result)` once the dump is done (`NLMSG_DONE`,
/// or an error). Linux 6.18 sends the netdev family's dump messages without `NLM_F_MULTI`,
/// so only `DONE` ends a dump.
pub fn collect_dump(
    msgs: &[Message<'_>],
    family: u16,
    out: &mut Vec<Napi>,
) -> Option<Result<(), GenlError>> {
    for m in msgs {
        match m.ty {
            NLMSG_DONE => {
                // The DONE payload is an int: a negative errno when the dump failed.
                let err =
                    m.payload.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                return Some(if err < 0 {
                    Err(GenlError::Kernel { errno: -err, msg: None })
                } else {
                    Ok(())
                });
            }
            NLMSG_ERROR => {
                return Some(ack_result(m.flags, m.payload));
            }
            t if t == family => match parse_napi(m.payload) {
                Ok(n) => out.push(n),
                Err(e) => return Some(Err(e)),
            },
            _ => {}
        }
    }
    None
}

/// An owned file descriptor.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once.
        unsafe { libc::close(self.0) };
    }
}

/// A generic netlink socket bound to the `netdev` family, in the network namespace of the
/// thread that opened it.
pub struct NetdevSocket {
    fd: Fd,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl std::fmt::Debug for NetdevSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetdevSocket")
            .field("fd", &self.fd.0)
            .field("family", &self.family)
            .finish()
    }
}

impl NetdevSocket {
    /// Opens a socket and resolves the `netdev` family id.
    pub fn open() -> Result<NetdevSocket, GenlError> {
        // SAFETY: plain socket(2) call; the result is checked and owned by `Fd`.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_GENERIC)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error().into());
        }
        let fd = Fd(fd);
        for opt in [NETLINK_CAP_ACK, NETLINK_EXT_ACK] {
            let one: libc::c_int = 1;
            // SAFETY: `one` is a live c_int whose size is passed; best effort (older kernels
            // lack the options, which only shorten acks and add messages).
            unsafe {
                libc::setsockopt(
                    fd.0,
                    SOL_NETLINK,
                    opt,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        // A kernel always answers; the timeout only keeps a lost reply from hanging the caller.
        let timeout = libc::timeval { tv_sec: RECV_TIMEOUT_SECS, tv_usec: 0 };
        // SAFETY: `timeout` is a live timeval whose size is passed with it.
        let rc = unsafe {
            libc::setsockopt(
                fd.0,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error().into());
        }
        let mut s = NetdevSocket { fd, family: 0, seq: 0, buf: vec![0u8; RECV_BYTES] };
        let seq = s.next_seq();
        s.send(&family_request(seq, NETDEV_FAMILY))?;
        let n = s.recv()?;
        s.family = parse_family_id(&parse_messages(&s.buf[..n])?, NETDEV_FAMILY)?;
        Ok(s)
    }

    /// The resolved family id.
    pub fn family(&self) -> u16 {
        self.family
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, msg: &[u8]) -> Result<(), GenlError> {
        // SAFETY: a zeroed sockaddr_nl is valid; nl_family set to address the kernel (pid 0).
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `msg` and `to` are live for the call, their lengths passed with them.
        let rc = unsafe {
            libc::sendto(
                self.fd.0,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error().into());
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<usize, GenlError> {
        loop {
            // SAFETY: `buf` is writable for its length for the duration of the call.
            let rc =
                unsafe { libc::recv(self.fd.0, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.into());
            }
            return Ok(rc as usize);
        }
    }

    /// The NAPI instances of interface `ifindex` (empty when the device lists none).
    pub fn napi_list(&mut self, ifindex: u32) -> Result<Vec<Napi>, GenlError> {
        let seq = self.next_seq();
        self.send(&napi_get_dump_request(self.family, seq, ifindex))?;
        let mut out = Vec::new();
        loop {
            let n = self.recv()?;
            let buf = std::mem::take(&mut self.buf);
            let done = parse_messages(&buf[..n]).map(|msgs| {
                let ours: Vec<Message<'_>> = msgs.into_iter().filter(|m| m.seq == seq).collect();
                collect_dump(&ours, self.family, &mut out)
            });
            self.buf = buf;
            match done? {
                Some(r) => {
                    r?;
                    break;
                }
                None => continue,
            }
        }
        // The kernel filters by ifindex; keep only ours in case an older one did not.
        out.retain(|n| n.ifindex.is_none_or(|i| i == ifindex));
        Ok(out)
    }

    /// Sets one parameter of NAPI `id` and waits for the kernel's ack.
    pub fn napi_set(&mut self, id: u32, param: NapiParam, value: u64) -> Result<(), GenlError> {
        if value > param.max() {
            return Err(GenlError::Kernel { errno: libc::ERANGE, msg: None });
        }
        let seq = self.next_seq();
        self.send(&napi_set_request(self.family, seq, id, param, value))?;
        loop {
            let n = self.recv()?;
            let msgs = parse_messages(&self.buf[..n])?;
            if let Some(m) = msgs.iter().find(|m| m.seq == seq && m.ty == NLMSG_ERROR) {
                return ack_result(m.flags, m.payload);
            }
        }
    }
}

/// Whether the process runs as root (`napi-set` needs CAP_NET_ADMIN; root is what the bench
/// asks for).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The index of interface `dev` in the calling thread's network namespace.
pub fn ifindex(dev: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(dev)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string alive for the call.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 {
        let e = io::Error::last_os_error();
        // if_nametoindex reports an unknown name as ENODEV: say it as such.
        return Err(if e.raw_os_error() == Some(0) {
            io::Error::from_raw_os_error(libc::ENODEV)
        } else {
            e
        });
    }
    Ok(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_encoded_as_the_kernel_reads_them() {
        let f = family_request(1, "netdev");
        // len 32: 16 header + 4 genl + 4 attr header + "netdev\0" padded to 8.
        assert_eq!(f.len(), 32);
        assert_eq!(u32_at(&f, 0), 32);
        assert_eq!(u16_at(&f, 4), GENL_ID_CTRL);
        assert_eq!(u16_at(&f, 6), NLM_F_REQUEST);
        assert_eq!(&f[16..20], &[CTRL_CMD_GETFAMILY, 1, 0, 0]);
        assert_eq!(u16_at(&f, 20), 11);
        assert_eq!(u16_at(&f, 22), CTRL_ATTR_FAMILY_NAME);
        assert_eq!(&f[24..32], b"netdev\0\0");
        let d = napi_get_dump_request(30, 2, 7);
        assert_eq!((d.len(), u16_at(&d, 4), u16_at(&d, 6)), (28, 30, 0x301));
        assert_eq!(&d[16..20], &[NETDEV_CMD_NAPI_GET, 1, 0, 0]);
        assert_eq!((u16_at(&d, 20), u16_at(&d, 22), u32_at(&d, 24)), (8, NAPI_IFINDEX, 7));
        let s = napi_set_request(30, 3, 8193, NapiParam::IrqSuspendTimeout, 2_000_000);
        assert_eq!((s.len(), u16_at(&s, 6)), (40, NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(&s[16..20], &[NETDEV_CMD_NAPI_SET, 1, 0, 0]);
        assert_eq!((u16_at(&s, 20), u16_at(&s, 22), u32_at(&s, 24)), (8, NAPI_ID, 8193));
        assert_eq!((u16_at(&s, 28), u16_at(&s, 30)), (12, NAPI_IRQ_SUSPEND_TIMEOUT));
        assert_eq!(get_uint("x", &s[32..40]).unwrap(), 2_000_000);
        let h = napi_set_request(30, 4, 8193, NapiParam::DeferHardIrqs, 2);
        assert_eq!((h.len(), u16_at(&h, 28), u16_at(&h, 30), u32_at(&h, 32)), (36, 8, 5, 2));
    }

    #[test]
    fn truncated_and_garbled_buffers_are_refused_not_panicked_on() {
        assert!(parse_messages(&[0u8; 10]).is_err());
        let mut m = napi_get_dump_request(30, 1, 1);
        m[0] = 200; // length beyond the buffer
        assert!(parse_messages(&m).is_err());
        assert!(parse_napi(&[1, 0]).is_err());
        assert!(parse_napi(&[0, 0, 0, 0, 40, 0, 2, 0]).is_err());
        // No id: refused.
        assert!(parse_napi(&[0, 0, 0, 0, 8, 0, 1, 0, 1, 0, 0, 0]).is_err());
        assert!(ack_result(0, &[1]).is_err());
        for p in NapiParam::ALL {
            assert_eq!(NapiParam::from_name(p.name()), Some(p));
        }
        assert_eq!(NapiParam::from_name("threaded"), None);
    }
}

/// Replies recorded from Linux 6.18 (x86_64) on a veth with GRO on, in a namespace of its own.
#[cfg(test)]
mod recorded {
    use super::*;

    /// `CTRL_CMD_GETFAMILY` "netdev": family id 20.
    const FAMILY: &str = "1c0100001000000004000000f9530000010200000b0002006e657464657600000600010014000000080003000100000008000400000000000800050000000000a4000600140001000800010001000000080002000e000000140002000800010005000000080002000e00000014000300080001000a000000080002000e00000014000400080001000b000000080002000e00000014000500080001000c000000080002000c00000014000600080001000d000000080002000b00000014000700080001000e000000080002000b00000014000800080001000f000000080002000a00000038000700180001000800020004000000090001006d676d74000000001c00020008000200050000000e000100706167652d706f6f6c000000";
    /// `CTRL_CMD_GETFAMILY` "nosuchfam": ENOENT.
    const NO_FAMILY: &str =
        "240000000200000105000000f9530000feffffff24000000100001000500000000000000";
    /// `napi-get` dump of ifindex 2, a two-queue veth: NAPIs 1483 and 1482, then DONE.
    const DUMP_TWO: &str = "440000001400000002000000f95300000b01000008000200cb05000008000100020000000800080000000000080005000000000008000700000000000800060000000000440000001400000002000000f95300000b01000008000200ca05000008000100020000000800080000000000080005000000000008000700000000000800060000000000140000000300020002000000f953000000000000";
    /// The same dump after `napi-set` irq-suspend-timeout 2000000 on NAPI 1485.
    const DUMP_SET: &str = "440000001400000007000000be5600000b01000008000200cd0500000800010002000000080008000000000008000500000000000800070080841e000800060000000000140000000300020007000000be56000000000000";
    /// The dump of a veth with GRO off: DONE only, no NAPI listed.
    const DUMP_NONE: &str = "1400000003000200020000000c53000000000000";
    /// `napi-set` ack: error 0 (capped).
    const ACK_OK: &str = "240000000200000106000000be5600000000000028000000140005000600000000000000";
    /// `napi-set` of NAPI id 1: ENOENT, with the offset of the id attribute.
    const ACK_ENOENT: &str =
        "2c0000000200000303000000f9530000feffffff280000001400050003000000000000000800020014000000";
    /// `napi-set` defer-hard-irqs 2^32-1: ERANGE, "integer out of range" and the policy.
    const ACK_RANGE: &str = "6c0000000200000304000000cd540000deffffff2400000014000500040000000000000019000100696e7465676572206f7574206f662072616e676500000000080002001c000000240004800c00040000000000000000000c000500ffffff7f000000000800010004000000";

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    fn dump(hex: &str) -> (Option<Result<(), GenlError>>, Vec<Napi>) {
        let b = bytes(hex);
        let msgs = parse_messages(&b).unwrap();
        let mut out = Vec::new();
        (collect_dump(&msgs, 20, &mut out), out)
    }

    #[test]
    fn the_family_id_resolves_and_a_missing_family_says_so() {
        let b = bytes(FAMILY);
        assert_eq!(parse_family_id(&parse_messages(&b).unwrap(), "netdev").unwrap(), 20);
        let b = bytes(NO_FAMILY);
        let e = parse_family_id(&parse_messages(&b).unwrap(), "nosuchfam").unwrap_err();
        assert!(matches!(e, GenlError::NoFamily(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "the generic netlink family 'nosuchfam' is not offered by this kernel"
        );
    }

    #[test]
    fn napi_get_dumps_parse_into_typed_instances() {
        let (done, napis) = dump(DUMP_TWO);
        assert!(matches!(done, Some(Ok(()))));
        let want = |id| Napi {
            id,
            ifindex: Some(2),
            irq: None,
            pid: None,
            defer_hard_irqs: Some(0),
            gro_flush_timeout: Some(0),
            irq_suspend_timeout: Some(0),
            threaded: Some(0),
        };
        assert_eq!(napis, [want(1483), want(1482)]);
        let (done, napis) = dump(DUMP_SET);
        assert!(matches!(done, Some(Ok(()))));
        assert_eq!(napis.len(), 1);
        assert_eq!(NapiParam::IrqSuspendTimeout.of(&napis[0]), Some(2_000_000));
        assert_eq!(NapiParam::DeferHardIrqs.of(&napis[0]), Some(0));
        let (done, napis) = dump(DUMP_NONE);
        assert!(matches!(done, Some(Ok(()))) && napis.is_empty());
        // A dump cut before DONE is not finished.
        let b = bytes(DUMP_TWO);
        let msgs = parse_messages(&b[..0x44]).unwrap();
        assert!(collect_dump(&msgs, 20, &mut Vec::new()).is_none());
    }

    #[test]
    fn a_reply_without_irq_suspend_timeout_reads_as_absent() {
        // The recorded reply with the irq-suspend-timeout attribute (8 bytes at offset 52)
        // taken out, as a kernel before 6.13 answers.
        let mut b = bytes(DUMP_SET);
        assert_eq!(&b[52..56], &[8, 0, 7, 0]);
        b.drain(52..60);
        b[0..4].copy_from_slice(&0x3cu32.to_ne_bytes());
        let msgs = parse_messages(&b).unwrap();
        let mut out = Vec::new();
        assert!(matches!(collect_dump(&msgs, 20, &mut out), Some(Ok(()))));
        assert_eq!(out[0].id, 1485);
        assert_eq!(out[0].irq_suspend_timeout, None);
        assert_eq!(out[0].gro_flush_timeout, Some(0));
    }

    #[test]
    fn acks_and_their_errors() {
        let ack = |hex: &str| {
            let b = bytes(hex);
            let m = parse_messages(&b).unwrap()[0].clone();
            assert_eq!(m.ty, NLMSG_ERROR);
            ack_result(m.flags, m.payload).map_err(|e| match e {
                GenlError::Kernel { errno, msg } => (errno, msg),
                other => panic!("{other}"),
            })
        };
        assert_eq!(ack(ACK_OK), Ok(()));
        assert_eq!(ack(ACK_ENOENT), Err((libc::ENOENT, None)));
        assert_eq!(ack(ACK_RANGE), Err((libc::ERANGE, Some("integer out of range".into()))));
        let b = bytes(ACK_RANGE);
        let m = parse_messages(&b).unwrap()[0].clone();
        let e = ack_result(m.flags, m.payload).unwrap_err().to_string();
        assert!(e.ends_with("(integer out of range)"), "{e}");
        // An error inside a dump ends it with the error.
        let (done, _) = dump(ACK_ENOENT);
        assert!(matches!(done, Some(Err(GenlError::Kernel { errno: libc::ENOENT, .. }))));
    }
}
