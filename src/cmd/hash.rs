//! Hash commands (Redis's t_hash).

use super::Row;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
];
