//! The kernel's ethtool ioctl (`SIOCETHTOOL`): driver information and driver statistics
//! (`ETHTOOL_GSTRINGS` + `ETHTOOL_GSTATS`), the numbers `ethtool -S` prints, without a
//! subprocess per trial. Reads the device in the calling thread's network namespace.
//!
//! This and [`crate::genl`] are the crate's modules that talk to the kernel with `unsafe`.

use std::collections::BTreeMap;
use std::io;

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;
const ETHTOOL_GSTRINGS: u32 = 0x0000_001b;
const ETHTOOL_GSTATS: u32 = 0x0000_001d;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// Most statistics read (a bound on the buffers; large NICs have a few thousand).
const MAX_STATS: u32 = 1 << 16;

/// `struct ethtool_drvinfo`.
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// `struct ifreq` with the `ifr_data` member (40 bytes on 64-bit Linux).
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

/// What `ethtool -i` shows of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// Driver name (`veth`, `virtio_net`, `mlx5_core`, `ixgbe`).
    pub driver: String,
    /// Bus address (`0000:3b:00.0`; empty for software devices).
    pub bus_info: String,
    /// Number of driver statistics.
    pub n_stats: u32,
}

struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once.
        unsafe { libc::close(self.0) };
    }
}

fn socket() -> io::Result<Fd> {
    // SAFETY: plain socket(2) call; the result is checked and owned by `Fd`.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(Fd(fd)) }
}

fn ifreq(dev: &str, data: *mut libc::c_void) -> io::Result<IfReq> {
    let bytes = dev.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"));
    }
    let mut name = [0u8; libc::IFNAMSIZ];
    name[..bytes.len()].copy_from_slice(bytes);
    Ok(IfReq { name, data, _pad: [0; 16] })
}

/// Issues `SIOCETHTOOL` on `dev` with the command buffer at `data`.
///
/// # Safety
/// `data` must point to a writable buffer laid out as the command in its first `u32` requires
/// (including any trailing array sized by the header), valid for the duration of the call.
unsafe fn ethtool_ioctl(fd: &Fd, dev: &str, data: *mut libc::c_void) -> io::Result<()> {
    let mut req = ifreq(dev, data)?;
    // SAFETY: `req` is a valid ifreq naming the device; the caller guarantees `data`.
    let rc = unsafe { libc::ioctl(fd.0, SIOCETHTOOL as _, &mut req as *mut IfReq) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// `ETHTOOL_GDRVINFO` of `dev`.
pub fn driver_info(dev: &str) -> io::Result<DriverInfo> {
    let fd = socket()?;
    // SAFETY: DrvInfo is plain old data; all-zero is a valid value.
    let mut info: DrvInfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    // SAFETY: `info` is a complete ethtool_drvinfo, writable, alive across the call.
    unsafe { ethtool_ioctl(&fd, dev, (&mut info as *mut DrvInfo).cast())? };
    Ok(DriverInfo {
        driver: c_str(&info.driver),
        bus_info: c_str(&info.bus_info),
        n_stats: info.n_stats,
    })
}

/// Driver statistics of `dev` by name (`ethtool -S`); empty if the driver has none.
pub fn driver_stats(dev: &str) -> io::Result<BTreeMap<String, u64>> {
    let n = driver_info(dev)?.n_stats.min(MAX_STATS);
    if n == 0 {
        return Ok(BTreeMap::new());
    }
    let fd = socket()?;
    // struct ethtool_gstrings { u32 cmd, string_set, len; u8 data[len * 32] }
    let mut strings = vec![0u8; 12 + n as usize * ETH_GSTRING_LEN];
    strings[0..4].copy_from_slice(&ETHTOOL_GSTRINGS.to_ne_bytes());
    strings[4..8].copy_from_slice(&ETH_SS_STATS.to_ne_bytes());
    strings[8..12].copy_from_slice(&n.to_ne_bytes());
    // SAFETY: the buffer holds the header and room for `n` strings, as `len` = n says.
    unsafe { ethtool_ioctl(&fd, dev, strings.as_mut_ptr().cast())? };
    let got = u32::from_ne_bytes([strings[8], strings[9], strings[10], strings[11]]).min(n);
    // struct ethtool_stats { u32 cmd, n_stats; u64 data[n_stats] }: one u64 holds the header.
    let mut stats = vec![0u64; 1 + got as usize];
    let header = (u64::from(got) << 32) | u64::from(ETHTOOL_GSTATS);
    stats[0] = if cfg!(target_endian = "little") {
        header
    } else {
        (u64::from(ETHTOOL_GSTATS) << 32) | u64::from(got)
    };
    // SAFETY: 8-byte aligned buffer with the header and room for `got` counters.
    unsafe { ethtool_ioctl(&fd, dev, stats.as_mut_ptr().cast())? };
    let mut out = BTreeMap::new();
    for i in 0..got as usize {
        let s = 12 + i * ETH_GSTRING_LEN;
        out.insert(c_str(&strings[s..s + ETH_GSTRING_LEN]), stats[1 + i]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<DrvInfo>(), 196);
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert!(driver_info("").is_err());
        assert!(driver_info("a-name-far-too-long-for-ifnamsiz").is_err());
        assert!(driver_info("udprx-no-such-dev").is_err());
    }
}
