//! RSS as `ethtool` shows and sets it, as the value strings of two settings:
//!
//! - the fields the hash of a UDP flow type covers: `ethtool -n DEV rx-flow-hash udp4` prints
//!   them one a line (`IP SA`, `IP DA`, `L4 bytes 0 & 1 [TCP/UDP src port]`, ...), and
//!   `ethtool -N DEV rx-flow-hash udp4 sdfn` sets them by ethtool's letters (`m` L2 destination,
//!   `v` VLAN tag, `t` L3 protocol, `s`/`d` IP source/destination, `f`/`n` L4 bytes 0-1/2-3,
//!   i.e. the UDP ports, `r` discard the flow type). A reading is the letters in the order ethtool
//!   prints the fields (`sdfn`), so what is written reads back the same.
//! - the indirection table (`ethtool -x DEV`, set with `ethtool -X DEV ...`), as [`Indir`]:
//!   `default` (the kernel's default spread, entry i → ring i mod the RX ring count, written with
//!   `-X DEV default`), `equal:N` (entry i → ring i mod N, `-X DEV equal N`) or
//!   `weight:W0:W1:...` (consecutive blocks, `-X DEV weight W0 W1 ...`). A table is read as the
//!   first of these that writes it back entry for entry; a table none of them writes (ethtool
//!   has no syntax for an arbitrary table) is refused, so it is never changed.

/// The flow types whose hash fields can be compared.
pub const FLOWS: [&str; 2] = ["udp4", "udp6"];

/// ethtool's field letters, in the order it prints the fields, with the line it prints.
const FIELDS: [(char, &str); 7] = [
    ('m', "L2DA"),
    ('v', "VLAN tag"),
    ('t', "L3 proto"),
    ('s', "IP SA"),
    ('d', "IP DA"),
    ('f', "L4 bytes 0 & 1 [TCP/UDP src port]"),
    ('n', "L4 bytes 2 & 3 [TCP/UDP dst port]"),
];

/// The letters a hash-fields value may hold.
const LETTERS: &str = "mvtsdfnr";

/// Most RX rings, weights and table entries taken (a bound on parsing, far above real NICs).
pub const MAX_RINGS: u32 = 4096;

/// Checks a hash-fields value: one to eight of ethtool's letters `m v t s d f n r`, none twice.
pub fn check_hash_fields(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > LETTERS.len() {
        return Err(format!("expected 1 to 8 of ethtool's letters {LETTERS}"));
    }
    for (i, c) in v.char_indices() {
        if !LETTERS.contains(c) {
            return Err(format!("{c:?} is not one of ethtool's letters {LETTERS}"));
        }
        if v[..i].contains(c) {
            return Err(format!("{c:?} appears twice"));
        }
    }
    Ok(())
}

/// The letters of an `ethtool -n DEV rx-flow-hash FLOW` reply, in ethtool's order (`sdfn`);
/// `r` when the flow type is discarded. Refused (the reason) when the reply names no field
/// (`None`: no letters write that back) or a field this tool has no letter for.
pub fn parse_hash_fields(text: &str) -> Result<String, String> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let head = lines.next().unwrap_or("");
    if head.contains("All matching flows discarded on RX") {
        return Ok("r".into());
    }
    if !head.ends_with("use these fields for computing Hash flow key:") {
        return Err(format!("unexpected ethtool reply {:?}", head.escape_default().to_string()));
    }
    let mut found = [false; FIELDS.len()];
    for line in lines.filter(|l| !l.is_empty()) {
        if line == "None" {
            return Err(
                "the hash covers no field (None), which ethtool -N cannot write back".into()
            );
        }
        match FIELDS.iter().position(|(_, name)| *name == line) {
            Some(i) => found[i] = true,
            None => {
                return Err(format!(
                    "the hash covers {:?}, a field this tool has no letter for",
                    line.escape_default().to_string()
                ));
            }
        }
    }
    let letters: String =
        FIELDS.iter().zip(found).filter(|(_, on)| *on).map(|((c, _), _)| *c).collect();
    if letters.is_empty() {
        return Err("the reply lists no hash field".into());
    }
    Ok(letters)
}

/// An RSS indirection table as `ethtool -X` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indir {
    /// The kernel's default spread over the RX rings (`-X DEV default`).
    Default,
    /// Entry i → ring i mod N (`-X DEV equal N`).
    Equal(u32),
    /// Consecutive blocks, ring j's share W_j (`-X DEV weight W0 W1 ...`).
    Weight(Vec<u32>),
}

/// A table read from `ethtool -x`: the RX ring count its header gives and the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndirTable {
    /// RX rings (`... with N RX ring(s):`).
    pub rings: u32,
    /// Ring of each entry.
    pub table: Vec<u32>,
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Indir {
    /// Parses `default`, `equal:N` (N in 1..=[`MAX_RINGS`]) or `weight:W0:W1:...` (at most
    /// [`MAX_RINGS`] weights, not all zero); plain digits only.
    pub fn parse(v: &str) -> Result<Indir, String> {
        let bad = || "expected default, equal:N or weight:W0:W1:...".to_string();
        if v == "default" {
            return Ok(Indir::Default);
        }
        if let Some(n) = v.strip_prefix("equal:") {
            return match number(n) {
                Some(n) if (1..=MAX_RINGS).contains(&n) => Ok(Indir::Equal(n)),
                _ => Err(format!("equal:N needs N in 1..={MAX_RINGS}")),
            };
        }
        let Some(w) = v.strip_prefix("weight:") else { return Err(bad()) };
        let weights: Vec<u32> = w.split(':').map(number).collect::<Option<_>>().ok_or_else(bad)?;
        if weights.len() > MAX_RINGS as usize || weights.iter().any(|&x| x > MAX_RINGS * 16) {
            return Err(format!(
                "weight: at most {MAX_RINGS} weights of at most {}",
                MAX_RINGS * 16
            ));
        }
        if weights.iter().all(|&x| x == 0) {
            return Err("weight: at least one weight must be non-zero".into());
        }
        Ok(Indir::Weight(weights))
    }

    /// The value string ([`Indir::parse`] reads it back).
    pub fn to_value(&self) -> String {
        match self {
            Indir::Default => "default".into(),
            Indir::Equal(n) => format!("equal:{n}"),
            Indir::Weight(w) => {
                let w: Vec<String> = w.iter().map(u32::to_string).collect();
                format!("weight:{}", w.join(":"))
            }
        }
    }

    /// The `ethtool` arguments that write it on `dev`.
    pub fn args(&self, dev: &str) -> Vec<String> {
        let mut a = vec!["-X".to_string(), dev.to_string()];
        match self {
            Indir::Default => a.push("default".into()),
            Indir::Equal(n) => a.extend(["equal".to_string(), n.to_string()]),
            Indir::Weight(w) => {
                a.push("weight".into());
                a.extend(w.iter().map(u32::to_string));
            }
        }
        a
    }

    /// The table of `size` entries it writes on a device with `rings` RX rings (the kernel's
    /// default spread; ethtool's `equal` and `weight` fills).
    pub fn table(&self, rings: u32, size: usize) -> Vec<u32> {
        match self {
            Indir::Default => {
                (0..size).map(|i| (i as u64 % u64::from(rings.max(1))) as u32).collect()
            }
            Indir::Equal(n) => (0..size).map(|i| (i as u64 % u64::from(*n)) as u32).collect(),
            Indir::Weight(w) => {
                let sum: u64 = w.iter().map(|&x| u64::from(x)).sum();
                let (mut j, mut partial) = (0usize, 0u64);
                let mut out = Vec::with_capacity(size);
                for i in 0..size as u64 {
                    while j < w.len() && i >= size as u64 * partial / sum.max(1) {
                        partial += u64::from(w[j]);
                        j += 1;
                    }
                    out.push(j.saturating_sub(1) as u32);
                }
                out
            }
        }
    }

    /// The first of `default`, `equal:N`, `weight:...` that writes `t` back entry for entry,
    /// or why none does.
    pub fn of_table(t: &IndirTable) -> Result<Indir, String> {
        let size = t.table.len();
        if size == 0 {
            return Err("the device reports no indirection table".into());
        }
        let max = *t.table.iter().max().unwrap_or(&0);
        let mut candidates = vec![Indir::Default, Indir::Equal(max + 1)];
        if t.table.windows(2).all(|p| p[0] <= p[1]) {
            let mut w = vec![0u32; max as usize + 1];
            for &r in &t.table {
                w[r as usize] += 1;
            }
            candidates.push(Indir::Weight(w));
        }
        candidates.into_iter().find(|c| c.table(t.rings, size) == t.table).ok_or_else(|| {
            "the indirection table is neither the default spread, equal:N nor weights: \
             ethtool -X could not write it back, so it is not changed"
                .to_string()
        })
    }

    /// Checks it against a device's table: `equal:N` within the RX rings, weights for at most
    /// the RX rings and summing to at most the table size (ethtool's own limit).
    pub fn check_on(&self, t: &IndirTable) -> Result<(), String> {
        match self {
            Indir::Default => Ok(()),
            Indir::Equal(n) if *n > t.rings => Err(format!(
                "equal:{n} spreads over {n} rings; the device has {} RX rings",
                t.rings
            )),
            Indir::Equal(_) => Ok(()),
            Indir::Weight(w) => {
                let sum: u64 = w.iter().map(|&x| u64::from(x)).sum();
                if w.len() > t.rings as usize {
                    Err(format!("{} weights; the device has {} RX rings", w.len(), t.rings))
                } else if sum > t.table.len() as u64 {
                    Err(format!(
                        "weights sum to {sum}, more than the {} entries of the table",
                        t.table.len()
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Parses `ethtool -x DEV`: the ring count of the header line
/// (`RX flow hash indirection table for DEV with N RX ring(s):`) and the entries of the lines
/// after it (`    8:      0     1 ...`), up to the first line of another shape (`RSS hash key:`).
pub fn parse_indir(text: &str) -> Result<IndirTable, String> {
    let mut lines = text.lines();
    let rings = lines
        .by_ref()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("RX flow hash indirection table for ")?;
            let (_, n) = rest.rsplit_once(" with ")?;
            number(n.split_whitespace().next()?)
        })
        .ok_or("no indirection table header in the ethtool -x reply")?;
    if rings == 0 || rings > MAX_RINGS {
        return Err(format!("{rings} RX rings reported"));
    }
    let mut table = Vec::new();
    for line in lines {
        let Some((index, entries)) = line.trim().split_once(':') else { break };
        if number(index.trim()) != Some(table.len() as u32) {
            break;
        }
        for e in entries.split_whitespace() {
            match number(e) {
                Some(r) if r < rings => table.push(r),
                _ => return Err(format!("entry {e:?} is not one of the {rings} RX rings")),
            }
        }
        if table.len() > (MAX_RINGS * 16) as usize {
            return Err("the indirection table is larger than this tool reads".into());
        }
    }
    Ok(IndirTable { rings, table })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IXGBE_UDP4: &str = include_str!("../tests/fixtures/ethtool-n-udp4-ixgbe.txt");
    const MLX5_UDP6: &str = include_str!("../tests/fixtures/ethtool-n-udp6-mlx5.txt");
    const IXGBE_X: &str = include_str!("../tests/fixtures/ethtool-x-ixgbe.txt");

    #[test]
    fn hash_fields_parse_and_check() {
        assert_eq!(parse_hash_fields(IXGBE_UDP4).unwrap(), "sd");
        assert_eq!(parse_hash_fields(MLX5_UDP6).unwrap(), "sdfn");
        let discard = "UDP over IPV4 flows - All matching flows discarded on RX\n";
        assert_eq!(parse_hash_fields(discard).unwrap(), "r");
        let all = "UDP over IPV6 flows use these fields for computing Hash flow key:\nL2DA\n\
                   VLAN tag\nL3 proto\nIP SA\nIP DA\nL4 bytes 0 & 1 [TCP/UDP src port]\n\
                   L4 bytes 2 & 3 [TCP/UDP dst port]\n\n";
        assert_eq!(parse_hash_fields(all).unwrap(), "mvtsdfn");
        let none = "UDP over IPV4 flows use these fields for computing Hash flow key:\nNone\n";
        assert!(parse_hash_fields(none).unwrap_err().contains("None"));
        let label = MLX5_UDP6.replace("IP DA", "IPv6 Flow Label");
        assert!(parse_hash_fields(&label).unwrap_err().contains("IPv6 Flow Label"));
        assert!(parse_hash_fields("").is_err());
        for ok in ["sd", "sdfn", "r", "mvtsdfnr", "nfds"] {
            check_hash_fields(ok).unwrap();
        }
        for bad in ["", "sds", "x", "sdfn;", "SD", "sdfne", "l", "mvtsdfnrs"] {
            assert!(check_hash_fields(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn indirection_values_parse_and_print() {
        for v in ["default", "equal:1", "equal:4", "weight:1:0:3", "weight:64:64"] {
            assert_eq!(Indir::parse(v).unwrap().to_value(), v);
        }
        for bad in [
            "",
            "equal",
            "equal:0",
            "equal:+4",
            "equal:4097",
            "equal:4;reboot",
            "weight:",
            "weight:0:0",
            "weight:1::1",
            "weight:1,1",
            "Default",
            "start:1",
        ] {
            assert!(Indir::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Indir::Equal(2).args("eth2"), ["-X", "eth2", "equal", "2"]);
        assert_eq!(Indir::Default.args("eth2"), ["-X", "eth2", "default"]);
        assert_eq!(Indir::Weight(vec![3, 1]).args("eth2"), ["-X", "eth2", "weight", "3", "1"]);
        // ethtool's weight fill: blocks in proportion, 8 entries over weights 3:1 → 6 and 2.
        assert_eq!(Indir::Weight(vec![3, 1]).table(4, 8), [0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(Indir::Weight(vec![0, 1, 1]).table(4, 4), [1, 1, 2, 2]);
        assert_eq!(Indir::Equal(3).table(4, 7), [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_recorded_table_reads_as_what_writes_it_back() {
        let t = parse_indir(IXGBE_X).unwrap();
        assert_eq!((t.rings, t.table.len()), (4, 128));
        assert_eq!(&t.table[..6], [0, 1, 2, 3, 0, 1]);
        assert_eq!(Indir::of_table(&t).unwrap(), Indir::Default);
        let with = |table: Vec<u32>| IndirTable { rings: 4, table };
        let equal2 = with(Indir::Equal(2).table(4, 128));
        assert_eq!(Indir::of_table(&equal2).unwrap(), Indir::Equal(2));
        let blocks = with(Indir::Weight(vec![1, 1, 0, 2]).table(4, 128));
        assert_eq!(Indir::of_table(&blocks).unwrap(), Indir::Weight(vec![32, 32, 0, 64]));
        assert_eq!(Indir::Weight(vec![32, 32, 0, 64]).table(4, 128), blocks.table);
        let mut odd = t.table.clone();
        odd.swap(0, 1);
        assert!(Indir::of_table(&with(odd)).unwrap_err().contains("could not write it back"));
        assert!(Indir::of_table(&with(Vec::new())).is_err());
        // Checked on the device: N within the rings, weights within rings and table.
        Indir::Equal(4).check_on(&t).unwrap();
        assert!(Indir::Equal(5).check_on(&t).unwrap_err().contains("4 RX rings"));
        assert!(Indir::Weight(vec![1; 5]).check_on(&t).is_err());
        assert!(Indir::Weight(vec![100, 100]).check_on(&t).unwrap_err().contains("128"));
        // A table whose entries leave the rings, and replies without a table.
        assert!(parse_indir(&IXGBE_X.replace("  3\n", "  9\n")).is_err());
        assert!(parse_indir("RSS hash key:\n").is_err());
        let unsupported =
            "RX flow hash indirection table for eth2 with 4 RX ring(s):\nOperation not supported\n";
        assert!(parse_indir(unsupported).unwrap().table.is_empty());
    }
}
