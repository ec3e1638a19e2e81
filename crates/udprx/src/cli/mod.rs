//! Subcommands of the `udprx` binary: argument structs and thin `run` functions over the
//! library.

pub mod merge;
