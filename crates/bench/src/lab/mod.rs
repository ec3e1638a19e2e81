//! The real machine: topology (loopback or a veth pair between namespaces), noise, one
//! measurement cell, peer receivers, kernel settings and their journal, the environment, perf
//! profiling. Everything that touches the kernel, processes or the file system for a
//! measurement lives here.

pub mod allowed;
pub mod cell;
pub mod env;
pub mod journal;
pub mod nic;
pub mod noise;
pub mod peers;
pub mod procfs;
pub mod profile;
pub mod remote;
pub mod sys;
pub mod sysctl;
pub mod topology;
