//! Small helpers and value types shared across modules: glob matching,
//! number parsing and formatting with Redis's rules, argument splitting,
//! and [`small::SmallBytes`], the byte string of keys and values (shared by
//! the keyspace and the reply encoder, so neither owns it).

pub mod clock;
pub mod glob;
pub mod longdouble;
pub mod num;
pub mod small;
pub mod split;
