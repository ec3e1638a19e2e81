//! The procedure: the [`crate::Bench`] trait a machine implements, and the curve runner that
//! drives it (interleaving, repetitions, the budget, the searches). It knows no machine: the
//! real one is in [`crate::lab`], the tests drive a fake of known capacity.

pub mod curve;
