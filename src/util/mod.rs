//! Small helpers shared across modules: glob matching, number parsing and
//! formatting with Redis's rules, and argument splitting.

pub mod clock;
pub mod glob;
pub mod longdouble;
pub mod num;
pub mod split;
