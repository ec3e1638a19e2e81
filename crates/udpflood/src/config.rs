//! The flood's settings: a builder with defaults and validation.

use std::net::SocketAddr;
use std::time::Duration;

use udpprobe::{Clock, HEADER_LEN};

use crate::{Error, Flood, MAX_BATCH, MAX_BURST, MAX_FLOWS, MAX_PAYLOAD, MIN_INTERVAL};

/// Duration of a run given neither a duration nor a count.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default sendmmsg vector length.
pub const DEFAULT_BATCH: usize = 64;

/// Validated settings of a flood (see [`FloodBuilder`] for their meaning).
#[derive(Debug, Clone)]
pub struct Config {
    /// Destination.
    pub dest: SocketAddr,
    /// UDP payload bytes per datagram.
    pub payload_size: usize,
    /// Total rate in packets per second; `None` = as fast as possible.
    pub rate: Option<u64>,
    /// Run length; `None` = until the count is reached.
    pub duration: Option<Duration>,
    /// Total datagrams over all flows.
    pub count: Option<u64>,
    /// Sender threads.
    pub threads: usize,
    /// Flows (connected sockets with distinct source ports).
    pub flows: usize,
    /// CPUs to pin the threads to, thread `t` on `cpus[t % len]`.
    pub cpus: Vec<usize>,
    /// Packets per sendmmsg call.
    pub batch: usize,
    /// Use UDP GSO.
    pub gso: bool,
    /// Packets per burst.
    pub burst: Option<usize>,
    /// Local address to bind.
    pub bind: Option<SocketAddr>,
    /// Clock stamped in `tx_ns`.
    pub clock: Clock,
    /// Sender id stamped in every probe header.
    pub sender: u16,
    /// Live report interval.
    pub interval: Option<Duration>,
}

/// Builds a [`Flood`]; every setter has a default, [`FloodBuilder::build`] checks them all.
#[derive(Debug, Clone)]
#[must_use]
pub struct FloodBuilder {
    dest: SocketAddr,
    payload_size: usize,
    rate: Option<u64>,
    duration: Option<Duration>,
    count: Option<u64>,
    threads: usize,
    flows: Option<usize>,
    cpus: Option<Vec<usize>>,
    batch: usize,
    gso: bool,
    burst: Option<usize>,
    bind: Option<SocketAddr>,
    clock: Clock,
    sender: Option<u16>,
    interval: Option<Duration>,
    allow_non_unicast: bool,
}

impl FloodBuilder {
    pub(crate) fn new(dest: SocketAddr) -> FloodBuilder {
        FloodBuilder {
            dest,
            payload_size: HEADER_LEN,
            rate: None,
            duration: None,
            count: None,
            threads: 1,
            flows: None,
            cpus: None,
            batch: DEFAULT_BATCH,
            gso: false,
            burst: None,
            bind: None,
            clock: Clock::Monotonic,
            sender: None,
            interval: None,
            allow_non_unicast: false,
        }
    }

    /// Allow a multicast or broadcast destination (refused by default: a flood to a group or
    /// a broadcast address leaves through the host's interfaces and reaches every listener).
    pub fn allow_non_unicast(mut self, allow: bool) -> Self {
        self.allow_non_unicast = allow;
        self
    }

    /// UDP payload bytes per datagram, 18 (the probe header; the default, a 64-byte Ethernet
    /// frame) to 65507.
    pub fn payload_size(mut self, bytes: usize) -> Self {
        self.payload_size = bytes;
        self
    }

    /// Total rate over all threads in packets per second; `None` or `Some(0)` = as fast as
    /// possible (the default).
    pub fn rate(mut self, pps: Option<u64>) -> Self {
        self.rate = pps.filter(|&r| r > 0);
        self
    }

    /// Run length. Default: 10 s when no count is set, else until the count is sent. With both,
    /// whichever comes first.
    pub fn duration(mut self, duration: Option<Duration>) -> Self {
        self.duration = duration;
        self
    }

    /// Total datagrams over all flows, split evenly between the flows.
    pub fn count(mut self, count: Option<u64>) -> Self {
        self.count = count;
        self
    }

    /// Sender threads (default 1). Each gets the share of the rate of its flows.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Flows: connected sockets with distinct source ports, flow `f` sent by thread
    /// `f % threads`. At least one per thread (the default), at most 256 (the flow id is a byte).
    pub fn flows(mut self, flows: usize) -> Self {
        self.flows = Some(flows);
        self
    }

    /// CPUs to pin the threads to (thread `t` on `cpus[t % len]`); `None` (the default) spreads
    /// the threads over the CPUs this process may use, last CPU first.
    pub fn cpus(mut self, cpus: Option<Vec<usize>>) -> Self {
        self.cpus = cpus;
        self
    }

    /// Packets per sendmmsg call (default 64, at most 1024). With GSO, a batch is sent as
    /// messages of up to 64 segments each.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Send with UDP GSO (`UDP_SEGMENT`); falls back to plain sendmmsg, with the reason in the
    /// report, where the kernel refuses it.
    pub fn gso(mut self, gso: bool) -> Self {
        self.gso = gso;
        self
    }

    /// Send bursts of this many packets back to back, at the same mean rate: at most
    /// [`MAX_BURST`], and, with a rate and a duration, at most the datagrams the run sends in
    /// all. A duration-limited paced run never sends more than its rate allows by its end, so
    /// the mean holds whatever the burst.
    pub fn burst(mut self, burst: Option<usize>) -> Self {
        self.burst = burst;
        self
    }

    /// Local address to bind. With a non-zero port, flow `f` binds port + `f`.
    pub fn bind(mut self, bind: Option<SocketAddr>) -> Self {
        self.bind = bind;
        self
    }

    /// The sender id stamped in every probe header, which lets a receiver keep the flows of
    /// several senders apart without reading source addresses. Default (`None`): a random
    /// non-zero id per flood, so two floods collide with probability 1/65535; give distinct ids
    /// when several floods meet one receiver (the bench does).
    pub fn sender_id(mut self, id: Option<u16>) -> Self {
        self.sender = id;
        self
    }

    /// The clock stamped in each datagram's `tx_ns` (default monotonic). Pacing always uses the
    /// monotonic clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How often [`Flood::run_with`] calls back with an interval report (`None` or zero =
    /// never, the default; otherwise at least [`MIN_INTERVAL`]).
    pub fn interval(mut self, interval: Option<Duration>) -> Self {
        self.interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// Checks every setting and returns the flood, ready to run.
    pub fn build(self) -> Result<Flood, Error> {
        self.validate().map(Flood::new)
    }

    fn validate(self) -> Result<Config, Error> {
        if self.payload_size < HEADER_LEN {
            return Err(Error::PayloadTooSmall(self.payload_size));
        }
        if self.payload_size > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge(self.payload_size));
        }
        if self.dest.port() == 0 {
            return Err(Error::ZeroPort(self.dest));
        }
        if !self.allow_non_unicast && !is_unicast(self.dest.ip()) {
            return Err(Error::NonUnicast(self.dest));
        }
        if self.threads == 0 {
            return Err(Error::ZeroThreads);
        }
        let flows = self.flows.unwrap_or(self.threads);
        if flows < self.threads || flows > MAX_FLOWS {
            return Err(Error::BadFlows { flows, threads: self.threads });
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(Error::BadBatch(self.batch));
        }
        if self.burst == Some(0) {
            return Err(Error::ZeroBurst);
        }
        if let Some(i) = self.interval
            && i < MIN_INTERVAL
        {
            return Err(Error::BadInterval(i));
        }
        if self.count == Some(0) {
            return Err(Error::ZeroCount);
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return Err(Error::ZeroDuration);
        }
        if let Some(bind) = self.bind {
            if bind.is_ipv4() != self.dest.is_ipv4() {
                return Err(Error::FamilyMismatch { bind, dest: self.dest });
            }
            let last = bind.port() as usize + flows - 1;
            if bind.port() != 0 && last > u16::MAX as usize {
                return Err(Error::BindPortRange { port: bind.port(), flows, last });
            }
        }
        let usable: Vec<usize> =
            core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
        let cpus = match self.cpus {
            Some(list) => {
                if list.is_empty() {
                    return Err(Error::EmptyCpuList);
                }
                if let Some(&cpu) = list.iter().find(|c| !usable.contains(c)) {
                    let usable = usable.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
                    return Err(Error::NoSuchCpu { cpu, usable });
                }
                list
            }
            // Last core first: a receiver started with its defaults (socket 0 on CPU 0) keeps
            // its core when both tools run on one host.
            None => usable.into_iter().rev().collect(),
        };
        let duration = match (self.duration, self.count) {
            (None, None) => Some(DEFAULT_DURATION),
            (d, _) => d,
        };
        if let Some(burst) = self.burst {
            if burst > MAX_BURST {
                let reason = format!("at most {MAX_BURST} datagrams go back to back");
                return Err(Error::BadBurst { burst, reason });
            }
            if let (Some(rate), Some(d)) = (self.rate, duration) {
                // Datagrams the whole run sends: rate x duration, rounded up.
                let due = (rate as u128 * d.as_nanos()).div_ceil(1_000_000_000);
                if burst as u128 > due {
                    let reason = format!(
                        "{rate} pps for {d:?} sends {due} datagrams in all, so the burst can be \
                         at most {due}"
                    );
                    return Err(Error::BadBurst { burst, reason });
                }
            }
        }
        Ok(Config {
            dest: self.dest,
            payload_size: self.payload_size,
            rate: self.rate,
            duration,
            count: self.count,
            threads: self.threads,
            flows,
            cpus,
            batch: self.batch,
            gso: self.gso,
            burst: self.burst,
            bind: self.bind,
            clock: self.clock,
            sender: self.sender.unwrap_or_else(random_sender_id),
            interval: self.interval,
        })
    }
}

/// Whether `ip` names one host: not multicast, not the limited broadcast address, not
/// unspecified (a subnet's broadcast address cannot be told from here; the kernel refuses it
/// without SO_BROADCAST, which udpflood never sets).
fn is_unicast(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            !(v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified())
        }
        std::net::IpAddr::V6(v6) => !(v6.is_multicast() || v6.is_unspecified()),
    }
}

/// A non-zero sender id from the process id and the time (no randomness source needed: two
/// floods started on one host differ in pid or nanoseconds).
fn random_sender_id() -> u16 {
    let x = (u64::from(std::process::id()) << 32)
        ^ udpprobe::now_ns(Clock::Realtime)
        ^ udpprobe::now_ns(Clock::Monotonic).rotate_left(17);
    let h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 48) % 65535) as u16 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> FloodBuilder {
        FloodBuilder::new("127.0.0.1:9".parse().unwrap())
    }

    #[test]
    fn defaults() {
        let c = b().validate().unwrap();
        assert_eq!(c.payload_size, 18);
        assert_eq!(c.duration, Some(DEFAULT_DURATION));
        assert_eq!((c.threads, c.flows, c.batch), (1, 1, 64));
        let c = b().count(Some(5)).validate().unwrap();
        assert_eq!(c.duration, None);
        assert_eq!(b().rate(Some(0)).validate().unwrap().rate, None);
    }

    #[test]
    fn bursts_within_the_run_are_accepted() {
        let one_s = Some(Duration::from_secs(1));
        assert!(b().rate(Some(1000)).duration(one_s).burst(Some(1000)).validate().is_ok());
        // Unpaced, or a fixed count without a duration: only the absolute bound applies.
        assert!(b().burst(Some(MAX_BURST)).validate().is_ok());
        assert!(b().rate(Some(10)).count(Some(5)).burst(Some(500)).validate().is_ok());
        assert!(b().interval(Some(MIN_INTERVAL)).validate().is_ok());
        assert!(b().interval(Some(Duration::ZERO)).validate().is_ok());
    }

    #[test]
    fn refusals() {
        use Error::*;
        type Check = fn(&Error) -> bool;
        let cases: Vec<(FloodBuilder, Check)> = vec![
            (b().payload_size(17), |e| matches!(e, PayloadTooSmall(17))),
            (b().payload_size(65508), |e| matches!(e, PayloadTooLarge(65508))),
            (b().threads(0), |e| matches!(e, ZeroThreads)),
            (b().threads(2).flows(1), |e| matches!(e, BadFlows { .. })),
            (b().flows(257), |e| matches!(e, BadFlows { .. })),
            (b().batch(0), |e| matches!(e, BadBatch(0))),
            (b().batch(MAX_BATCH + 1), |e| matches!(e, BadBatch(_))),
            (b().burst(Some(0)), |e| matches!(e, ZeroBurst)),
            (b().burst(Some(MAX_BURST + 1)), |e| matches!(e, BadBurst { .. })),
            (b().rate(Some(1000)).burst(Some(1_000_000_000)), |e| matches!(e, BadBurst { .. })),
            (b().rate(Some(1000)).duration(Some(Duration::from_secs(1))).burst(Some(1001)), |e| {
                matches!(e, BadBurst { burst: 1001, .. })
            }),
            (b().interval(Some(Duration::from_nanos(1))), |e| matches!(e, BadInterval(_))),
            (b().count(Some(0)), |e| matches!(e, ZeroCount)),
            (b().duration(Some(Duration::ZERO)), |e| matches!(e, ZeroDuration)),
            (b().cpus(Some(vec![])), |e| matches!(e, EmptyCpuList)),
            (b().cpus(Some(vec![9999])), |e| matches!(e, NoSuchCpu { cpu: 9999, .. })),
            (b().bind(Some("[::1]:0".parse().unwrap())), |e| matches!(e, FamilyMismatch { .. })),
            (b().flows(4).bind(Some("127.0.0.1:65534".parse().unwrap())), |e| {
                matches!(e, BindPortRange { .. })
            }),
            (FloodBuilder::new("127.0.0.1:0".parse().unwrap()), |e| matches!(e, ZeroPort(_))),
            (FloodBuilder::new("224.0.0.1:9".parse().unwrap()), |e| matches!(e, NonUnicast(_))),
            (FloodBuilder::new("255.255.255.255:9".parse().unwrap()), |e| {
                matches!(e, NonUnicast(_))
            }),
            (FloodBuilder::new("0.0.0.0:9".parse().unwrap()), |e| matches!(e, NonUnicast(_))),
            (FloodBuilder::new("[ff02::1]:9".parse().unwrap()), |e| matches!(e, NonUnicast(_))),
        ];
        for (builder, check) in cases {
            let err = builder.clone().validate().unwrap_err();
            assert!(check(&err), "{builder:?} gave {err:?}");
            assert!(err.is_usage());
            assert!(!err.to_string().contains('\n'));
        }
        // Asked for explicitly, a group is a destination like any other (validated only).
        assert!(
            FloodBuilder::new("224.0.0.1:9".parse().unwrap())
                .allow_non_unicast(true)
                .validate()
                .is_ok()
        );
        let small = b().payload_size(17).validate().unwrap_err().to_string();
        assert!(small.contains("18-byte probe header"), "{small}");
    }
}
