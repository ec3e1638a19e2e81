//! The XDP programs, assembled here as eBPF instructions (no C toolchain at build or run time).
//!
//! Both programs parse Ethernet → IPv4 (any IHL, first fragments only) or IPv6 (UDP as the first
//! next header) → UDP with a bounds check before every read, and match the destination address
//! (unless it is unspecified) and port. Everything else gets `XDP_PASS`, so ARP, ping and other
//! ports keep reaching the stack.
//!
//! - [`Action::Redirect`] (`--method xdp`): `return bpf_redirect_map(&xsks, ctx->rx_queue_index,
//!   XDP_PASS)` — the AF_XDP socket of the receiving queue, or the stack when that queue has none.
//! - [`Action::CountDrop`] (`--method xdp-drop`): in slot 0 of a per-CPU array whose value is
//!   two u64, `datagrams += 1; udp_bytes += udp.len` (no atomics: the slot is this CPU's), then
//!   `XDP_DROP`: the driver-level ceiling.
//!
//! Register use: r6 = ctx, r2 = packet cursor, r3 = data_end, r4/r5/r7 scratch.

use std::net::IpAddr;

/// One eBPF instruction, the layout of the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// dst_reg (low nibble) and src_reg (high nibble).
    pub regs: u8,
    /// Signed offset (jumps: instructions; memory: bytes).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

/// What a matching datagram's frame gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Redirect into the XSKMAP entry of the receiving queue (fallback `XDP_PASS`).
    Redirect,
    /// Count in the per-CPU array's slot 0 and drop.
    CountDrop,
}

/// `XDP_DROP`.
pub const XDP_DROP: i32 = 1;
/// `XDP_PASS`.
pub const XDP_PASS: i32 = 2;

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const STX: u8 = 0x03;
const ST: u8 = 0x02;
const ALU64: u8 = 0x07;
const ALU: u8 = 0x04;
const END: u8 = 0xd0;
const TO_BE: u8 = 0x08;
const JMP: u8 = 0x05;
const JMP32: u8 = 0x06;
const W: u8 = 0x00;
const H: u8 = 0x08;
const B: u8 = 0x10;
const DW: u8 = 0x18;
const MEM: u8 = 0x60;
const IMM: u8 = 0x00;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const AND: u8 = 0x50;
const LSH: u8 = 0x60;
const RSH: u8 = 0x70;
const MOV: u8 = 0xb0;
const JA: u8 = 0x00;
const JEQ: u8 = 0x10;
const JGT: u8 = 0x20;
const JNE: u8 = 0x50;
const JLT: u8 = 0xa0;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;

/// `BPF_PSEUDO_MAP_FD`: the src_reg of a 64-bit immediate load naming a map by fd.
const PSEUDO_MAP_FD: u8 = 1;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_REDIRECT_MAP: i32 = 51;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R10: u8 = 10;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | (dst & 0x0f), off, imm }
}

/// A tiny assembler with forward jumps to named labels, resolved by [`Asm::finish`].
struct Asm {
    code: Vec<Insn>,
    /// (instruction index, label) of every jump still to patch.
    fixups: Vec<(usize, Label)>,
    labels: [Option<usize>; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Pass = 0,
    Ipv6 = 1,
    Matched = 2,
    Ipv4 = 3,
}

impl Asm {
    fn new() -> Asm {
        Asm { code: Vec::with_capacity(96), fixups: Vec::new(), labels: [None; 4] }
    }
    fn push(&mut self, i: Insn) {
        self.code.push(i);
    }
    fn label(&mut self, l: Label) {
        self.labels[l as usize] = Some(self.code.len());
    }
    fn mov_reg(&mut self, dst: u8, src: u8) {
        self.push(insn(ALU64 | MOV | X, dst, src, 0, 0));
    }
    fn mov_imm(&mut self, dst: u8, imm: i32) {
        self.push(insn(ALU64 | MOV | K, dst, 0, 0, imm));
    }
    fn add_imm(&mut self, dst: u8, imm: i32) {
        self.push(insn(ALU64 | ADD | K, dst, 0, 0, imm));
    }
    fn alu_imm(&mut self, op: u8, dst: u8, imm: i32) {
        self.push(insn(ALU64 | op | K, dst, 0, 0, imm));
    }
    fn add_reg(&mut self, dst: u8, src: u8) {
        self.push(insn(ALU64 | ADD | X, dst, src, 0, 0));
    }
    fn load(&mut self, size: u8, dst: u8, src: u8, off: i16) {
        self.push(insn(LDX | MEM | size, dst, src, off, 0));
    }
    /// 64-bit jump comparing a register with an immediate.
    fn jmp_imm(&mut self, op: u8, dst: u8, imm: i32, to: Label) {
        self.fixups.push((self.code.len(), to));
        self.push(insn(JMP | op | K, dst, 0, 0, imm));
    }
    /// 32-bit jump (low halves only, so no sign extension of `imm` gets in the way).
    fn jmp32_imm(&mut self, op: u8, dst: u8, imm: u32, to: Label) {
        self.fixups.push((self.code.len(), to));
        self.push(insn(JMP32 | op | K, dst, 0, 0, imm as i32));
    }
    fn jmp_reg(&mut self, op: u8, dst: u8, src: u8, to: Label) {
        self.fixups.push((self.code.len(), to));
        self.push(insn(JMP | op | X, dst, src, 0, 0));
    }
    fn ja(&mut self, to: Label) {
        self.fixups.push((self.code.len(), to));
        self.push(insn(JMP | JA, 0, 0, 0, 0));
    }
    /// `if cursor + len > data_end goto pass`, with r4 as scratch.
    fn need(&mut self, len: i32) {
        self.mov_reg(R4, R2);
        self.add_imm(R4, len);
        self.jmp_reg(JGT, R4, R3, Label::Pass);
    }
    /// `r1 = map` (a two-slot 64-bit immediate load the kernel rewrites to the map's address).
    fn load_map(&mut self, dst: u8, map_fd: i32) {
        self.push(insn(LD | IMM | DW, dst, PSEUDO_MAP_FD, 0, map_fd));
        self.push(insn(0, 0, 0, 0, 0));
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, l) in std::mem::take(&mut self.fixups) {
            let target = self.labels[l as usize].expect("every jump target is placed");
            self.code[at].off = (target as isize - at as isize - 1) as i16;
        }
        self.code
    }
}

/// A 16-bit field as the little-endian load of its network-order bytes sees it.
fn be16(v: u16) -> i32 {
    u16::from_ne_bytes(v.to_be_bytes()) as i32
}

/// A 32-bit word of an address as the load of its network-order bytes sees it.
fn be32_word(bytes: &[u8]) -> u32 {
    u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Assembles the program matching UDP datagrams to `addr:port` (any address of the family
/// when `addr` is unspecified; both families when it is the IPv6 unspecified address).
/// `map_fd` is the XSKMAP (`Redirect`) or the per-CPU counter array (`CountDrop`).
pub fn assemble(addr: IpAddr, port: u16, action: Action, map_fd: i32) -> Vec<Insn> {
    const ETH: i32 = 14;
    let mut a = Asm::new();
    a.mov_reg(R6, R1);
    a.load(W, R2, R1, 0); // data
    a.load(W, R3, R1, 4); // data_end
    a.need(ETH);
    a.load(H, R5, R2, 12); // ethertype
    let v4 = addr.is_ipv4() || (addr.is_ipv6() && addr.is_unspecified());
    let v6 = addr.is_ipv6();
    if v4 {
        a.jmp_imm(JEQ, R5, be16(0x0800), Label::Ipv4);
    }
    if v6 {
        a.jmp_imm(JEQ, R5, be16(0x86dd), Label::Ipv6);
    }
    a.ja(Label::Pass);

    if v4 {
        a.label(Label::Ipv4);
        a.need(ETH + 20);
        a.load(B, R5, R2, 14); // version << 4 | ihl
        a.mov_reg(R7, R5);
        a.alu_imm(RSH, R7, 4);
        a.jmp_imm(JNE, R7, 4, Label::Pass);
        a.load(B, R7, R2, ETH as i16 + 9); // protocol
        a.jmp_imm(JNE, R7, 17, Label::Pass);
        a.load(H, R7, R2, ETH as i16 + 6); // flags and fragment offset
        a.alu_imm(AND, R7, be16(0x1fff)); // a later fragment has no UDP header
        a.jmp_imm(JNE, R7, 0, Label::Pass);
        if let IpAddr::V4(v4) = addr
            && !v4.is_unspecified()
        {
            a.load(W, R7, R2, ETH as i16 + 16);
            a.jmp32_imm(JNE, R7, be32_word(&v4.octets()), Label::Pass);
        }
        a.alu_imm(AND, R5, 0x0f);
        a.jmp_imm(JLT, R5, 5, Label::Pass);
        a.alu_imm(LSH, R5, 2);
        a.add_reg(R2, R5); // the IPv4 header, whatever its options
        a.add_imm(R2, ETH);
        a.need(8);
        a.load(H, R7, R2, 2); // UDP destination port
        a.jmp_imm(JNE, R7, be16(port), Label::Pass);
        a.ja(Label::Matched);
    }

    if v6 {
        a.label(Label::Ipv6);
        a.need(ETH + 40 + 8);
        a.load(B, R7, R2, ETH as i16 + 6); // next header
        a.jmp_imm(JNE, R7, 17, Label::Pass);
        if let IpAddr::V6(v6) = addr
            && !v6.is_unspecified()
        {
            let o = v6.octets();
            for w in 0..4 {
                a.load(W, R7, R2, ETH as i16 + 24 + 4 * w as i16);
                a.jmp32_imm(JNE, R7, be32_word(&o[4 * w..]), Label::Pass);
            }
        }
        a.add_imm(R2, ETH + 40); // the UDP header, checked above
        a.load(H, R7, R2, 2);
        a.jmp_imm(JNE, R7, be16(port), Label::Pass);
    } else {
        a.label(Label::Ipv6);
    }

    a.label(Label::Matched);
    match action {
        Action::Redirect => {
            a.load_map(R1, map_fd);
            a.load(W, R2, R6, 16); // rx_queue_index
            a.mov_imm(R3, XDP_PASS); // no socket on this queue: to the stack
            a.push(insn(JMP | CALL, 0, 0, 0, HELPER_REDIRECT_MAP));
            a.push(insn(JMP | EXIT, 0, 0, 0, 0));
        }
        Action::CountDrop => {
            a.load(H, R7, R2, 4); // UDP length (r2 is at the UDP header on both paths)
            a.push(insn(ALU | END | TO_BE, R7, 0, 0, 16)); // to host order
            a.push(insn(ST | MEM | W, R10, 0, -4, 0)); // key = 0 on the stack
            a.mov_reg(R2, R10);
            a.add_imm(R2, -4);
            a.load_map(R1, map_fd);
            a.push(insn(JMP | CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM));
            a.push(insn(JMP | JEQ | K, R0, 0, 6, 0)); // no slot: drop uncounted
            a.load(DW, R1, R0, 0);
            a.add_imm(R1, 1);
            a.push(insn(STX | MEM | DW, R0, R1, 0, 0)); // this CPU's slot: no atomics needed
            a.load(DW, R1, R0, 8);
            a.add_reg(R1, R7);
            a.push(insn(STX | MEM | DW, R0, R1, 8, 0)); // UDP bytes, headers included
            a.mov_imm(R0, XDP_DROP);
            a.push(insn(JMP | EXIT, 0, 0, 0, 0));
        }
    }
    a.label(Label::Pass);
    a.mov_imm(R0, XDP_PASS);
    a.push(insn(JMP | EXIT, 0, 0, 0, 0));
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_land_inside_and_the_program_ends_with_exit() {
        for addr in ["198.18.0.2", "0.0.0.0", "2001:2::2", "::"] {
            for action in [Action::Redirect, Action::CountDrop] {
                let p = assemble(addr.parse().unwrap(), 9000, action, 3);
                assert_eq!(p.last().unwrap().code, JMP | EXIT);
                for (i, ins) in p.iter().enumerate() {
                    let class = ins.code & 0x07;
                    if (class == JMP || class == JMP32)
                        && ins.code & 0xf0 != CALL
                        && ins.code & 0xf0 != EXIT
                    {
                        let to = i as isize + 1 + ins.off as isize;
                        assert!(to > i as isize && (to as usize) < p.len(), "{addr} {i}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_port_and_address_in_network_order() {
        let p = assemble("198.18.0.2".parse().unwrap(), 0x2328, Action::Redirect, 7);
        // The port compare: 9000 = 0x2328, bytes 23 28, loaded little-endian as 0x2823.
        assert!(p.iter().any(|i| i.code == JMP | JNE | K && i.imm == 0x2823));
        let addr = u32::from_ne_bytes([198, 18, 0, 2]) as i32;
        assert!(p.iter().any(|i| i.code == JMP32 | JNE | K && i.imm == addr));
        // The map fd sits in a pseudo map load.
        assert!(p.iter().any(|i| i.code == LD | IMM | DW && i.regs >> 4 == 1 && i.imm == 7));
        // IPv4-only programs never branch to IPv6 parsing.
        assert!(!p.iter().any(|i| i.imm == be16(0x86dd)));
        let p6 = assemble("2001:2::2".parse().unwrap(), 9000, Action::CountDrop, 7);
        assert!(!p6.iter().any(|i| i.imm == be16(0x0800)));
        assert_eq!(p6.iter().filter(|i| i.code == JMP32 | JNE | K).count(), 4);
    }
}
