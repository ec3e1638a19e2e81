//! The `udprx` command line: a thin layer over the library.
#[allow(dead_code)] // wired into main's subcommands by the lead
mod cli;

fn main() -> anyhow::Result<()> {
    anyhow::bail!("udprx: not built yet")
}
