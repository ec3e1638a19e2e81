//! The `udprx` and `udpflood` command lines: argument parsing, printing and the two-host
//! control glue, over the `udprx`, `udprx-stats`, `udprx-bench`, `udpflood` and `udpctl`
//! libraries. The binaries in `src/bin/` only call [`rx::main`] and [`flood::main`].
#![deny(missing_docs)]
// Argument docs are clap help text, where `<PLACEHOLDER>` is plain text, not HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod args;
pub mod control;
pub mod flood;
pub mod rx;
