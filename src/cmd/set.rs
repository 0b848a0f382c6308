//! Set commands (Redis's t_set), including the multi-key algebra.

use super::Row;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
];
