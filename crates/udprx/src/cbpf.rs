//! The classic BPF program that steers each datagram to the `SO_REUSEPORT` socket of the CPU
//! that runs the receive softirq.
//!
//! ```text
//! ld  #cpu        ; A = SKF_AD_OFF + SKF_AD_CPU (the current CPU)
//! mod #n          ; A = A % n
//! ret a           ; socket index in the reuseport group (bind order)
//! ```

/// One classic BPF instruction, the layout of the kernel's `struct sock_filter`.
pub type Insn = libc::sock_filter;

const SKF_AD_OFF: i32 = -0x1000;
const SKF_AD_CPU: i32 = 36;

fn insn(code: u32, k: u32) -> Insn {
    Insn { code: code as u16, jt: 0, jf: 0, k }
}

/// The program selecting socket `cpu % sockets`. `sockets` must be at least 1.
pub fn steer_by_cpu(sockets: u32) -> [Insn; 3] {
    let sockets = sockets.max(1);
    [
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, (SKF_AD_OFF + SKF_AD_CPU) as u32),
        insn(libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K, sockets),
        insn(libc::BPF_RET | libc::BPF_A, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_shape() {
        let p = steer_by_cpu(4);
        assert_eq!(p[0].code, 0x20); // ld w abs
        assert_eq!(p[0].k, 0xffff_f024);
        assert_eq!(p[1].code, 0x94); // alu mod k
        assert_eq!(p[1].k, 4);
        assert_eq!(p[2].code, 0x16); // ret a
        assert_eq!(steer_by_cpu(0)[1].k, 1);
    }
}
