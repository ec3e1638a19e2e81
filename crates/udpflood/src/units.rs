//! Parsing of command-line values: rates and counts with k/M/G suffixes, durations with units,
//! CPU lists with ranges. Pure functions, shared by the `udpflood` binary and anything that
//! reuses its arguments.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Error;
use udpprobe::Clock;

fn parse_err(what: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Parse { what, value: value.to_string(), reason: reason.into() }
}

/// Splits a decimal number from a k/M/G suffix (powers of 1000, either case) and multiplies.
fn scaled(what: &'static str, s: &str) -> Result<u64, Error> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(parse_err(what, s, "expected a number with an optional k, M or G suffix"));
    }
    let x: f64 =
        num.parse().map_err(|_| parse_err(what, s, "expected a number, e.g. 500k or 1.5M"))?;
    let v = (x * mult).round();
    if !(0.0..=u64::MAX as f64 / 2.0).contains(&v) {
        return Err(parse_err(what, s, "out of range"));
    }
    if v != x * mult && (x * mult - v).abs() > 1e-6 {
        return Err(parse_err(what, s, "must be a whole number of packets"));
    }
    Ok(v as u64)
}

/// A rate in packets per second: `250000`, `250k`, `1.5M`, `1G`; `0` means as fast as possible
/// (`None`).
pub fn parse_rate(s: &str) -> Result<Option<u64>, Error> {
    let v = scaled("rate", s)?;
    Ok((v > 0).then_some(v))
}

/// A datagram count: `1000`, `10k`, `2M`.
pub fn parse_count(s: &str) -> Result<u64, Error> {
    scaled("count", s)
}

/// A duration: a number of seconds (`10`, `2.5`) or a number with a unit `ns`, `us`, `ms`, `s`,
/// `m` (minutes) or `h` (`500ms`, `10s`, `2m`).
pub fn parse_duration(s: &str) -> Result<Duration, Error> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let ns_per = match unit {
        "" | "s" => 1e9,
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        _ => return Err(parse_err("duration", s, "unknown unit (use ns, us, ms, s, m or h)")),
    };
    if num.is_empty() {
        return Err(parse_err("duration", s, "expected a number, e.g. 10, 10s, 500ms or 2m"));
    }
    let x: f64 = num.parse().map_err(|_| parse_err("duration", s, "expected a number"))?;
    let ns = x * ns_per;
    if !ns.is_finite() || ns > 1e9 * 86_400.0 * 365.0 {
        return Err(parse_err("duration", s, "out of range"));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

/// A CPU list as in taskset/cpuset: `0,1`, `0-3`, `0-1,4`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, Error> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| parse_err("CPU list", s, format!("'{part}' is not a CPU id or range")))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(parse_err("CPU list", s, format!("range '{part}' is backwards")));
                }
                if b - a > 4096 {
                    return Err(parse_err("CPU list", s, format!("range '{part}' is too long")));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    Ok(cpus)
}

/// A clock name: `monotonic` or `realtime`.
pub fn parse_clock(s: &str) -> Result<Clock, Error> {
    s.parse().map_err(|reason: String| Error::Parse { what: "clock", value: s.into(), reason })
}

/// A numeric socket address: `127.0.0.1:9000` or `[::1]:9000`.
pub fn parse_addr(s: &str) -> Result<SocketAddr, Error> {
    s.trim()
        .parse()
        .map_err(|_| parse_err("address", s, "expected IP:PORT, e.g. 127.0.0.1:9000 or [::1]:9000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_with_suffixes() {
        assert_eq!(parse_rate("0").unwrap(), None);
        assert_eq!(parse_rate("2000").unwrap(), Some(2000));
        assert_eq!(parse_rate("250k").unwrap(), Some(250_000));
        assert_eq!(parse_rate("250K").unwrap(), Some(250_000));
        assert_eq!(parse_rate("1.5M").unwrap(), Some(1_500_000));
        assert_eq!(parse_rate("2G").unwrap(), Some(2_000_000_000));
        for bad in ["", "abc", "5x", "-5", "1.5", "k", "1e6", "1..2M"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_count("10k").unwrap(), 10_000);
    }

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "s", "ten", "10 parsecs", "-1", "10d", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cpu_lists_and_ranges() {
        assert_eq!(parse_cpu_list("0").unwrap(), [0]);
        assert_eq!(parse_cpu_list("0,1").unwrap(), [0, 1]);
        assert_eq!(parse_cpu_list("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(parse_cpu_list("0-1,4").unwrap(), [0, 1, 4]);
        for bad in ["", "a", "1-", "3-1", "0,,1", "-1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn addresses_and_clocks() {
        assert_eq!(parse_addr("127.0.0.1:9000").unwrap().port(), 9000);
        assert!(parse_addr("[::1]:9000").unwrap().is_ipv6());
        for bad in ["127.0.0.1", "nope:9000", "::1:9000", "127.0.0.1:99999"] {
            assert!(parse_addr(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_clock("realtime").unwrap(), Clock::Realtime);
        assert!(parse_clock("tai").is_err());
    }
}
