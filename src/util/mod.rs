//! Small helpers shared across modules: glob matching, number parsing and
//! formatting with Redis's rules, argument splitting, the sampling
//! generator and the keyed hash for tables of client-chosen bytes.

pub mod clock;
pub mod glob;
pub mod hash;
pub mod longdouble;
pub mod num;
pub mod rng;
pub mod split;
