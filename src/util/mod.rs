//! Small helpers and value types shared across modules: glob matching,
//! number parsing and formatting with Redis's rules, argument splitting,
//! the sampling generator, the keyed hash for tables of client-chosen
//! bytes, and [`small::SmallBytes`], the byte string of keys and values
//! (shared by the keyspace and the reply encoder, so neither owns it).

pub mod clock;
pub mod glob;
pub mod hash;
pub mod longdouble;
pub mod num;
pub mod rng;
pub mod small;
pub mod split;
