//! The `udpflood` command line: a thin layer over the library.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("udpflood: not built yet")
}
