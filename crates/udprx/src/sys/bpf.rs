//! The `bpf()` system call, for the XDP paths: maps (XSKMAP, per-CPU array), loading the
//! programs of [`crate::xdp::prog`], BPF links and the object queries that find out who holds
//! an interface's XDP hook.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::xdp::prog::Insn;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_GET_NEXT_ID: libc::c_long = 31;
const BPF_LINK_DETACH: libc::c_long = 34;

/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
pub(crate) const MAP_PERCPU_ARRAY: u32 = 6;
/// `BPF_MAP_TYPE_XSKMAP`.
pub(crate) const MAP_XSKMAP: u32 = 17;
const PROG_TYPE_XDP: u32 = 6;
const ATTACH_XDP: u32 = 37;
const LINK_TYPE_XDP: u32 = 6;

/// `XDP_FLAGS_SKB_MODE`: generic XDP, after the skb is built.
pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`: native XDP in the driver.
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// A `union bpf_attr`, large enough for every command used here, written field by field at
/// the offsets of linux/bpf.h.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(mut self, off: usize, v: u32) -> Attr {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, off: usize, v: u64) -> Attr {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn name(mut self, off: usize, name: &str) -> Attr {
        let n = name.len().min(15);
        self.0[off..off + n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap_or([0; 4]))
    }
}

fn sys_bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, writable, 8-aligned buffer of the size passed; every pointer
    // stored in it (by the callers below) points at memory that outlives this call.
    let rc = unsafe {
        libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), std::mem::size_of::<Attr>())
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn fd_result(cmd: libc::c_long, attr: &mut Attr) -> io::Result<OwnedFd> {
    let fd = sys_bpf(cmd, attr)? as RawFd;
    // SAFETY: the command returned a fresh file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a map with 4-byte keys.
pub(crate) fn map_create(
    map_type: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut a = Attr::new()
        .u32(0, map_type)
        .u32(4, 4)
        .u32(8, value_size)
        .u32(12, max_entries)
        .name(28, name);
    fd_result(BPF_MAP_CREATE, &mut a)
}

/// Stores `value` (a u32, e.g. an AF_XDP socket fd) at `key`.
pub(crate) fn map_update_u32(map: &OwnedFd, key: u32, value: u32) -> io::Result<()> {
    let k = key;
    let v = value;
    let mut a = Attr::new()
        .u32(0, map.as_raw_fd() as u32)
        .u64(8, &k as *const u32 as u64)
        .u64(16, &v as *const u32 as u64);
    sys_bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

/// The sums over every possible CPU of the two u64 at `key` of a per-CPU array whose values
/// are 16 bytes.
pub(crate) fn percpu_sum_pair(map: &OwnedFd, key: u32) -> io::Result<[u64; 2]> {
    let n = possible_cpus();
    let mut values = vec![0u64; 2 * n];
    let k = key;
    let mut a = Attr::new()
        .u32(0, map.as_raw_fd() as u32)
        .u64(8, &k as *const u32 as u64)
        .u64(16, values.as_mut_ptr() as u64);
    sys_bpf(BPF_MAP_LOOKUP_ELEM, &mut a)?;
    let mut sum = [0u64; 2];
    for pair in values.chunks_exact(2) {
        sum[0] = sum[0].saturating_add(pair[0]);
        sum[1] = sum[1].saturating_add(pair[1]);
    }
    Ok(sum)
}

/// Number of possible CPUs (`/sys/devices/system/cpu/possible`, e.g. `0-3`): the per-CPU map
/// value count.
fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| {
            s.trim()
                .split(',')
                .filter_map(|p| match p.split_once('-') {
                    Some((_, b)) => b.parse::<usize>().ok(),
                    None => p.parse::<usize>().ok(),
                })
                .max()
        })
        .map(|m| m + 1)
        .unwrap_or(1024)
}

/// Loads an XDP program; on refusal, the error carries the tail of the verifier's log.
pub(crate) fn prog_load_xdp(insns: &[Insn], name: &str) -> io::Result<OwnedFd> {
    let license = c"GPL";
    let attr = |log: &mut Vec<u8>| {
        Attr::new()
            .u32(0, PROG_TYPE_XDP)
            .u32(4, insns.len() as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64)
            .u32(24, if log.is_empty() { 0 } else { 1 })
            .u32(28, log.len() as u32)
            .u64(32, if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 })
            .name(48, name)
            .u32(68, ATTACH_XDP)
    };
    let mut none = Vec::new();
    match fd_result(BPF_PROG_LOAD, &mut attr(&mut none)) {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EINVAL)) => {
            let mut log = vec![0u8; 1 << 16];
            let again = fd_result(BPF_PROG_LOAD, &mut attr(&mut log));
            if let Ok(fd) = again {
                return Ok(fd);
            }
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(io::Error::new(e.kind(), format!("{e}; verifier: {}", tail.join(" | "))))
        }
        Err(e) => Err(e),
    }
}

/// Attaches `prog` to `ifindex`'s XDP hook through a BPF link (`flags`: driver or generic
/// mode). The program stays attached exactly as long as the returned fd is open.
pub(crate) fn link_create_xdp(prog: &OwnedFd, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    let mut a = Attr::new()
        .u32(0, prog.as_raw_fd() as u32)
        .u32(4, ifindex)
        .u32(8, ATTACH_XDP)
        .u32(12, flags);
    fd_result(BPF_LINK_CREATE, &mut a)
}

/// Detaches a link from its hook now (the fd stays valid, the program is gone).
pub(crate) fn link_detach(link: RawFd) -> io::Result<()> {
    let mut a = Attr::new().u32(0, link as u32);
    sys_bpf(BPF_LINK_DETACH, &mut a).map(|_| ())
}

/// The name of the loaded program with this id, if it can be read.
pub(crate) fn prog_name(id: u32) -> io::Result<String> {
    let mut a = Attr::new().u32(0, id);
    let fd = fd_result(BPF_PROG_GET_FD_BY_ID, &mut a)?;
    let mut info = [0u8; 128];
    obj_info(&fd, &mut info)?;
    let name = &info[64..80];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

fn obj_info(fd: &OwnedFd, info: &mut [u8]) -> io::Result<()> {
    let mut a = Attr::new()
        .u32(0, fd.as_raw_fd() as u32)
        .u32(4, info.len() as u32)
        .u64(8, info.as_mut_ptr() as u64);
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a).map(|_| ())
}

/// The interface an XDP link is attached to: 0 once it was detached (by `link_detach` from any
/// process holding it, e.g. another run's `force(true)`).
pub(crate) fn xdp_link_ifindex(link: &OwnedFd) -> io::Result<u32> {
    let mut info = [0u8; 64];
    obj_info(link, &mut info)?;
    Ok(u32::from_ne_bytes(info[16..20].try_into().unwrap_or([0; 4])))
}

/// The BPF links attached to `ifindex`'s XDP hook with program `prog_id` (normally at most
/// one), opened. Link ids are global while interface indexes are per network namespace: the
/// program id (what netlink reports on this namespace's hook) tells this namespace's link from
/// another namespace's link on an interface of the same index.
pub(crate) fn xdp_links_on(ifindex: u32, prog_id: u32) -> io::Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    let mut id = 0u32;
    loop {
        let mut a = Attr::new().u32(0, id);
        match sys_bpf(BPF_LINK_GET_NEXT_ID, &mut a) {
            Ok(_) => id = a.get_u32(4),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(out),
            Err(e) => return Err(e),
        }
        let mut g = Attr::new().u32(0, id);
        let Ok(fd) = fd_result(BPF_LINK_GET_FD_BY_ID, &mut g) else { continue };
        let mut info = [0u8; 64];
        if obj_info(&fd, &mut info).is_err() {
            continue;
        }
        let get = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().unwrap_or([0; 4]));
        if get(0) == LINK_TYPE_XDP && get(8) == prog_id && get(16) == ifindex {
            out.push(fd);
        }
    }
}
