//! Where each receive thread runs: the steering mode that spreads datagrams over sockets and
//! the CPU each socket's thread is pinned to.

use crate::error::Error;
use crate::sys;

/// How datagrams are spread over several `SO_REUSEPORT` sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Steer {
    /// The kernel's 4-tuple hash (the default reuseport behaviour).
    #[default]
    Hash,
    /// A classic BPF program picks the socket of the CPU that runs the receive softirq.
    Cpu,
}

impl Steer {
    /// The name used on command lines and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Steer::Hash => "hash",
            Steer::Cpu => "cpu",
        }
    }
}

impl std::fmt::Display for Steer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Steer {
    type Err = String;
    fn from_str(s: &str) -> Result<Steer, String> {
        match s {
            "hash" => Ok(Steer::Hash),
            "cpu" => Ok(Steer::Cpu),
            other => Err(format!("unknown steering '{other}' (expected hash or cpu)")),
        }
    }
}

/// Socket i's CPU: `cpus[i % len]`, default the i-th CPU this process may run on
/// (`sched_getaffinity` of the building thread: a `taskset`, cpuset or container limit is
/// honoured), mod their number. With CPU
/// steering the CBPF program sends CPU c's datagrams to socket `c % sockets`, so the list is
/// reordered to put each socket on a CPU it receives for; refused if that is impossible.
pub(super) fn assign_cpus(
    sockets: usize,
    steer: Steer,
    cpus: Option<&[usize]>,
) -> Result<Vec<Option<usize>>, Error> {
    let online;
    let list = match cpus {
        Some([]) => return Ok(vec![None; sockets]),
        Some(v) => v,
        None => {
            online = sys::allowed_cpus();
            &online[..]
        }
    };
    let mut out: Vec<Option<usize>> = (0..sockets).map(|i| Some(list[i % list.len()])).collect();
    if steer == Steer::Cpu && sockets > 1 {
        let mut by_slot = vec![None; sockets];
        for c in out.iter().flatten() {
            let slot = &mut by_slot[c % sockets];
            if slot.is_none() {
                *slot = Some(*c);
            }
        }
        if by_slot.iter().any(Option::is_none) {
            return Err(Error::Config(format!(
                "`steer(Steer::Cpu)` sends CPU c to socket c mod {sockets}, but the CPUs {out:?} \
                 do not cover every socket; give `cpus` with one CPU per socket (e.g. 0-{}) or \
                 use `steer(Steer::Hash)`",
                sockets - 1
            )));
        }
        out = by_slot;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_assignment() {
        assert_eq!(
            assign_cpus(3, Steer::Hash, Some(&[5, 6])).unwrap(),
            [Some(5), Some(6), Some(5)]
        );
        assert_eq!(assign_cpus(2, Steer::Hash, Some(&[])).unwrap(), [None, None]);
        // CPU steering puts CPU c on socket c % n.
        assert_eq!(assign_cpus(2, Steer::Cpu, Some(&[3, 2])).unwrap(), [Some(2), Some(3)]);
        assert!(assign_cpus(2, Steer::Cpu, Some(&[0, 2])).unwrap_err().is_config());
        assert_eq!(assign_cpus(1, Steer::Cpu, Some(&[1])).unwrap(), [Some(1)]);
        let default = assign_cpus(2, Steer::Hash, None).unwrap();
        assert!(default.iter().all(Option::is_some));
    }

    #[test]
    fn steer_names_round_trip() {
        for s in [Steer::Hash, Steer::Cpu] {
            assert_eq!(s.to_string().parse::<Steer>(), Ok(s));
        }
        assert!("rr".parse::<Steer>().is_err());
    }
}
