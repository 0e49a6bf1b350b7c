//! `belt-bench`: measures belt-api against its ceilings in one run and reports the ratios.
#![forbid(unsafe_code)]

mod load;

fn main() {}
