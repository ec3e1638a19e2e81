//! The `udprx` command line: a thin layer over the library.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("udprx: not built yet")
}
