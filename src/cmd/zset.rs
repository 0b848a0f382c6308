//! Sorted set commands (Redis's t_zset), including ranges by rank, score and lex, and the blocking BZPOP family.

use super::Row;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
];
