//! An XDP program for the books tests: it drops about one IPv4 UDP frame in `2^bits` (chosen by
//! `bpf_get_prandom_u32`) and passes everything else (ARP, TCP — the agent's control channel —
//! IPv6), attached in native (driver) or generic (SKB) mode to an interface through a BPF link
//! that lives as long as the returned value. Assembled here as eBPF instructions: no C toolchain.
//!
//! Include it with `#[path]`; it uses only `libc`. Call [`attach`] from a thread inside the
//! interface's network namespace (the interface index is looked up there).
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

const XDP_DROP: i32 = 1;
const XDP_PASS: i32 = 2;

/// The program: `if (eth.type == IPv4 && ip.protocol == UDP && (prandom() & mask) == 0) DROP`.
fn program(bits: u32) -> Vec<Insn> {
    let mask = ((1u32 << bits.min(16)) - 1) as i32;
    vec![
        i(0x61, 2, 1, 0, 0),        // r2 = ctx->data
        i(0x61, 3, 1, 4, 0),        // r3 = ctx->data_end
        i(0xbf, 4, 2, 0, 0),        // r4 = r2
        i(0x07, 4, 0, 0, 34),       // r4 += 14 (Ethernet) + 20 (IPv4 header)
        i(0x2d, 4, 3, 9, 0),        // if r4 > r3 goto pass
        i(0x69, 5, 2, 12, 0),       // r5 = *(u16 *)(r2 + 12): EtherType, network order
        i(0x55, 5, 0, 7, 0x0008),   // if r5 != htons(0x0800) goto pass
        i(0x71, 5, 2, 23, 0),       // r5 = *(u8 *)(r2 + 23): IPv4 protocol
        i(0x55, 5, 0, 5, 17),       // if r5 != UDP goto pass
        i(0x85, 0, 0, 0, 7),        // r0 = bpf_get_prandom_u32()
        i(0x57, 0, 0, 0, mask),     // r0 &= mask
        i(0x55, 0, 0, 2, 0),        // if r0 != 0 goto pass
        i(0xb7, 0, 0, 0, XDP_DROP), // r0 = XDP_DROP
        i(0x95, 0, 0, 0, 0),        // exit
        i(0xb7, 0, 0, 0, XDP_PASS), // pass: r0 = XDP_PASS
        i(0x95, 0, 0, 0, 0),        // exit
    ]
}

#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn put(&mut self, off: usize, b: &[u8]) -> &mut Attr {
        self.0[off..off + b.len()].copy_from_slice(b);
        self
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a live, writable, 8-aligned buffer of the size passed; the pointers in
    // it point at buffers that outlive the call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), 128usize) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the command returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(rc as i32) })
}

/// The program attached to one interface; detached when dropped.
pub struct Attached {
    _prog: OwnedFd,
    _link: OwnedFd,
}

/// Loads the program and attaches it to `dev` (in the calling thread's namespace) in driver
/// mode, or in generic (SKB) mode when `generic`; the error says why not (verifier log tail,
/// no native XDP).
pub fn attach(dev: &str, bits: u32, generic: bool) -> Result<Attached, String> {
    let insns = program(bits);
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 16];
    let mut a = Attr([0; 128]);
    a.put(0, &6u32.to_ne_bytes()) // BPF_PROG_TYPE_XDP
        .put(4, &(insns.len() as u32).to_ne_bytes())
        .put(8, &(insns.as_ptr() as u64).to_ne_bytes())
        .put(16, &(license.as_ptr() as u64).to_ne_bytes())
        .put(24, &1u32.to_ne_bytes())
        .put(28, &(log.len() as u32).to_ne_bytes())
        .put(32, &(log.as_mut_ptr() as u64).to_ne_bytes())
        .put(48, b"books_share_drop");
    a.0[48 + 15] = 0;
    let prog = bpf(5, &mut a).map_err(|e| {
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        format!("loading the XDP program: {e}: {}", String::from_utf8_lossy(&log[..end]).trim())
    })?;
    let name = std::ffi::CString::new(dev).map_err(|e| e.to_string())?;
    // SAFETY: a valid NUL-terminated name that outlives the call.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("no interface {dev}: {}", io::Error::last_os_error()));
    }
    let mut l = Attr([0; 128]);
    l.put(0, &(prog.as_raw_fd() as u32).to_ne_bytes())
        .put(4, &ifindex.to_ne_bytes())
        .put(8, &37u32.to_ne_bytes()) // BPF_XDP
        // XDP_FLAGS_SKB_MODE or XDP_FLAGS_DRV_MODE
        .put(12, &(if generic { 1u32 << 1 } else { 1u32 << 2 }).to_ne_bytes());
    let link = bpf(28, &mut l).map_err(|e| format!("attaching XDP to {dev}: {e}"))?;
    Ok(Attached { _prog: prog, _link: link })
}
